-- Who did what: written in the transaction of each audited change, pruned
-- after the retention period. Failed logins are counted per username and
-- per client address to throttle password guessing; a raised token
-- version ends an agent's earlier login tokens.

-- +goose Up
ALTER TABLE agents ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE audit_logs (
    id            UUID PRIMARY KEY,
    customer_id   UUID NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    changes       TEXT NOT NULL,
    address       TEXT NOT NULL,
    tm_create     BIGINT NOT NULL
);
-- One index per filter, each in the list's order, so that a page reads
-- only its rows whatever the planner's statistics say.
CREATE INDEX audit_logs_by_customer ON audit_logs (customer_id, tm_create, id);
CREATE INDEX audit_logs_by_actor ON audit_logs (customer_id, actor_id, tm_create, id);
CREATE INDEX audit_logs_by_resource ON audit_logs (customer_id, resource_id, tm_create, id);
CREATE INDEX audit_logs_by_resource_type ON audit_logs (customer_id, resource_type, tm_create, id);
CREATE INDEX audit_logs_by_action ON audit_logs (customer_id, action, tm_create, id);
CREATE INDEX audit_logs_by_time ON audit_logs (tm_create);

CREATE TABLE login_throttles (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    last_failure  BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

-- +goose Down
DROP TABLE login_throttles;
DROP TABLE audit_logs;
ALTER TABLE agents DROP COLUMN token_version;
