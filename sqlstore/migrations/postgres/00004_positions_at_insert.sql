-- Events get their positions as they are written, from the writing
-- transaction's id (see posShift in event.go), instead of from a sequencer
-- that rewrote each event after its commit. Events still waiting for the
-- sequencer are numbered here, after the others in creation order, and all
-- earlier positions must stay below every position given from now on.

-- +goose Up
UPDATE events SET pos = s.p
FROM (SELECT id, (SELECT COALESCE(MAX(pos), 0) FROM events) + ROW_NUMBER() OVER (ORDER BY id) AS p FROM events WHERE pos IS NULL) AS s
WHERE events.id = s.id;
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT COALESCE(MAX(pos), 0) FROM events) >= (pg_current_xact_id()::text::bigint << 20) THEN
        RAISE EXCEPTION 'events: % positions exceed the first transaction-based position', (SELECT MAX(pos) FROM events);
    END IF;
END
$$;
-- +goose StatementEnd
DROP INDEX events_unsequenced;
ALTER TABLE events ALTER COLUMN pos SET NOT NULL;

-- +goose Down
ALTER TABLE events ALTER COLUMN pos DROP NOT NULL;
CREATE INDEX events_unsequenced ON events (id) WHERE pos IS NULL;
