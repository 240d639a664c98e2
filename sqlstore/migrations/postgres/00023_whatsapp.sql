-- WhatsApp's rules. whatsapp_window_expires is when the customer service
-- window closes (last inbound message + 24 h; Never until one arrives, and
-- on other types of conversation). data is a message's structured content
-- (an inbound reply's ids, a template), '' for none. message_parts holds
-- each part of a split send the provider accepted, so that a retry sends
-- only the others. Constant defaults add the columns without a rewrite.

-- +goose Up
ALTER TABLE conversations ADD COLUMN whatsapp_window_expires BIGINT NOT NULL DEFAULT 253370764800000000;
ALTER TABLE messages ADD COLUMN data TEXT NOT NULL DEFAULT '';
CREATE TABLE message_parts (
    message_id  UUID NOT NULL,
    part        INTEGER NOT NULL,
    provider_id TEXT NOT NULL,
    tm_create   BIGINT NOT NULL,
    PRIMARY KEY (message_id, part)
);

-- +goose Down
DROP TABLE message_parts;
ALTER TABLE messages DROP COLUMN data;
ALTER TABLE conversations DROP COLUMN whatsapp_window_expires;
