-- Media convo holds: inbound attachments once downloaded and uploads for
-- sending. conversation_id and message_id are the nil UUID for an upload.
-- backend says where the bytes are: 'db' (media_chunks) or 's3'.
-- media_chunks holds the bytes of 'db' media in pieces, so that serving
-- one streams it piece by piece instead of reading it whole.

-- +goose Up
CREATE TABLE medias (
    id              UUID PRIMARY KEY,
    customer_id     UUID NOT NULL,
    conversation_id UUID NOT NULL,
    message_id      TEXT NOT NULL,
    type            TEXT NOT NULL,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    backend         TEXT NOT NULL,
    tm_create       BIGINT NOT NULL,
    tm_update       BIGINT NOT NULL
);
CREATE INDEX medias_by_age ON medias (tm_create, id);
CREATE TABLE media_chunks (
    media_id UUID NOT NULL,
    seq      INTEGER NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (media_id, seq)
);
-- Media are compressed already (images, audio, video): storing the bytes
-- as they are saves the database a compression attempt per chunk.
ALTER TABLE media_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE media_chunks;
DROP TABLE medias;
