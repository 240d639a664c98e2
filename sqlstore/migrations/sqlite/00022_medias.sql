-- Media convo holds, and their bytes in pieces, as on PostgreSQL (see its
-- migration).

-- +goose Up
CREATE TABLE medias (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    type            TEXT NOT NULL,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    backend         TEXT NOT NULL,
    tm_create       INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL
) STRICT;
CREATE INDEX medias_by_age ON medias (tm_create, id);
CREATE TABLE media_chunks (
    media_id TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (media_id, seq)
) STRICT;

-- +goose Down
DROP TABLE media_chunks;
DROP TABLE medias;
