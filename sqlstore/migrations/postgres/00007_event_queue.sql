-- Deliveries wait in a queue of their own: a narrow row per undelivered
-- event, deleted once the event is settled for good. The claim walked the
-- undelivered entries of the outbox's indexes in position order, and every
-- delivered event left a dead entry there until the next VACUUM of the
-- whole outbox (every 20% of it by default, never with autovacuum off):
-- claims slowed by a millisecond every ~5,000 deliveries. A small table is
-- cheap to vacuum often (see Tidy), and the outbox's rows change once, when
-- their delivery ends, in place (no index covers what changes). A vacuum
-- does not give the queue's empty end pages back: that takes a lock that
-- stops every claim and every insert while it is held.

-- +goose Up
CREATE TABLE event_queue (
    pos             BIGINT PRIMARY KEY,
    stream_id       UUID NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, vacuum_truncate = false);
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
