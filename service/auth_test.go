package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/sqlstore"
	"golang.org/x/crypto/bcrypt"
)

// A refused login costs no password hash: the throttle answers before bcrypt.
func TestThrottledLoginsSkipThePasswordHash(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := context.Background()
		store, err := sqlstore.Open(ctx, b.DSN, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		clock := convo.FixedClock{At: time.Now()}
		s := New(store, clock, Config{PasswordCost: bcrypt.MinCost})
		if err := s.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Bootstrap(ctx, BootstrapInput{CustomerName: "c", Username: "ann", Password: "password-ann"}); err != nil {
			t.Fatal(err)
		}
		hashes := 0
		s.checkPassword = func(hash, password []byte) error {
			hashes++
			return bcrypt.CompareHashAndPassword(hash, password)
		}
		for i := range 5 {
			if _, err := s.Login(ctx, "ann", "wrong", "192.0.2.1"); convo.ErrorReason(err) != "INVALID_CREDENTIALS" {
				t.Fatalf("failure %d: %v, want INVALID_CREDENTIALS", i+1, err)
			}
		}
		if hashes != 5 {
			t.Fatalf("%d password checks for five attempts, want 5", hashes)
		}
		for _, pw := range []string{"wrong", "password-ann", "another"} {
			_, err := s.Login(ctx, "ann", pw, "192.0.2.1")
			var e *convo.Error
			if convo.ErrorStatus(err) != convo.EExhausted || !asError(err, &e) || e.RetryAfter <= 0 {
				t.Fatalf("attempt while blocked: %v, want RESOURCE_EXHAUSTED with a wait", err)
			}
		}
		if hashes != 5 {
			t.Errorf("%d password checks after three refused attempts, want still 5", hashes)
		}
	})
}

func asError(err error, target **convo.Error) bool { return errors.As(err, target) }
