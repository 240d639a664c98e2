-- Who sent an outgoing message, as on PostgreSQL (see its migration).

-- +goose Up
ALTER TABLE messages ADD COLUMN sender_type TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN sender_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN sender_id;
ALTER TABLE messages DROP COLUMN sender_type;
