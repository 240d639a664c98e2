-- WhatsApp's rules, as on PostgreSQL (see its migration).

-- +goose Up
ALTER TABLE conversations ADD COLUMN whatsapp_window_expires INTEGER NOT NULL DEFAULT 253370764800000000;
ALTER TABLE messages ADD COLUMN data TEXT NOT NULL DEFAULT '';
CREATE TABLE message_parts (
    message_id  TEXT NOT NULL,
    part        INTEGER NOT NULL,
    provider_id TEXT NOT NULL,
    tm_create   INTEGER NOT NULL,
    PRIMARY KEY (message_id, part)
) STRICT;

-- +goose Down
DROP TABLE message_parts;
ALTER TABLE messages DROP COLUMN data;
ALTER TABLE conversations DROP COLUMN whatsapp_window_expires;
