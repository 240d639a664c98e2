-- Tags of a customer's agents (PUT /agents/{id}/tag_ids names them). A
-- name is unique among the customer's live tags; a deleted tag frees it.

-- +goose Up
CREATE TABLE tags (
    id          UUID PRIMARY KEY,
    customer_id UUID NOT NULL,
    name        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    tm_create   BIGINT NOT NULL,
    tm_update   BIGINT NOT NULL,
    tm_delete   BIGINT NOT NULL
);
CREATE INDEX tags_by_customer ON tags (customer_id, tm_create, id);
CREATE UNIQUE INDEX tags_live_name ON tags (customer_id, name) WHERE tm_delete = 253370764800000000;

-- +goose Down
DROP TABLE tags;
