-- Every conversation list filters on the customer, and the live lookup by
-- (account_id, dialog_id) must only ever match the unique live index: an
-- index led by account_id alone ties with it while a new table is small,
-- and PostgreSQL keeps that plan (a scan of the account's conversations)
-- until the table is next analyzed.

-- +goose Up
DROP INDEX conversations_by_account;
CREATE INDEX conversations_by_customer_account ON conversations (customer_id, account_id, tm_create, id);

-- +goose Down
DROP INDEX conversations_by_customer_account;
CREATE INDEX conversations_by_account ON conversations (account_id, tm_create, id);
