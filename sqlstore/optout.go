package sqlstore

import (
	"context"
	"errors"

	"github.com/convohq/convo"
)

// Opt-outs: a row of peer_opt_outs per peer that asked an account to
// stop sending; opting in again deletes it.

var peerOptOuts = kind{what: "opt-out"}

func (t *tx) SetPeerOptOut(ctx context.Context, accountID, dialogID string, optedOut bool, at convo.Time) (bool, error) {
	accountID, ok := canonicalID(accountID)
	if !ok {
		return false, convo.Invalid(convo.ReasonInvalidID, "account id must be a UUID")
	}
	q := "DELETE FROM peer_opt_outs WHERE dialog_id = ? AND account_id = ?"
	args := []any{dialogID, accountID}
	if optedOut {
		q = "INSERT INTO peer_opt_outs (dialog_id, account_id, tm_create) VALUES (?, ?, ?) ON CONFLICT (dialog_id, account_id) DO NOTHING"
		args = append(args, at.Micros())
	}
	res, err := t.q.ExecContext(ctx, t.sql(q), args...)
	if err != nil {
		return false, interpretError(err, peerOptOuts)
	}
	n, err := res.RowsAffected()
	return n > 0, interpretError(err, peerOptOuts)
}

func (t *tx) PeersOptedOut(ctx context.Context, keys []convo.PeerKey) (map[convo.PeerKey]bool, error) {
	out := map[convo.PeerKey]bool{}
	want := map[convo.PeerKey]bool{}
	var dialogs []string
	seen := map[string]bool{}
	for _, k := range keys {
		id, ok := canonicalID(k.AccountID)
		if !ok {
			continue
		}
		want[convo.PeerKey{AccountID: id, DialogID: k.DialogID}] = true
		if !seen[k.DialogID] {
			seen[k.DialogID] = true
			dialogs = append(dialogs, k.DialogID)
		}
	}
	if len(dialogs) == 0 {
		return out, nil
	}
	run := func(q string, args []any) error {
		res, err := t.q.QueryContext(ctx, t.sql(q), args...)
		if err != nil {
			return interpretError(err, peerOptOuts)
		}
		for res.Next() {
			var k convo.PeerKey
			if err := res.Scan(&k.DialogID, &k.AccountID); err != nil {
				res.Close()
				return interpretError(err, peerOptOuts)
			}
			if want[k] {
				out[k] = true
			}
		}
		return interpretError(errors.Join(res.Err(), res.Close()), peerOptOuts)
	}
	const head = "SELECT dialog_id, account_id FROM peer_opt_outs WHERE dialog_id "
	if t.postgres {
		return out, run(head+"= ANY(?::text[])", []any{dialogs})
	}
	return out, inChunks(len(dialogs), func(start, n int) error {
		args := make([]any, n)
		for i, d := range dialogs[start : start+n] {
			args[i] = d
		}
		return run(head+"IN ("+placeholders(n)+")", args)
	})
}
