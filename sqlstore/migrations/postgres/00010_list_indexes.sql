-- Indexes of the deleted conversations and accounts, for their lists
-- (deleted=true), which walked every live row of the customer to find the
-- deleted ones. Each list walks one index chosen for its filter in the
-- list's order (see listIndex in list.go). Live lists keep the indexes of
-- every row: an index of the live rows alone is a candidate for every
-- query of live rows, among them the lookup of an inbound message's live
-- conversation by account and dialog, and on a young table it costs that
-- lookup as much as the unique live index does: the plan PostgreSQL then
-- keeps walks the whole index for each message (see 00003).
--
-- A plain CREATE INDEX stops every write to the table (replicas still
-- running the previous release keep taking messages) until it ends, seconds
-- a million conversations. CONCURRENTLY lets writes go on but cannot run in
-- a transaction, so each statement commits on its own and the file may run
-- again after an interruption; an interrupted concurrent build leaves an
-- invalid index, hence the DROP before each. Accounts are a few a customer.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS conversations_deleted_by_customer;
CREATE INDEX CONCURRENTLY conversations_deleted_by_customer ON conversations (customer_id, tm_create, id) WHERE tm_delete <> 253370764800000000;
DROP INDEX CONCURRENTLY IF EXISTS conversations_deleted_by_owner;
CREATE INDEX CONCURRENTLY conversations_deleted_by_owner ON conversations (customer_id, owner_id, tm_create, id) WHERE tm_delete <> 253370764800000000;
DROP INDEX CONCURRENTLY IF EXISTS conversations_deleted_by_account;
CREATE INDEX CONCURRENTLY conversations_deleted_by_account ON conversations (customer_id, account_id, tm_create, id) WHERE tm_delete <> 253370764800000000;
CREATE INDEX IF NOT EXISTS accounts_deleted_by_customer ON accounts (customer_id, tm_create, id) WHERE tm_delete <> 253370764800000000;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS conversations_deleted_by_customer;
DROP INDEX CONCURRENTLY IF EXISTS conversations_deleted_by_owner;
DROP INDEX CONCURRENTLY IF EXISTS conversations_deleted_by_account;
DROP INDEX IF EXISTS accounts_deleted_by_customer;
