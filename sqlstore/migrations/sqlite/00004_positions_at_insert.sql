-- Events get their positions as they are written (see nextEventPos in
-- event.go), instead of from a sequencer that rewrote each event after its
-- commit. Events still waiting for the sequencer are numbered here, after
-- the others in creation order.

-- +goose Up
UPDATE events SET pos = s.p
FROM (SELECT id, (SELECT COALESCE(MAX(pos), 0) FROM events) + ROW_NUMBER() OVER (ORDER BY id) AS p FROM events WHERE pos IS NULL) AS s
WHERE events.id = s.id;
DROP INDEX events_unsequenced;

-- +goose Down
CREATE INDEX events_unsequenced ON events (id) WHERE pos IS NULL;
