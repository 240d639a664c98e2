package main

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/convohq/convo/internal/fakeprovider"
)

// withProviders points convo's provider clients at the fakes.
func withProviders(l *fakeprovider.Line, wa *fakeprovider.WhatsApp, tw *fakeprovider.Twilio) serverOption {
	return func(m *Main) {
		m.Config.LineAPIURL, m.Config.WhatsAppAPIURL, m.Config.TwilioAPIURL = l.URL(), wa.URL(), tw.URL()
	}
}

// withSending sets how long a send request waits for the provider and the
// delays between retries of a provider outage.
func withSending(wait time.Duration, retryDelays ...time.Duration) serverOption {
	return func(m *Main) {
		m.Config.SendWait = wait
		m.Config.RetryDelays = retryDelays
	}
}

func randomHexString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testIDs numbers the provider ids the tests make up.
var testIDs atomic.Int64
