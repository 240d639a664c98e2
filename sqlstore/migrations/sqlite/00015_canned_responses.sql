-- Canned responses of a customer's agents, as on PostgreSQL (see its migration).

-- +goose Up
CREATE TABLE canned_responses (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    short_code      TEXT NOT NULL,
    text            TEXT NOT NULL,
    short_code_fold TEXT NOT NULL,
    text_fold       TEXT NOT NULL,
    tm_create       INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL,
    tm_delete       INTEGER NOT NULL
) STRICT;
CREATE INDEX canned_responses_by_customer ON canned_responses (customer_id, tm_create, id);
CREATE UNIQUE INDEX canned_responses_live_short_code ON canned_responses (customer_id, short_code_fold) WHERE tm_delete = 253370764800000000;

-- +goose Down
DROP TABLE canned_responses;
