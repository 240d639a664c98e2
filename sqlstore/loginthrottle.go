package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var loginThrottles = kind{what: "login throttle", notFound: convo.ReasonLoginThrottleNotFound, conflict: convo.ReasonLoginThrottleExists, conflictDetail: "the throttle exists"}

const throttleColumns = "key, failures, last_failure, blocked_until"

func scanThrottle(scan func(...any) error) (*convo.LoginThrottle, error) {
	l := &convo.LoginThrottle{}
	var blocked int64
	if err := scan(&l.Key, &l.Failures, micros{&l.LastFailure}, &blocked); err != nil {
		return nil, interpretError(err, loginThrottles)
	}
	if blocked > 0 {
		l.BlockedUntil = convo.TimeFromMicros(blocked)
	}
	return l, nil
}

func (t *tx) GetLoginThrottles(ctx context.Context, keys []string) ([]*convo.LoginThrottle, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := t.q.QueryContext(ctx, t.sql("SELECT "+throttleColumns+" FROM login_throttles WHERE key IN ("+placeholders(len(keys))+")"), args...)
	if err != nil {
		return nil, interpretError(err, loginThrottles)
	}
	defer rows.Close()
	var out []*convo.LoginThrottle
	for rows.Next() {
		l, err := scanThrottle(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, interpretError(rows.Err(), loginThrottles)
}

func (t *tx) CountLoginFailure(ctx context.Context, key string, at, since convo.Time) (*convo.LoginThrottle, error) {
	// One statement, so that concurrent failures of one key each count.
	row := t.q.QueryRowContext(ctx, t.sql("INSERT INTO login_throttles ("+throttleColumns+") VALUES (?, 1, ?, 0) "+
		"ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN login_throttles.last_failure < ? AND login_throttles.blocked_until < ? "+
		"THEN 1 ELSE login_throttles.failures + 1 END, last_failure = excluded.last_failure RETURNING "+throttleColumns),
		key, at.Micros(), since.Micros(), since.Micros())
	return scanThrottle(row.Scan)
}

func (t *tx) BlockLogins(ctx context.Context, key string, until convo.Time) error {
	return t.execLater(ctx, loginThrottles, "UPDATE login_throttles SET blocked_until = ? WHERE key = ?", until.Micros(), key)
}

func (t *tx) ClearLoginThrottle(ctx context.Context, key string) error {
	return t.execLater(ctx, loginThrottles, "DELETE FROM login_throttles WHERE key = ?", key)
}

func (t *tx) PruneLoginThrottles(ctx context.Context, before convo.Time) (int, error) {
	res, err := t.q.ExecContext(ctx, t.sql("DELETE FROM login_throttles WHERE last_failure < ? AND blocked_until < ?"), before.Micros(), before.Micros())
	if err != nil {
		return 0, interpretError(err, loginThrottles)
	}
	n, err := res.RowsAffected()
	return int(n), interpretError(err, loginThrottles)
}
