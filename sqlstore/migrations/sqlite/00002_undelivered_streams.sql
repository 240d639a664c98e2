-- The claim of deliveries asks, for each candidate, whether an earlier event
-- of its stream is still undelivered. Indexing only undelivered events
-- keeps that probe to a few entries however long a conversation grows.

-- +goose Up
DROP INDEX events_stream;
CREATE INDEX events_stream_undelivered ON events (stream_id, pos) WHERE status IN ('pending', 'failed');

-- +goose Down
DROP INDEX events_stream_undelivered;
CREATE INDEX events_stream ON events (stream_id, pos);
