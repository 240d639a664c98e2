package service

import "context"

// Ready reports whether the store can serve: the database answers and has
// every migration applied.
func (s *Service) Ready(ctx context.Context) error {
	return s.store.Ready(ctx)
}
