-- Labels of conversations and agents' read marks.
--
-- A label's name is unique, ignoring case, among the customer's live
-- labels (name_fold is the name lower-cased by convo). A conversation holds
-- labels by id in conversation_labels, so a rename shows everywhere; a
-- label's delete removes its rows there (conversation_labels_by_label).
--
-- read_marks holds, per agent and conversation, the last message read and
-- its tm_create: unread messages are the incoming ones after it, counted
-- on messages_by_conversation (conversation_id, tm_create, id).
--
-- events.audience_id names the one agent whose streams get an event (its
-- conversation_read); such events are never sent to a webhook.

-- +goose Up
CREATE TABLE labels (
    id          UUID PRIMARY KEY,
    customer_id UUID NOT NULL,
    name        TEXT NOT NULL,
    name_fold   TEXT NOT NULL,
    color       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    tm_create   BIGINT NOT NULL,
    tm_update   BIGINT NOT NULL,
    tm_delete   BIGINT NOT NULL
);
CREATE INDEX labels_by_customer ON labels (customer_id, tm_create, id);
CREATE UNIQUE INDEX labels_live_name ON labels (customer_id, name_fold) WHERE tm_delete = 253370764800000000;

CREATE TABLE conversation_labels (
    conversation_id UUID NOT NULL,
    label_id        UUID NOT NULL,
    PRIMARY KEY (conversation_id, label_id)
);
CREATE INDEX conversation_labels_by_label ON conversation_labels (label_id);

CREATE TABLE read_marks (
    agent_id        UUID NOT NULL,
    conversation_id UUID NOT NULL,
    message_id      UUID NOT NULL,
    tm_message      BIGINT NOT NULL,
    tm_update       BIGINT NOT NULL,
    PRIMARY KEY (agent_id, conversation_id)
);

ALTER TABLE events ADD COLUMN audience_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';

-- +goose Down
ALTER TABLE events DROP COLUMN audience_id;
DROP TABLE read_marks;
DROP TABLE conversation_labels;
DROP TABLE labels;
