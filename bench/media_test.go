package bench

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestBenchMedia runs the media scenario briefly: images are part of the
// ingest, every image sent at half rate is reported stored, with its
// delay, and db_limit is measured around the run.
func TestBenchMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	stdout, stderr, err := runBenchCommand(t, "--scenario", "media", "--duration", "1s", "--concurrency", "4")
	if err != nil {
		t.Fatalf("convo bench: %v\nstderr:\n%s", err, stderr)
	}
	var report struct {
		Scenarios []string    `json:"scenarios"`
		Media     *benchMedia `json:"media"`
		DBLimit   *struct {
			Before float64 `json:"before_ingest_tx_per_sec"`
			After  float64 `json:"after_ingest_tx_per_sec"`
		} `json:"db_limit"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	m := report.Media
	if m == nil || !slices.Equal(report.Scenarios, []string{"media"}) {
		t.Fatalf("scenarios %v, media %v: want the media scenario alone", report.Scenarios, m)
	}
	if m.Messages == 0 || m.Errors != 0 || m.IngestDB <= 0 || m.HalfRate == nil {
		t.Errorf("media ingest %+v: want messages, no errors, a ratio to db_limit and a half-rate run", m)
	}
	if m.Images == 0 || m.Stored != m.Images || m.Failed != 0 || m.StoredP99MS <= 0 {
		t.Errorf("%d images sent at half rate, %d stored, %d failed, p99 %v ms: want every one stored", m.Images, m.Stored, m.Failed, m.StoredP99MS)
	}
	if d := report.DBLimit; d == nil || d.Before <= 0 || d.After <= 0 {
		t.Errorf("db_limit %+v: want it measured before and after", d)
	}
}
