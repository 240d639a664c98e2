package service

import "context"

// While the database does not answer (a restart, a lost network), requests
// fail with EUnavailable and the client retries; background work (jobs,
// deliveries, streams) waits and retries by itself, so that everything
// resumes once the database answers again, without a restart.

// Ready reports whether the store can serve: the database answers and has
// every migration applied.
func (s *Service) Ready(ctx context.Context) error {
	return s.store.Ready(ctx)
}
