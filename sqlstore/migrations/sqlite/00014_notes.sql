-- Agents' private notes on a conversation, as on PostgreSQL (see its migration).

-- +goose Up
CREATE TABLE notes (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    author_type     TEXT NOT NULL,
    author_id       TEXT NOT NULL,
    text            TEXT NOT NULL,
    tm_create       INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL,
    tm_delete       INTEGER NOT NULL
) STRICT;
CREATE INDEX notes_by_conversation ON notes (conversation_id, tm_create, id);

-- +goose Down
DROP TABLE notes;
