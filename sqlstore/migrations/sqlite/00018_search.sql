-- Search: FTS5 indexes with the trigram tokenizer, so that any substring of
-- three characters or more matches, in any script, ignoring case. Both are
-- contentless (the text stays in its table alone) and keyed by the rowid of
-- their table's row. Searches walk them by rowid, newest first (see
-- search.go).
--
-- Triggers do not write the indexes: they note the rows to index in
-- search_pending, and the store indexes those at the end of the writing
-- transaction, before it commits (sqlite_search.go). FTS5 writes what it
-- holds as a new segment at every SAVEPOINT, and a group commit runs each
-- Update in a savepoint of its own: written by the triggers, a group of
-- eight Updates left eight tiny segments to merge instead of one.
-- search_pending is empty outside a writing transaction; indexed is 1 for
-- a row the index held before the transaction (to be removed first).

-- +goose Up
CREATE TABLE search_pending (
    tbl INTEGER NOT NULL, -- 0 messages, 1 conversations
    row INTEGER NOT NULL,
    indexed INTEGER NOT NULL,
    PRIMARY KEY (tbl, row)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE messages_search USING fts5(text, content='', contentless_delete=1, tokenize='trigram');

-- +goose StatementBegin
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, row, indexed) VALUES (0, new.rowid, 0);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_search_update AFTER UPDATE OF text ON messages WHEN new.text IS NOT old.text BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, row, indexed) VALUES (0, new.rowid, 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, row, indexed) VALUES (0, old.rowid, 1);
END;
-- +goose StatementEnd
INSERT INTO messages_search (rowid, text) SELECT rowid, text FROM messages;

-- A conversation is found by its name, its peer's names and target, and its dialog id.
CREATE VIRTUAL TABLE conversations_search USING fts5(name, peer_target_name, peer_name, peer_target, dialog_id,
    content='', contentless_delete=1, tokenize='trigram');

-- +goose StatementBegin
CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, row, indexed) VALUES (1, new.rowid, 0);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER conversations_search_update AFTER UPDATE OF name, peer, dialog_id ON conversations
WHEN new.name IS NOT old.name OR new.peer IS NOT old.peer OR new.dialog_id IS NOT old.dialog_id BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, row, indexed) VALUES (1, new.rowid, 1);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, row, indexed) VALUES (1, old.rowid, 1);
END;
-- +goose StatementEnd
INSERT INTO conversations_search (rowid, name, peer_target_name, peer_name, peer_target, dialog_id)
SELECT rowid, name, json_extract(peer, '$.target_name'), json_extract(peer, '$.name'), json_extract(peer, '$.target'), dialog_id
FROM conversations;

-- +goose Down
DROP TRIGGER conversations_search_delete;
DROP TRIGGER conversations_search_update;
DROP TRIGGER conversations_search_insert;
DROP TABLE conversations_search;
DROP TRIGGER messages_search_delete;
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_insert;
DROP TABLE messages_search;
DROP TABLE search_pending;
