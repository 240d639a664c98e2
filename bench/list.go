package bench

import (
	"context"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// benchSeeded is the seeded database the list and inbox scenarios share.
type benchSeeded struct {
	spec seedSpec
	res  *seedResult
	// labels are the names of the seeded labels, the rare one last.
	labels []string
}

// seedLabels are the labels of the seed and the share of conversations
// each is on: about one in ten holds one, and the last is rare.
var seedLabels = []struct {
	name  string
	share float64
}{{"billing", 0.05}, {"shipping", 0.03}, {"complaint", 0.02}, {"vip", 0.0005}}

// seedAgentCount is how many plain agents own the seeded conversations.
const seedAgentCount = 10

// ensureAgents creates the plain agents the seed gives conversations to,
// once, keeping their credentials to log in as them.
func (b *bench) ensureAgents(ctx context.Context) error {
	for len(b.agents) < seedAgentCount {
		var agent struct {
			ID string `json:"id"`
		}
		name, password := fmt.Sprintf("bench-agent-%d-%s", len(b.agents), benchHex(4)), benchHex(12)
		if err := b.api(ctx, http.MethodPost, "/v1.0/agents", map[string]any{
			"username": name, "password": password, "name": name, "permission": convo.PermissionCustomerAgent}, &agent); err != nil {
			return fmt.Errorf("bench: create an agent: %w", err)
		}
		b.agents = append(b.agents, agent.ID)
		b.agentLogins = append(b.agentLogins, [2]string{name, password})
	}
	return nil
}

// ensureSeed seeds the database once, with the inbox state of its
// conversations: statuses, owners, labels and read marks.
func (b *bench) ensureSeed(ctx context.Context) (*benchSeeded, error) {
	if b.seeded != nil {
		return b.seeded, nil
	}
	if err := b.ensureAgents(ctx); err != nil {
		return nil, err
	}
	n, m := b.cfg.seedConversations, b.cfg.seedMessages
	span := 365 * 24 * time.Hour
	spec := seedSpec{CustomerID: b.customerID, AccountID: b.accountID, Conversations: n, MessagesPerConversation: m,
		Agents: b.agents, Interval: span / time.Duration(n)}
	spec.First = time.Now().Add(-time.Hour - time.Duration(n)*spec.Interval)
	seeded := &benchSeeded{spec: spec}
	for _, l := range seedLabels {
		var label struct {
			ID string `json:"id"`
		}
		if err := b.api(ctx, http.MethodPost, "/v1.0/labels", map[string]any{"name": l.name}, &label); err != nil {
			return nil, fmt.Errorf("bench: create a label: %w", err)
		}
		spec.Labels, spec.LabelShares = append(spec.Labels, label.ID), append(spec.LabelShares, l.share)
		seeded.labels = append(seeded.labels, l.name)
	}
	var done atomic.Int64
	total := n * (1 + m)
	var seedTime time.Duration
	err := b.withStore(ctx, "seed", func(store *sqlstore.DB) (err error) {
		start := time.Now()
		b.progress.set(func() string {
			d, el := done.Load(), time.Since(start)
			eta := "?"
			if d > 0 {
				eta = (time.Duration(float64(el) * float64(int64(total)-d) / float64(d))).Round(time.Second).String()
			}
			return fmt.Sprintf("seeding %d conversations, %d messages  %d/%d rows (%.0f%%)  %.0f rows/s  %s left",
				n, n*m, d, total, 100*float64(d)/float64(total), float64(d)/el.Seconds(), eta)
		})
		spec.Progress = func(d, _ int) { done.Store(int64(d)) }
		seeded.res, err = seedConversations(ctx, store, spec)
		seedTime = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.report.Seed = &benchSeed{Conversations: n, Messages: n * m, Seconds: benchRound(seedTime.Seconds()), RowsPerSec: benchRound(float64(total) / seedTime.Seconds())}
	b.report.FirstAnswerMS, b.report.FirstAnswerOn = b.srv.firstAnswerMS(), "seeded"
	seeded.spec = spec
	b.seeded = seeded
	return seeded, nil
}

// runList seeds the database and measures list queries on it.
func (b *bench) runList(ctx context.Context) error {
	seeded, err := b.ensureSeed(ctx)
	if err != nil {
		return err
	}
	spec, res, n := seeded.spec, seeded.res, seeded.spec.Conversations
	rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	deep := n * 9 / 10
	deepToken := func() string {
		// Conversation i was created at First + i*Interval; a token just
		// after conversation n-1-d starts the page d rows into the seed.
		d := deep + rng.IntN(max(n/20, 1)) - n/40
		d = min(max(d, 0), n-1)
		return convo.NewTime(spec.First.Add(time.Duration(n-d) * spec.Interval)).String()
	}
	queries := []struct {
		name string
		path func() string
	}{
		{"first_page", func() string { return "/v1.0/conversations?page_size=100" }},
		{"deep_page", func() string {
			return "/v1.0/conversations?page_size=100&page_token=" + url.QueryEscape(deepToken())
		}},
		{"owner_filter", func() string {
			return "/v1.0/conversations?page_size=100&owner_id=" + b.agents[rng.IntN(len(b.agents))]
		}},
		{"messages", func() string {
			return "/v1.0/conversations/" + res.Sample[rng.IntN(len(res.Sample))] + "/messages?page_size=100"
		}},
	}
	measure := func(when string) (benchListRound, error) {
		r := benchListRound{Queries: map[string]benchLatency{}}
		before := b.sampleCPU()
		for _, q := range queries {
			lat, err := b.sequential(ctx, "list "+when+": "+q.name, b.cfg.listRequests, 1, q.path)
			if err != nil {
				return r, err
			}
			r.Queries[q.name] = latencyOf(lat)
		}
		r.DatabaseCheckpoints = checkpointsBetween(before, b.sampleCPU())
		r.FirstPageP99MS, r.DeepPageP99MS = r.Queries["first_page"].P99MS, r.Queries["deep_page"].P99MS
		r.OwnerFilterP99MS, r.MessagesP99MS = r.Queries["owner_filter"].P99MS, r.Queries["messages"].P99MS
		return r, nil
	}
	lr := &benchList{DeepPageRows: deep}
	if lr.benchListRound, err = measure("(never analyzed)"); err != nil {
		return err
	}
	if err := b.analyze(ctx, "list"); err != nil {
		return err
	}
	if lr.Analyzed, err = measure("(analyzed)"); err != nil {
		return err
	}
	b.report.List = lr
	b.recordRSS("list")
	return nil
}

// latencyOf summarises sorted latencies.
func latencyOf(lat []time.Duration) benchLatency {
	return benchLatency{Requests: len(lat), P50MS: benchMS(benchPercentile(lat, 0.5)), P99MS: benchMS(benchPercentile(lat, 0.99)), MaxMS: benchMS(benchPercentile(lat, 1))}
}

// sequential runs n requests of GET path() one after another, after a few
// unmeasured ones, and returns their sorted latencies. Every answer must be
// 200 with at least minRows results.
func (b *bench) sequential(ctx context.Context, label string, n, minRows int, path func() string) ([]time.Duration, error) {
	lat, _, err := b.sequentialAs(ctx, b.key, label, n, minRows, path)
	return lat, err
}

// sequentialAs is sequential with another bearer token; it also returns
// how many results the measured answers held in all.
func (b *bench) sequentialAs(ctx context.Context, token, label string, n, minRows int, path func() string) ([]time.Duration, int, error) {
	lat := make([]time.Duration, 0, n)
	rows := 0
	warm := min(20, n)
	var mu sync.Mutex
	b.progress.set(func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%s  %d/%d", label, len(lat), n)
	})
	for i := range warm + n {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		p := path()
		start := time.Now()
		var page struct {
			Result []json.RawMessage `json:"result"`
		}
		if err := b.apiAs(ctx, token, http.MethodGet, p, nil, &page); err != nil {
			return nil, 0, fmt.Errorf("bench: %s: %w", label, err)
		}
		d := time.Since(start)
		if len(page.Result) < minRows {
			return nil, 0, fmt.Errorf("bench: %s: GET %s returned %d rows, want at least %d", label, p, len(page.Result), minRows)
		}
		if i >= warm {
			mu.Lock()
			lat = append(lat, d)
			rows += len(page.Result)
			mu.Unlock()
		}
	}
	slices.Sort(lat)
	return lat, rows, nil
}

// analyze has the database gather planner statistics of the seeded tables, once.
func (b *bench) analyze(ctx context.Context, phase string) error {
	if b.analyzed {
		return nil
	}
	err := b.withStore(ctx, phase, func(store *sqlstore.DB) error {
		b.progress.set(func() string { return phase + ": ANALYZE" })
		return store.Analyze(ctx)
	})
	b.analyzed = err == nil
	return err
}
