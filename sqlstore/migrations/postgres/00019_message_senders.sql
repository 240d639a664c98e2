-- Who sent an outgoing message: sender_type agent, flow, accesskey or
-- system, and sender_id the agent's, activeflow's or access key's id (the
-- nil UUID for system). Both are '' for an incoming message and for the
-- messages stored before, whose sender nobody recorded. A constant default
-- adds the columns without rewriting the table.

-- +goose Up
ALTER TABLE messages ADD COLUMN sender_type TEXT NOT NULL DEFAULT '',
                     ADD COLUMN sender_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN sender_id, DROP COLUMN sender_type;
