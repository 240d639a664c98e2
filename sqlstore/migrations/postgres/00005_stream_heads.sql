-- The delivery claim finds the first undelivered event of a candidate's
-- stream. Written with the same predicate as events_undelivered, that probe
-- could be planned on either index; PostgreSQL, with statistics taken
-- while both were empty, picked events_undelivered and walked every
-- undelivered event before the candidate. Stated as "not finished", the
-- probe matches only this index (the set is the same: pending or failed).

-- +goose Up
DROP INDEX events_stream_undelivered;
CREATE INDEX events_stream_undelivered ON events (stream_id, pos) WHERE status NOT IN ('delivered', 'dead', 'skipped');

-- +goose Down
DROP INDEX events_stream_undelivered;
CREATE INDEX events_stream_undelivered ON events (stream_id, pos) WHERE status IN ('pending', 'failed');
