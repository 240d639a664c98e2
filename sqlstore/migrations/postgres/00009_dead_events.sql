-- The positions of the events given up on (dead), so that listing them
-- looks them up instead of walking all of a customer's events, as the
-- delivery queue does for those still waiting. Dead events are few and
-- stay until retried; nothing on the path of a delivery writes here
-- except one that dies or is brought back.

-- +goose Up
CREATE TABLE dead_events (
    pos BIGINT PRIMARY KEY
);
INSERT INTO dead_events (pos) SELECT pos FROM events WHERE status = 'dead';

-- +goose Down
DROP TABLE dead_events;
