-- A message's delivery state as its provider reports it: provider_status
-- (accepted, sent, delivered, read, failed; '' before the provider has said
-- anything, on incoming messages and on messages stored before), the times
-- it was delivered and read (9999-01-01 until then) and send_error, the
-- JSON {code, message} of a failure ('' for none). Constant defaults add
-- the columns without rewriting the table; older messages keep only their
-- VoIPbin status.

-- +goose Up
ALTER TABLE messages ADD COLUMN provider_status TEXT NOT NULL DEFAULT '',
                     ADD COLUMN tm_delivered BIGINT NOT NULL DEFAULT 253370764800000000,
                     ADD COLUMN tm_read BIGINT NOT NULL DEFAULT 253370764800000000,
                     ADD COLUMN send_error TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN send_error, DROP COLUMN tm_read, DROP COLUMN tm_delivered, DROP COLUMN provider_status;
