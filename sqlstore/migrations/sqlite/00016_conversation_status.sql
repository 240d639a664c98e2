-- Conversation status, last message and the settings that drive them, as
-- on PostgreSQL (see its migration).

-- +goose Up
ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER NOT NULL DEFAULT 253370764800000000;
ALTER TABLE conversations ADD COLUMN tm_last_message INTEGER NOT NULL DEFAULT 253370764800000000;
ALTER TABLE conversations ADD COLUMN last_message TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN tm_activity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET tm_activity = tm_create;
DROP INDEX conversations_live_dialog;
CREATE UNIQUE INDEX conversations_live_dialog ON conversations (account_id, dialog_id) WHERE tm_delete = 253370764800000000 AND superseded = 0;
CREATE INDEX conversations_activity_by_customer ON conversations (customer_id, tm_activity, id);
CREATE INDEX conversations_activity_by_owner ON conversations (customer_id, owner_id, tm_activity, id);
CREATE INDEX conversations_activity_by_status ON conversations (customer_id, status, tm_activity, id);
CREATE INDEX conversations_activity_by_owner_status ON conversations (customer_id, owner_id, status, tm_activity, id);
ALTER TABLE accounts ADD COLUMN resolved_inbound TEXT NOT NULL DEFAULT 'reopen';
ALTER TABLE accounts ADD COLUMN auto_resolve_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN agents_take_unassigned INTEGER NOT NULL DEFAULT 1;

-- +goose Down
DROP INDEX conversations_activity_by_customer;
DROP INDEX conversations_activity_by_owner;
DROP INDEX conversations_activity_by_status;
DROP INDEX conversations_activity_by_owner_status;
DROP INDEX conversations_live_dialog;
CREATE UNIQUE INDEX conversations_live_dialog ON conversations (account_id, dialog_id) WHERE tm_delete = 253370764800000000;
ALTER TABLE conversations DROP COLUMN status;
ALTER TABLE conversations DROP COLUMN snoozed_until;
ALTER TABLE conversations DROP COLUMN tm_last_message;
ALTER TABLE conversations DROP COLUMN last_message;
ALTER TABLE conversations DROP COLUMN tm_activity;
ALTER TABLE conversations DROP COLUMN superseded;
ALTER TABLE accounts DROP COLUMN resolved_inbound;
ALTER TABLE accounts DROP COLUMN auto_resolve_after;
ALTER TABLE customers DROP COLUMN agents_take_unassigned;
