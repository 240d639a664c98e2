-- An event is inserted without a position and gets one from the sequencer
-- moments later. The indexes that only list events by position hold those
-- that have one, which spares the insert, the hottest write of the outbox,
-- two index entries. The claim's indexes keep their shape: with the same
-- predicate on both, PostgreSQL may plan the claim as a sort of every
-- undelivered event.

-- +goose Up
DROP INDEX events_pos;
CREATE UNIQUE INDEX events_pos ON events (pos) WHERE pos IS NOT NULL;
DROP INDEX events_by_customer_pos;
CREATE INDEX events_by_customer_pos ON events (customer_id, pos) WHERE pos IS NOT NULL;

-- +goose Down
DROP INDEX events_by_customer_pos;
CREATE INDEX events_by_customer_pos ON events (customer_id, pos);
DROP INDEX events_pos;
CREATE UNIQUE INDEX events_pos ON events (pos);
