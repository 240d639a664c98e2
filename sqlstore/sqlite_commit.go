package sqlstore

import (
	"context"
	"fmt"

	"github.com/convohq/convo"
)

// Group commit on SQLite. Each commit costs an fsync and SQLite has one
// writer, so concurrent Updates are run one after another in a shared
// transaction, each inside a savepoint of its own, and committed together:
// one flush for many use cases, while each still succeeds or fails on its
// own and returns only once durably committed.
//
// PostgreSQL needs none of it: it runs transactions side by side and
// flushes the WAL of concurrent commits together by itself, so each Update
// there is a transaction of its own on the pool, with no savepoints and no
// wait for a shared committer.

// maxGroup bounds how many Updates share one commit.
const maxGroup = 128

// startCommitters starts the committer of a SQLite store's Updates.
func (db *DB) startCommitters() {
	if db.dialect == DialectPostgres {
		return
	}
	db.updates = make(chan *update, maxGroup)
	db.committers.Add(1)
	go func() {
		defer db.committers.Done()
		db.commitLoop()
	}()
}

// commitLoop takes whatever Updates are waiting, up to maxGroup, and runs
// them as one group; under load groups grow by themselves while a commit
// is flushing, and a lone Update waits for nobody.
func (db *DB) commitLoop() {
	for first := range db.updates {
		group := []*update{first}
	fill:
		for len(group) < maxGroup {
			select {
			case u, ok := <-db.updates:
				if !ok {
					break fill
				}
				group = append(group, u)
			default:
				break fill
			}
		}
		db.runGroup(group)
	}
}

// runGroup runs a group in one transaction. An Update that failed on a
// database error inside a group (a deadlock with another group, say) is
// run again on its own, since its fn rereads all it needs.
func (db *DB) runGroup(group []*update) {
	if len(group) == 1 {
		group[0].done <- db.runAlone(group[0])
		return
	}
	results, err := db.runShared(group)
	for i, u := range group {
		switch {
		case err != nil && isUnavailable(err):
			// Alone, each would wait out the same lock or outage again.
			u.done <- err
		case err != nil:
			u.done <- db.runAlone(u)
		case results[i] != nil && convo.ErrorStatus(results[i]) == convo.EInternal && !isPanic(results[i]):
			u.done <- db.runAlone(u)
		default:
			u.done <- results[i]
		}
	}
}

// runAlone runs one Update in a transaction of its own.
func (db *DB) runAlone(u *update) error {
	if err := u.ctx.Err(); err != nil {
		return err
	}
	sqlTx, err := db.writer.BeginTx(context.WithoutCancel(u.ctx), nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer sqlTx.Rollback()
	if err := call(u.fn, db.tx(detached{sqlQuerier{sqlTx}})); err != nil {
		return err
	}
	if err := indexPending(context.Background(), sqlQuerier{sqlTx}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// runShared runs each Update of a group in a savepoint of one transaction
// and commits; it returns each fn's error, or an error that sinks the group.
func (db *DB) runShared(group []*update) ([]error, error) {
	sqlTx, err := db.writer.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer sqlTx.Rollback()
	results := make([]error, len(group))
	t := db.tx(detached{sqlQuerier{sqlTx}})
	for i, u := range group {
		if err := u.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := sqlTx.Exec("SAVEPOINT u"); err != nil {
			return nil, fmt.Errorf("sqlstore: savepoint: %w", err)
		}
		if results[i] = call(u.fn, t); results[i] != nil {
			if _, err := sqlTx.Exec("ROLLBACK TO SAVEPOINT u"); err != nil {
				return nil, fmt.Errorf("sqlstore: rollback to savepoint: %w", err)
			}
		}
		if _, err := sqlTx.Exec("RELEASE SAVEPOINT u"); err != nil {
			return nil, fmt.Errorf("sqlstore: release savepoint: %w", err)
		}
	}
	if err := indexPending(context.Background(), sqlQuerier{sqlTx}); err != nil {
		return nil, err
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlstore: commit: %w", err)
	}
	return results, nil
}
