-- VoIPbin's activeflow fields: the run that finished before this one
-- (reference_activeflow_id), the flow to start when this one ends
-- (on_complete_flow_id), a webhook of the run's own, and the action a jump
-- goes to next. chain_length counts the runs of an on-complete chain, so
-- that a flow naming itself stops.

-- +goose Up
ALTER TABLE activeflows ADD COLUMN reference_activeflow_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE activeflows ADD COLUMN on_complete_flow_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE activeflows ADD COLUMN webhook_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE activeflows ADD COLUMN webhook_method TEXT NOT NULL DEFAULT '';
ALTER TABLE activeflows ADD COLUMN forward_action_id TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE activeflows ADD COLUMN chain_length INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE activeflows DROP COLUMN chain_length;
ALTER TABLE activeflows DROP COLUMN forward_action_id;
ALTER TABLE activeflows DROP COLUMN webhook_method;
ALTER TABLE activeflows DROP COLUMN webhook_uri;
ALTER TABLE activeflows DROP COLUMN on_complete_flow_id;
ALTER TABLE activeflows DROP COLUMN reference_activeflow_id;
