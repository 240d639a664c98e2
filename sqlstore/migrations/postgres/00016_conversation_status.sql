-- Conversation status (open, pending, snoozed, resolved; snoozed_until is
-- Never unless snoozed), the last message (tm_last_message, and
-- last_message as JSON text, '' while there is none) and tm_activity, the
-- key of lists ordered by last message: the last message's time, or
-- tm_create while there is none. superseded marks a resolved conversation
-- an inbound message replaced with a new one (account setting
-- resolved_inbound = new): it stays listed but is no longer its dialog's
-- live conversation, which the unique index now says. Accounts gain
-- resolved_inbound and auto_resolve_after (seconds, 0 off); customers
-- agents_take_unassigned.
--
-- Built CONCURRENTLY, as in 00010, so that writes go on: the new unique
-- index is built under another name before the old one goes, so one
-- always holds, then takes the old name. The file may run again after an
-- interruption. The indexes of the lists by last message cover every row
-- (live rows are checked on the rows walked; see 00010 for why no index
-- of the live rows alone).

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS snoozed_until BIGINT NOT NULL DEFAULT 253370764800000000;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS tm_last_message BIGINT NOT NULL DEFAULT 253370764800000000;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS last_message TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS tm_activity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS superseded SMALLINT NOT NULL DEFAULT 0;
UPDATE conversations SET tm_activity = tm_create WHERE tm_activity = 0;
DROP INDEX CONCURRENTLY IF EXISTS conversations_live_dialog_next;
CREATE UNIQUE INDEX CONCURRENTLY conversations_live_dialog_next ON conversations (account_id, dialog_id) WHERE tm_delete = 253370764800000000 AND superseded = 0;
DROP INDEX CONCURRENTLY IF EXISTS conversations_live_dialog;
ALTER INDEX conversations_live_dialog_next RENAME TO conversations_live_dialog;
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_customer;
CREATE INDEX CONCURRENTLY conversations_activity_by_customer ON conversations (customer_id, tm_activity, id);
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_owner;
CREATE INDEX CONCURRENTLY conversations_activity_by_owner ON conversations (customer_id, owner_id, tm_activity, id);
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_status;
CREATE INDEX CONCURRENTLY conversations_activity_by_status ON conversations (customer_id, status, tm_activity, id);
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_owner_status;
CREATE INDEX CONCURRENTLY conversations_activity_by_owner_status ON conversations (customer_id, owner_id, status, tm_activity, id);
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS resolved_inbound TEXT NOT NULL DEFAULT 'reopen';
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS auto_resolve_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS agents_take_unassigned BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_customer;
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_owner;
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_status;
DROP INDEX CONCURRENTLY IF EXISTS conversations_activity_by_owner_status;
DROP INDEX CONCURRENTLY IF EXISTS conversations_live_dialog;
CREATE UNIQUE INDEX CONCURRENTLY conversations_live_dialog ON conversations (account_id, dialog_id) WHERE tm_delete = 253370764800000000;
ALTER TABLE conversations DROP COLUMN status, DROP COLUMN snoozed_until, DROP COLUMN tm_last_message, DROP COLUMN last_message, DROP COLUMN tm_activity, DROP COLUMN superseded;
ALTER TABLE accounts DROP COLUMN resolved_inbound, DROP COLUMN auto_resolve_after;
ALTER TABLE customers DROP COLUMN agents_take_unassigned;
