// Package service holds convo's business rules: permissions, tenancy,
// validation and derived fields, over the convo.Store interface. Handlers and
// stores stay free of rules; each use case runs in one transaction.
package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/batch"
	"github.com/convohq/convo/internal/jobrunner"
	"github.com/convohq/convo/internal/outage"
	"github.com/convohq/convo/internal/outbox"
	"github.com/convohq/convo/internal/rowcache"
	"github.com/convohq/convo/mediastore"
	"golang.org/x/crypto/bcrypt"
)

// Config holds the settings the service needs.
type Config struct {
	// PublicURL is the externally visible base URL, used to show hook URLs.
	PublicURL string
	// PasswordCost is the bcrypt cost of stored passwords.
	PasswordCost int
	// TokenTTL is how long a login token stays valid.
	TokenTTL time.Duration
	// Channels talk to the providers, by account type.
	Channels map[string]convo.Channel
	// Templates list message templates, by account type (WhatsApp).
	Templates map[string]convo.TemplateLister
	// SendWait bounds how long sending waits for the provider before
	// answering with the message still progressing.
	SendWait time.Duration
	// RetryDelays are the waits before each retry of a job that failed
	// temporarily; when they run out the job gives up.
	RetryDelays []time.Duration
	// Logger receives operational messages; it never sees secrets.
	Logger *slog.Logger
	// WebhookRetryBase is the first retry delay of a failed webhook; each
	// further retry doubles it up to WebhookRetryCap.
	WebhookRetryBase, WebhookRetryCap time.Duration
	// WebhookMaxAge is how long an event is retried before it is dead.
	WebhookMaxAge time.Duration
	// WebhookAllowPrivate lets webhooks target loopback and private networks.
	WebhookAllowPrivate bool
	// EventRetention is how long delivered events are kept (for listing and replay).
	EventRetention time.Duration
	// MaxStreamsPerCustomer bounds the realtime streams a customer may
	// have open in this process.
	MaxStreamsPerCustomer int
	// AuditRetention is how long audit entries are kept.
	AuditRetention time.Duration
	// EventPoll is the backstop poll of the dispatcher; commits wake it at once.
	EventPoll time.Duration
	// QueueTidyAfter is how many deliveries leave the delivery queue
	// between two tidies of it (see convo.Store.Tidy).
	QueueTidyAfter int
	// WebhookAttempted, when set, is told of each webhook delivery attempt
	// by the state it left the event in: delivered, failed or dead.
	WebhookAttempted func(status string)
	// TimeFormat is how timestamps are written in webhook bodies (stored
	// event payloads keep the seed format); empty is the seed format.
	TimeFormat convo.TimeFormat
	// MediaBlobs keeps the bytes of media (nil: the database).
	MediaBlobs convo.MediaBlobs
	// MediaMaxBytes bounds one medium (zero: convo.DefaultMediaMaxBytes).
	MediaMaxBytes int64
	// MediaRetention is how long media are kept (zero: forever).
	MediaRetention time.Duration
	// MediaURLTTL is how long a signed media URL works (zero: DefaultMediaURLTTL).
	MediaURLTTL time.Duration
	// MediaKey signs media URLs; empty: a key kept in the database.
	MediaKey []byte
}

// DefaultMaxStreamsPerCustomer is the realtime streams a customer may have
// open in one process unless configured otherwise.
const DefaultMaxStreamsPerCustomer = 500

// Service implements convo's use cases.
type Service struct {
	store  convo.Store
	clock  convo.Clock
	config Config
	logger *slog.Logger
	jobs   *jobrunner.Runner
	// mediaJobs runs the downloads of inbound media (claimed with the jobs).
	mediaJobs *jobrunner.Runner
	// outbox delivers the events use cases write to customers' webhooks.
	outbox *outbox.Dispatcher
	// templates caches the WhatsApp template lists (template.go).
	templates templateCache
	// settled is notified whenever events are settled further: realtime
	// streams wait on it.
	settled *broadcast
	// outage logs an unavailable database once for all background work.
	outage *outage.Watch
	// inbound gathers the hooks of concurrent requests into batches.
	inbound *batch.Batcher[*inbound]
	// mediaRecords gathers the outcomes of concurrent downloads.
	mediaRecords *batch.Batcher[*mediaRecord]
	// accounts caches the accounts behind hook URLs.
	accounts rowcache.Cache[*convo.Account]
	jwtKey   []byte
	// mediaKey signs media URLs (a secret: never logged nor shown).
	mediaKey []byte
	// dummyHash keeps a failed login for an unknown username as slow as a wrong password.
	dummyHash []byte
	streams   streams
	// checkPassword compares a password with its bcrypt hash (tests count the calls).
	checkPassword func(hash, password []byte) error
}

// New returns a Service over store. Call Init before use.
func New(store convo.Store, clock convo.Clock, config Config) *Service {
	if config.PasswordCost == 0 {
		config.PasswordCost = bcrypt.DefaultCost
	}
	if config.TokenTTL == 0 {
		config.TokenTTL = 7 * 24 * time.Hour
	}
	if config.SendWait == 0 {
		config.SendWait = 3 * time.Second
	}
	if config.RetryDelays == nil {
		config.RetryDelays = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}
	}
	config.AuditRetention = cmp.Or(config.AuditRetention, 90*24*time.Hour)
	config.MaxStreamsPerCustomer = cmp.Or(config.MaxStreamsPerCustomer, DefaultMaxStreamsPerCustomer)
	if config.Logger == nil {
		config.Logger = slog.New(slog.DiscardHandler)
	}
	config.PublicURL = strings.TrimRight(config.PublicURL, "/")
	config.TimeFormat = cmp.Or(config.TimeFormat, convo.TimeSeed)
	config.MediaMaxBytes = cmp.Or(config.MediaMaxBytes, convo.DefaultMediaMaxBytes)
	config.MediaURLTTL = cmp.Or(config.MediaURLTTL, DefaultMediaURLTTL)
	if config.MediaBlobs == nil {
		config.MediaBlobs = mediastore.DB{Store: store}
	}
	s := &Service{store: store, clock: clock, config: config, logger: config.Logger,
		jobs: jobrunner.New(16), mediaJobs: jobrunner.New(mediaSlots), outage: outage.NewWatch(config.Logger), settled: newBroadcast(), checkPassword: bcrypt.CompareHashAndPassword}
	// Webhook settings take their defaults in the outbox.
	s.outbox = outbox.New(store, clock, outbox.Config{
		RetryBase: config.WebhookRetryBase, RetryCap: config.WebhookRetryCap, MaxAge: config.WebhookMaxAge,
		AllowPrivate: config.WebhookAllowPrivate, Retention: config.EventRetention, Poll: config.EventPoll,
		TidyAfter: config.QueueTidyAfter, Attempted: config.WebhookAttempted, TimeFormat: config.TimeFormat,
		Settled: s.settled.notify, Prune: s.pruneAudit, Logger: config.Logger, Outage: s.outage,
	})
	s.inbound = batch.New(maxInboundBatch, inboundWriters, s.storeInbound)
	s.inbound.FailsAll = outage.Unavailable
	s.mediaRecords = batch.New(mediaRecordBatch, 1, s.storeMediaRecords)
	s.mediaRecords.FailsAll = outage.Unavailable
	return s
}

// settingJWTKey names the shared signing key of login tokens, kept in the
// database so that every replica accepts every other replica's tokens.
const settingJWTKey = "jwt_signing_key"

// Init loads (or on first start creates) the token signing key.
func (s *Service) Init(ctx context.Context) error {
	var key string
	err := s.store.Update(ctx, func(tx convo.Tx) error {
		var err error
		key, err = tx.InitSetting(ctx, settingJWTKey, randomHex(32))
		return err
	})
	if err != nil {
		return err
	}
	if s.jwtKey, err = hex.DecodeString(key); err != nil {
		return err
	}
	if err := s.ensureAutoResolve(ctx); err != nil {
		return err
	}
	if err := s.initMedia(ctx); err != nil {
		return err
	}
	s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(randomHex(16)), s.config.PasswordCost)
	return err
}

// now is the current time at the store's precision.
func (s *Service) now() convo.Time { return convo.NewTime(s.clock.Now()) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("convo: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// requireManager refuses callers that are not admin or manager of their customer.
func requireManager(c *convo.Caller) error {
	if !c.IsManager() {
		return convo.Forbidden("this needs a customer admin or manager")
	}
	return nil
}

// requireAdmin refuses callers that are not admin of their customer.
func requireAdmin(c *convo.Caller) error {
	if !c.IsAdmin() {
		return convo.Forbidden("this needs a customer admin")
	}
	return nil
}

// parseID validates a client-supplied id; the nil UUID is not an id.
func parseID(id, what string) (string, error) {
	v, err := convo.ParseID(id)
	if err != nil || v == convo.NilID {
		return "", convo.Invalid(convo.ReasonInvalidID, "%s must be a UUID", what)
	}
	return v, nil
}

// listPage runs a list use case: refused when allowed is an error, else one
// read of the page (one row more than asked, to find the next token).
func listPage[T any](ctx context.Context, s *Service, pr convo.PageRequest, allowed error, read func(tx convo.Tx, page convo.Page) ([]T, error), at func(T) convo.Cursor) (convo.List[T], error) {
	var rows []T
	err := allowed
	var page convo.Page
	if err == nil {
		page, err = pr.Page()
	}
	if err == nil {
		err = s.store.View(ctx, func(tx convo.Tx) (err error) {
			rows, err = read(tx, page)
			return err
		})
	}
	return convo.NewList(pr, rows, at), err
}

// cursorOf positions rows for paging.
func cursorOf(t convo.Time, id string) convo.Cursor { return convo.Cursor{Time: t, ID: id} }

// trimmed returns *p trimmed, or def when p is nil.
func trimmed(p *string, def string) string {
	if p == nil {
		return def
	}
	return strings.TrimSpace(*p)
}

// checkText refuses overlong free text.
func checkText(field, v string) error { return convo.CheckLen(field, v, convo.MaxText) }

// checkLengths refuses the first of fields (name, value, maximum) that is too long.
func checkLengths(fields ...lengthCheck) error {
	for _, f := range fields {
		if err := convo.CheckLen(f.field, f.value, f.max); err != nil {
			return err
		}
	}
	return nil
}

// lengthCheck is a field, its value and its maximum length.
type lengthCheck struct {
	field, value string
	max          int
}
