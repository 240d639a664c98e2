-- Labels of conversations and agents' read marks, as on PostgreSQL (see its migration).

-- +goose Up
CREATE TABLE labels (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_fold   TEXT NOT NULL,
    color       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    tm_create   INTEGER NOT NULL,
    tm_update   INTEGER NOT NULL,
    tm_delete   INTEGER NOT NULL
) STRICT;
CREATE INDEX labels_by_customer ON labels (customer_id, tm_create, id);
CREATE UNIQUE INDEX labels_live_name ON labels (customer_id, name_fold) WHERE tm_delete = 253370764800000000;

CREATE TABLE conversation_labels (
    conversation_id TEXT NOT NULL,
    label_id        TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX conversation_labels_by_label ON conversation_labels (label_id);

CREATE TABLE read_marks (
    agent_id        TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    tm_message      INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, conversation_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE events ADD COLUMN audience_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';

-- +goose Down
ALTER TABLE events DROP COLUMN audience_id;
DROP TABLE read_marks;
DROP TABLE conversation_labels;
DROP TABLE labels;
