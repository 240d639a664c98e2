-- Agents' private notes on a conversation, listed newest first per
-- conversation. author_id is an agent's or an access key's id.

-- +goose Up
CREATE TABLE notes (
    id              UUID PRIMARY KEY,
    customer_id     UUID NOT NULL,
    conversation_id UUID NOT NULL,
    author_type     TEXT NOT NULL,
    author_id       TEXT NOT NULL,
    text            TEXT NOT NULL,
    tm_create       BIGINT NOT NULL,
    tm_update       BIGINT NOT NULL,
    tm_delete       BIGINT NOT NULL
);
CREATE INDEX notes_by_conversation ON notes (conversation_id, tm_create, id);

-- +goose Down
DROP TABLE notes;
