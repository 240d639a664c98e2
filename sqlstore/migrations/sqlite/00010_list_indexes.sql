-- Indexes of the deleted conversations and accounts, for their lists, as
-- on PostgreSQL (see its migration and listIndex in list.go).

-- +goose Up
CREATE INDEX conversations_deleted_by_customer ON conversations (customer_id, tm_create, id) WHERE tm_delete <> 253370764800000000;
CREATE INDEX conversations_deleted_by_owner ON conversations (customer_id, owner_id, tm_create, id) WHERE tm_delete <> 253370764800000000;
CREATE INDEX conversations_deleted_by_account ON conversations (customer_id, account_id, tm_create, id) WHERE tm_delete <> 253370764800000000;
CREATE INDEX accounts_deleted_by_customer ON accounts (customer_id, tm_create, id) WHERE tm_delete <> 253370764800000000;

-- +goose Down
DROP INDEX conversations_deleted_by_customer;
DROP INDEX conversations_deleted_by_owner;
DROP INDEX conversations_deleted_by_account;
DROP INDEX accounts_deleted_by_customer;
