-- A message's delivery state as its provider reports it, as on PostgreSQL
-- (see its migration).

-- +goose Up
ALTER TABLE messages ADD COLUMN provider_status TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN tm_delivered INTEGER NOT NULL DEFAULT 253370764800000000;
ALTER TABLE messages ADD COLUMN tm_read INTEGER NOT NULL DEFAULT 253370764800000000;
ALTER TABLE messages ADD COLUMN send_error TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN send_error;
ALTER TABLE messages DROP COLUMN tm_read;
ALTER TABLE messages DROP COLUMN tm_delivered;
ALTER TABLE messages DROP COLUMN provider_status;
