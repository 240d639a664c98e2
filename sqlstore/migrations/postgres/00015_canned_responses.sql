-- Canned responses of a customer's agents. A short code is unique, ignoring case, among
-- the customer's live canned responses; a deleted one frees it. The *_fold
-- columns hold the short code and text lower-cased by convo (Unicode-aware
-- on both engines, unlike SQLite's lower()), which the list's q compares.

-- +goose Up
CREATE TABLE canned_responses (
    id              UUID PRIMARY KEY,
    customer_id     UUID NOT NULL,
    short_code      TEXT NOT NULL,
    text            TEXT NOT NULL,
    short_code_fold TEXT NOT NULL,
    text_fold       TEXT NOT NULL,
    tm_create       BIGINT NOT NULL,
    tm_update       BIGINT NOT NULL,
    tm_delete       BIGINT NOT NULL
);
CREATE INDEX canned_responses_by_customer ON canned_responses (customer_id, tm_create, id);
CREATE UNIQUE INDEX canned_responses_live_short_code ON canned_responses (customer_id, short_code_fold) WHERE tm_delete = 253370764800000000;

-- +goose Down
DROP TABLE canned_responses;
