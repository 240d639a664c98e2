package main

import (
	"cmp"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/line"
	"github.com/convohq/convo/twilio"
	"github.com/convohq/convo/whatsapp"
)

// Config is the whole configuration of a convo process.
type Config struct {
	// Listen is the address the HTTP server binds.
	Listen string
	// Database is sqlite:PATH or a postgres:// URL.
	Database string
	// PublicURL is how providers and users reach this server.
	PublicURL string
	// SQLiteSynchronous is FULL (default, survives power loss) or NORMAL.
	SQLiteSynchronous string
	// PasswordCost is the bcrypt cost (0: the library default).
	PasswordCost int
	// LineAPIURL, WhatsAppAPIURL and TwilioAPIURL are the provider hosts.
	LineAPIURL, WhatsAppAPIURL, TwilioAPIURL string
	// LineVideoPreviewURL is the image LINE shows before a video plays
	// (empty: the inbox's own, under PublicURL).
	LineVideoPreviewURL string
	// WhatsAppAPIVersion is the Graph API version ("v26.0"; "" the default).
	WhatsAppAPIVersion string
	// SendWait and RetryDelays tune sending (zero: the service defaults).
	SendWait    time.Duration
	RetryDelays []time.Duration
	// WebhookAllowPrivate lets customer webhooks target private networks.
	WebhookAllowPrivate bool
	// EventRetention keeps delivered events this long (zero: 7 days).
	EventRetention time.Duration
	// AuditRetention keeps audit entries this long (zero: 90 days).
	AuditRetention time.Duration
	// TrustedProxies are believed about the client address they forward
	// for (X-Forwarded-For): addresses and CIDR prefixes, comma-separated.
	TrustedProxies string
	// WebhookRetryBase and EventPoll tune delivery (zero: the service defaults).
	WebhookRetryBase, EventPoll time.Duration
	// DebugListen, when set, is where Go's profiler (/debug/pprof/) is
	// served, apart from the API (CONVO_DEBUG_LISTEN).
	DebugListen string
	// ReadTimeout bounds the reading of a whole request, body included;
	// IdleTimeout closes kept-alive connections left idle; MaxConnections
	// bounds the connections open at once (zero: the defaults).
	ReadTimeout, IdleTimeout time.Duration
	MaxConnections           int
	// MaxStreamsPerCustomer bounds a customer's open realtime streams in
	// this process (zero: the service's default).
	MaxStreamsPerCustomer int
	// MetricsListen, when set, is where the operations routes (/metrics and
	// the health routes) are served instead of on Listen (--metrics-listen).
	MetricsListen string
	// TimeFormat is how timestamps are written: "seed" (the default) or
	// "rfc3339" (--time-format).
	TimeFormat string
	// LineDataAPIURL is the host of LINE's message content (api-data.line.me).
	LineDataAPIURL string
	// Media configures where media are kept and for how long.
	Media MediaConfig
}

// channels builds the provider clients of cfg.
func (cfg Config) channels() map[string]convo.Channel {
	client := &http.Client{Timeout: 30 * time.Second}
	lineURL, lineData := cmp.Or(cfg.LineAPIURL, line.DefaultBaseURL), cfg.LineDataAPIURL
	if lineURL == line.DefaultBaseURL && lineData == "" {
		lineData = line.DefaultDataURL
	}
	return map[string]convo.Channel{
		convo.AccountLine: &line.Client{BaseURL: lineURL, DataURL: lineData, HTTP: client,
			VideoPreviewURL: cmp.Or(cfg.LineVideoPreviewURL, strings.TrimRight(cfg.PublicURL, "/")+"/inbox/video-preview.png")},
		convo.AccountWhatsApp: &whatsapp.Client{BaseURL: cmp.Or(cfg.WhatsAppAPIURL, whatsapp.DefaultBaseURL), APIVersion: cfg.WhatsAppAPIVersion, HTTP: client},
		convo.AccountSMS:      &twilio.Client{BaseURL: cmp.Or(cfg.TwilioAPIURL, twilio.DefaultBaseURL), HTTP: client},
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
