-- An event is inserted without a position and gets one from the sequencer
-- moments later. Indexing by position only the events that have one keeps
-- the insert, the hottest write of the outbox, to three index entries.

-- +goose Up
DROP INDEX events_pos;
CREATE UNIQUE INDEX events_pos ON events (pos) WHERE pos IS NOT NULL;
DROP INDEX events_undelivered;
CREATE INDEX events_undelivered ON events (pos) WHERE status IN ('pending', 'failed') AND pos IS NOT NULL;
DROP INDEX events_stream_undelivered;
CREATE INDEX events_stream_undelivered ON events (stream_id, pos) WHERE status IN ('pending', 'failed') AND pos IS NOT NULL;
DROP INDEX events_by_customer_pos;
CREATE INDEX events_by_customer_pos ON events (customer_id, pos) WHERE pos IS NOT NULL;

-- +goose Down
DROP INDEX events_by_customer_pos;
CREATE INDEX events_by_customer_pos ON events (customer_id, pos);
DROP INDEX events_stream_undelivered;
CREATE INDEX events_stream_undelivered ON events (stream_id, pos) WHERE status IN ('pending', 'failed');
DROP INDEX events_undelivered;
CREATE INDEX events_undelivered ON events (pos) WHERE status IN ('pending', 'failed');
DROP INDEX events_pos;
CREATE UNIQUE INDEX events_pos ON events (pos);
