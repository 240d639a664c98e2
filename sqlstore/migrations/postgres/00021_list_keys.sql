-- The order keys of the inbox lists where their walks can use them.
--
-- conversations.tm_last_incoming and last_incoming_id place the newest
-- incoming message (0 and the nil UUID while there is none), kept by the
-- touch of each message like tm_last_message: a conversation is unread
-- for an agent only if that position is after the agent's read mark, one
-- comparison instead of a walk of its messages from the mark.
--
-- conversation_labels rows carry their conversation's customer_id,
-- tm_activity (kept by the same touch) and tm_create, so that a list of a
-- label walks the label's own rows in the list's order
-- (conversation_labels_by_activity, _by_time) and stops at the page's end,
-- instead of walking the customer's conversations and checking each.
-- These indexes also serve the delete of a label's rows, which
-- conversation_labels_by_label served.
--
-- Built CONCURRENTLY, as in 00016, so that writes go on; the backfills
-- only move a position forward, and the file may run again after an
-- interruption.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS tm_last_incoming BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS last_incoming_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
UPDATE conversations c SET tm_last_incoming = m.tm_create, last_incoming_id = m.id
FROM (SELECT DISTINCT ON (conversation_id) conversation_id, tm_create, id FROM messages
      WHERE direction = 'incoming' ORDER BY conversation_id, tm_create DESC, id DESC) m
WHERE c.id = m.conversation_id AND (c.tm_last_incoming, c.last_incoming_id) < (m.tm_create, m.id);

ALTER TABLE conversation_labels ADD COLUMN IF NOT EXISTS customer_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE conversation_labels ADD COLUMN IF NOT EXISTS tm_activity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_labels ADD COLUMN IF NOT EXISTS tm_create BIGINT NOT NULL DEFAULT 0;
UPDATE conversation_labels cl SET customer_id = c.customer_id, tm_activity = c.tm_activity, tm_create = c.tm_create
FROM conversations c
WHERE c.id = cl.conversation_id AND (cl.customer_id, cl.tm_activity, cl.tm_create) IS DISTINCT FROM (c.customer_id, c.tm_activity, c.tm_create);
DROP INDEX CONCURRENTLY IF EXISTS conversation_labels_by_activity;
CREATE INDEX CONCURRENTLY conversation_labels_by_activity ON conversation_labels (customer_id, label_id, tm_activity, conversation_id);
DROP INDEX CONCURRENTLY IF EXISTS conversation_labels_by_time;
CREATE INDEX CONCURRENTLY conversation_labels_by_time ON conversation_labels (customer_id, label_id, tm_create, conversation_id);
DROP INDEX CONCURRENTLY IF EXISTS conversation_labels_by_label;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS conversation_labels_by_label ON conversation_labels (label_id);
DROP INDEX CONCURRENTLY IF EXISTS conversation_labels_by_time;
DROP INDEX CONCURRENTLY IF EXISTS conversation_labels_by_activity;
ALTER TABLE conversation_labels DROP COLUMN IF EXISTS tm_create, DROP COLUMN IF EXISTS tm_activity, DROP COLUMN IF EXISTS customer_id;
ALTER TABLE conversations DROP COLUMN IF EXISTS last_incoming_id, DROP COLUMN IF EXISTS tm_last_incoming;
