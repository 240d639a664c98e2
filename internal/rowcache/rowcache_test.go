package rowcache

import "testing"

// TestRowCacheForgetDuringLoad: a row read while a change commits may be the
// row from before the change; it must not be served after the change.
func TestRowCacheForgetDuringLoad(t *testing.T) {
	var c Cache[string]
	loads := 0
	stale := func() (string, error) {
		loads++
		c.Forget("k") // the change commits while this read is under way
		return "before", nil
	}
	if got, _ := c.Get("k", stale); got != "before" {
		t.Fatalf("first get = %q", got)
	}
	got, _ := c.Get("k", func() (string, error) { loads++; return "after", nil })
	if got != "after" || loads != 2 {
		t.Fatalf("after a change during the first read, get = %q after %d loads; want the changed row from a second load", got, loads)
	}
	if got, _ := c.Get("k", func() (string, error) { loads++; return "again", nil }); got != "after" || loads != 2 {
		t.Fatalf("a row read with no change under way was not kept: got %q after %d loads", got, loads)
	}
}
