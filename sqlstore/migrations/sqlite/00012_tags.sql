-- Tags of a customer's agents, as on PostgreSQL (see its migration).

-- +goose Up
CREATE TABLE tags (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    tm_create   INTEGER NOT NULL,
    tm_update   INTEGER NOT NULL,
    tm_delete   INTEGER NOT NULL
) STRICT;
CREATE INDEX tags_by_customer ON tags (customer_id, tm_create, id);
CREATE UNIQUE INDEX tags_live_name ON tags (customer_id, name) WHERE tm_delete = 253370764800000000;

-- +goose Down
DROP TABLE tags;
