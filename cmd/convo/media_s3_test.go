package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/mediastore"
)

// s3Fake is an in-process S3-compatible server with one bucket; it refuses
// requests not signed with the access key it was given.
type s3Fake struct {
	backend  *s3mem.Backend
	srv      *httptest.Server
	unsigned atomic.Int64
}

func newS3Fake(t *testing.T, bucket, accessKey string) *s3Fake {
	f := &s3Fake{backend: s3mem.New()}
	if err := f.backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	s3 := gofakes3.New(f.backend).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+accessKey+"/") {
			f.unsigned.Add(1)
			http.Error(w, "AccessDenied", http.StatusForbidden)
			return
		}
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		f.srv.Close()
		if n := f.unsigned.Load(); n > 0 {
			t.Errorf("%d S3 requests were not signed with the access key", n)
		}
	})
	return f
}

func (f *s3Fake) has(bucket, key string) bool {
	_, err := f.backend.HeadObject(bucket, key)
	return err == nil
}

// With CONVO_MEDIA_S3_* set, media bytes live in the bucket, not the
// database; retention deletes them from both.
func TestMediaS3AndRetention(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		s3 := newS3Fake(t, "convo-media", "AKIDCONVO")
		clock := &offsetClock{}
		e := newChannelEnv(t, b, withClock(clock), withConfig(func(c *Config) {
			c.Media.Retention = time.Hour
			c.Media.S3 = mediastore.S3Config{Endpoint: s3.srv.URL, Bucket: "convo-media", AccessKey: "AKIDCONVO", SecretKey: "s3cret-key",
				Region: "us-east-1", Prefix: "media/", PathStyle: true}
		}))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		user, msgID := lineID('U'), lineMessageID()
		photo := pngOf(t, 16, 16)
		e.line.AddContent(msgID, acc.Token, "image/png", photo)
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), map[string]any{"id": msgID, "type": "image", "contentProvider": map[string]any{"type": "line"}}))), http.StatusOK)
		md := mediaOf(t, a, str(t, convWith(a, acc.ID, user), "id"))
		id := str(t, md, "id")
		if md["status"] != "stored" || !s3.has("convo-media", "media/"+id) {
			t.Fatalf("medium %v, want stored in the bucket", md)
		}
		wantBytes(t, a.do("GET", "/v1.0/medias/"+id, nil), photo, "image/png", "")
		up := a.upload("", "doc.pdf", "application/pdf", []byte("%PDF-1.4 doc"))
		upID := str(t, up.JSON(t), "id")
		if !s3.has("convo-media", "media/"+upID) {
			t.Errorf("the upload is not in the bucket")
		}
		wantBytes(t, a.do("GET", "/v1.0/medias/"+upID, nil), []byte("%PDF-1.4 doc"), "application/pdf", "")
		if strings.Contains(e.ts.Log.String(), "s3cret-key") {
			t.Errorf("the S3 secret key is in the log")
		}

		// Past the retention period the sweep deletes both, record and bytes.
		clock.advance(2 * time.Hour)
		eventually(t, 10*time.Second, func() error {
			if r := a.do("GET", "/v1.0/medias/"+id, nil); r.Status != http.StatusNotFound {
				return fmt.Errorf("medium past retention: status %d, want 404", r.Status)
			}
			return nil
		})
		a.fails("GET", "/v1.0/medias/"+upID, nil, http.StatusNotFound, convo.ReasonMediaNotFound)
		if s3.has("convo-media", "media/"+id) || s3.has("convo-media", "media/"+upID) {
			t.Errorf("objects past retention are still in the bucket")
		}
	})
}
