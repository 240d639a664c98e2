-- The positions of the events given up on, as on PostgreSQL (see its
-- migration).

-- +goose Up
CREATE TABLE dead_events (
    pos INTEGER PRIMARY KEY
) STRICT;
INSERT INTO dead_events (pos) SELECT pos FROM events WHERE status = 'dead';

-- +goose Down
DROP TABLE dead_events;
