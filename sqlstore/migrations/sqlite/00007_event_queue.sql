-- Deliveries wait in a queue of their own, as on PostgreSQL (see its
-- migration): a narrow row per undelivered event, deleted once the event is
-- settled for good, so that claims read and lease small rows.

-- +goose Up
CREATE TABLE event_queue (
    pos             INTEGER PRIMARY KEY,
    stream_id       TEXT NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL
) STRICT;
CREATE INDEX event_queue_stream ON event_queue (stream_id, pos);
INSERT INTO event_queue (pos, stream_id, next_attempt_at, locked_until)
SELECT pos, stream_id, next_attempt_at, locked_until FROM events WHERE status IN ('pending', 'failed');
DROP INDEX events_undelivered;
DROP INDEX events_stream_undelivered;

-- +goose Down
CREATE INDEX events_undelivered ON events (pos) WHERE status IN ('pending', 'failed');
CREATE INDEX events_stream_undelivered ON events (stream_id, pos) WHERE status NOT IN ('delivered', 'dead', 'skipped');
UPDATE events SET locked_until = q.locked_until, next_attempt_at = q.next_attempt_at FROM event_queue q WHERE q.pos = events.pos;
DROP TABLE event_queue;
