package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var settings = kind{what: "setting", notFound: convo.ReasonSettingNotFound, conflict: convo.ReasonSettingExists, conflictDetail: "the setting exists"}

func (t *tx) GetSetting(ctx context.Context, key string) (string, error) {
	var value string
	err := t.q.QueryRowContext(ctx, t.sql("SELECT value FROM settings WHERE key = ?"), key).Scan(&value)
	return value, interpretError(err, settings)
}

func (t *tx) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := t.q.ExecContext(ctx, t.sql("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"), key, value); err != nil {
		return "", interpretError(err, settings)
	}
	return t.GetSetting(ctx, key)
}
