-- Timestamps are microseconds since the Unix epoch; 253370764800000000
-- (9999-01-01) means "never" and marks live rows in tm_delete.

-- +goose Up
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE customers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    detail         TEXT NOT NULL,
    email          TEXT NOT NULL,
    phone_number   TEXT NOT NULL,
    address        TEXT NOT NULL,
    webhook_method TEXT NOT NULL,
    webhook_uri    TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    tm_create      INTEGER NOT NULL,
    tm_update      INTEGER NOT NULL,
    tm_delete      INTEGER NOT NULL
) STRICT;
CREATE INDEX customers_by_time ON customers (tm_create, id);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    username      TEXT NOT NULL,
    name          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    ring_method   TEXT NOT NULL,
    status        TEXT NOT NULL,
    permission    INTEGER NOT NULL,
    tag_ids       TEXT NOT NULL,
    addresses     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    tm_create     INTEGER NOT NULL,
    tm_update     INTEGER NOT NULL,
    tm_delete     INTEGER NOT NULL
) STRICT;
CREATE INDEX agents_by_customer ON agents (customer_id, tm_create, id);
CREATE UNIQUE INDEX agents_live_username ON agents (username) WHERE tm_delete = 253370764800000000;

CREATE TABLE access_keys (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    tm_expire    INTEGER NOT NULL,
    tm_create    INTEGER NOT NULL,
    tm_update    INTEGER NOT NULL,
    tm_delete    INTEGER NOT NULL
) STRICT;
CREATE INDEX access_keys_by_customer ON access_keys (customer_id, tm_create, id);
CREATE INDEX access_keys_by_hash ON access_keys (token_hash);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    type            TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    token           TEXT NOT NULL,
    provider_data   TEXT NOT NULL,
    app_secret      TEXT NOT NULL,
    message_flow_id TEXT NOT NULL,
    tm_create       INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL,
    tm_delete       INTEGER NOT NULL
) STRICT;
CREATE INDEX accounts_by_customer ON accounts (customer_id, tm_create, id);

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    owner_type  TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    type        TEXT NOT NULL,
    dialog_id   TEXT NOT NULL,
    self        TEXT NOT NULL,
    peer        TEXT NOT NULL,
    tm_create   INTEGER NOT NULL,
    tm_update   INTEGER NOT NULL,
    tm_delete   INTEGER NOT NULL
) STRICT;
CREATE INDEX conversations_by_customer ON conversations (customer_id, tm_create, id);
CREATE INDEX conversations_by_owner ON conversations (customer_id, owner_id, tm_create, id);
CREATE INDEX conversations_by_account ON conversations (account_id, tm_create, id);
CREATE INDEX conversations_by_dialog ON conversations (customer_id, dialog_id, tm_create, id);
CREATE UNIQUE INDEX conversations_live_dialog ON conversations (account_id, dialog_id) WHERE tm_delete = 253370764800000000;

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    reference_type  TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    source          TEXT NOT NULL,
    destination     TEXT NOT NULL,
    text            TEXT NOT NULL,
    medias          TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    tm_create       INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL,
    tm_delete       INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_by_conversation ON messages (conversation_id, tm_create, id);
CREATE UNIQUE INDEX messages_provider_id ON messages (account_id, provider_id) WHERE provider_id <> '';

-- Work to do after the commit that created it (sends, lookups); a crash
-- after the commit leaves the row for the next process to finish.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    ref_id       TEXT NOT NULL,
    run_at       INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT NOT NULL,
    tm_create    INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_due ON jobs (run_at);

-- The transactional outbox: each change writes its events in its own
-- transaction. pos is the delivery order, assigned after commit by the
-- sequencer; events of one stream are delivered in pos order.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    type            TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    payload         TEXT NOT NULL,
    target_uri      TEXT NOT NULL,
    target_method   TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    pos             INTEGER,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL,
    last_error      TEXT NOT NULL,
    tm_create       INTEGER NOT NULL,
    tm_delivered    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_pos ON events (pos);
CREATE INDEX events_unsequenced ON events (id) WHERE pos IS NULL;
CREATE INDEX events_undelivered ON events (pos) WHERE status IN ('pending', 'failed');
CREATE INDEX events_stream ON events (stream_id, pos);
CREATE INDEX events_by_customer ON events (customer_id, tm_create, id);
CREATE INDEX events_by_customer_pos ON events (customer_id, pos);

CREATE TABLE event_attempts (
    event_id    TEXT NOT NULL,
    tm_attempt  INTEGER NOT NULL,
    http_status INTEGER NOT NULL,
    error       TEXT NOT NULL,
    latency_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX event_attempts_by_event ON event_attempts (event_id, tm_attempt);

CREATE TABLE flows (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    type                TEXT NOT NULL,
    name                TEXT NOT NULL,
    detail              TEXT NOT NULL,
    actions             TEXT NOT NULL,
    on_complete_flow_id TEXT NOT NULL,
    tm_create           INTEGER NOT NULL,
    tm_update           INTEGER NOT NULL,
    tm_delete           INTEGER NOT NULL
) STRICT;
CREATE INDEX flows_by_customer ON flows (customer_id, tm_create, id);

-- An activeflow carries its whole run state, so a restart resumes it.
CREATE TABLE activeflows (
    id               TEXT PRIMARY KEY,
    customer_id      TEXT NOT NULL,
    flow_id          TEXT NOT NULL,
    status           TEXT NOT NULL,
    reference_type   TEXT NOT NULL,
    reference_id     TEXT NOT NULL,
    current_action   TEXT NOT NULL,
    executed_actions TEXT NOT NULL,
    execute_count    INTEGER NOT NULL,
    actions          TEXT NOT NULL,
    variables        TEXT NOT NULL,
    loop_counts      TEXT NOT NULL,
    tm_create        INTEGER NOT NULL,
    tm_update        INTEGER NOT NULL,
    tm_delete        INTEGER NOT NULL
) STRICT;
CREATE INDEX activeflows_by_customer ON activeflows (customer_id, tm_create, id);
CREATE INDEX activeflows_by_flow ON activeflows (flow_id, tm_create, id);
CREATE INDEX activeflows_by_reference ON activeflows (reference_id, tm_create, id);
CREATE INDEX accounts_by_flow ON accounts (message_flow_id);

-- +goose Down
DROP TABLE activeflows;
DROP TABLE flows;
DROP TABLE event_attempts;
DROP TABLE events;
DROP TABLE jobs;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE accounts;
DROP TABLE access_keys;
DROP TABLE agents;
DROP TABLE customers;
DROP TABLE settings;
