-- Search: FTS5 indexes with the trigram tokenizer, so that any substring of
-- three characters or more matches, in any script, ignoring case. Both are
-- contentless (the text stays in its table alone) and keyed by the rowid of
-- their table's row; triggers keep them in the writing transaction, for
-- the rows of a multi-row INSERT too. Searches walk them by rowid,
-- newest first (see search.go).

-- +goose Up
CREATE VIRTUAL TABLE messages_search USING fts5(text, content='', contentless_delete=1, tokenize='trigram');

-- +goose StatementBegin
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, text) VALUES (new.rowid, new.text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_search_update AFTER UPDATE OF text ON messages WHEN new.text IS NOT old.text BEGIN
    DELETE FROM messages_search WHERE rowid = old.rowid;
    INSERT INTO messages_search (rowid, text) VALUES (new.rowid, new.text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_search WHERE rowid = old.rowid;
END;
-- +goose StatementEnd
INSERT INTO messages_search (rowid, text) SELECT rowid, text FROM messages;

-- A conversation is found by its name, its peer's names and target, and its dialog id.
CREATE VIRTUAL TABLE conversations_search USING fts5(name, peer_target_name, peer_name, peer_target, dialog_id,
    content='', contentless_delete=1, tokenize='trigram');

-- +goose StatementBegin
CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_search (rowid, name, peer_target_name, peer_name, peer_target, dialog_id)
    VALUES (new.rowid, new.name, json_extract(new.peer, '$.target_name'), json_extract(new.peer, '$.name'),
        json_extract(new.peer, '$.target'), new.dialog_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER conversations_search_update AFTER UPDATE OF name, peer, dialog_id ON conversations
WHEN new.name IS NOT old.name OR new.peer IS NOT old.peer OR new.dialog_id IS NOT old.dialog_id BEGIN
    DELETE FROM conversations_search WHERE rowid = old.rowid;
    INSERT INTO conversations_search (rowid, name, peer_target_name, peer_name, peer_target, dialog_id)
    VALUES (new.rowid, new.name, json_extract(new.peer, '$.target_name'), json_extract(new.peer, '$.name'),
        json_extract(new.peer, '$.target'), new.dialog_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM conversations_search WHERE rowid = old.rowid;
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
