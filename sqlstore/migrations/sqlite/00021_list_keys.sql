-- The order keys of the inbox lists where their walks can use them, as on
-- PostgreSQL (see its migration).

-- +goose Up
ALTER TABLE conversations ADD COLUMN tm_last_incoming INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN last_incoming_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
UPDATE conversations SET (tm_last_incoming, last_incoming_id) = (
    SELECT m.tm_create, m.id FROM messages m INDEXED BY messages_by_conversation
    WHERE m.conversation_id = conversations.id AND m.direction = 'incoming' ORDER BY m.tm_create DESC, m.id DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND m.direction = 'incoming');

ALTER TABLE conversation_labels ADD COLUMN customer_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE conversation_labels ADD COLUMN tm_activity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversation_labels ADD COLUMN tm_create INTEGER NOT NULL DEFAULT 0;
UPDATE conversation_labels SET (customer_id, tm_activity, tm_create) = (
    SELECT c.customer_id, c.tm_activity, c.tm_create FROM conversations c WHERE c.id = conversation_labels.conversation_id)
WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_labels.conversation_id);
DROP INDEX conversation_labels_by_label;
CREATE INDEX conversation_labels_by_activity ON conversation_labels (customer_id, label_id, tm_activity, conversation_id);
CREATE INDEX conversation_labels_by_time ON conversation_labels (customer_id, label_id, tm_create, conversation_id);

-- +goose Down
DROP INDEX conversation_labels_by_time;
DROP INDEX conversation_labels_by_activity;
CREATE INDEX conversation_labels_by_label ON conversation_labels (label_id);
ALTER TABLE conversation_labels DROP COLUMN tm_create;
ALTER TABLE conversation_labels DROP COLUMN tm_activity;
ALTER TABLE conversation_labels DROP COLUMN customer_id;
ALTER TABLE conversations DROP COLUMN last_incoming_id;
ALTER TABLE conversations DROP COLUMN tm_last_incoming;
