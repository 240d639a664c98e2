package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"
)

// pngOf returns a real PNG of w×h pixels, so a browser can show it.
func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts a file to POST /v1.0/medias as a multipart form, with the
// part "type" first when typ is set.
func (a *api) upload(typ, filename, contentType string, data []byte) *response {
	a.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if typ != "" {
		mw.WriteField("type", typ)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	part, _ := mw.CreatePart(h)
	part.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", a.base+"/v1.0/medias", &body)
	req.Header.Set("Authorization", "Bearer "+a.cred)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return sendRaw(a.t, req)
}

// sendRaw sends req and reads the answer whole, held to the OpenAPI document.
func sendRaw(t testing.TB, req *http.Request) *response {
	t.Helper()
	var problem answerProblem
	res, err := http.DefaultClient.Do(req.WithContext(withAnswerProblem(req.Context(), &problem)))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if problem.text != "" {
		t.Errorf("%s", problem.text)
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// fetch GETs a URL without a credential.
func fetch(t testing.TB, u string) *response {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sendRaw(t, req)
}

// mediaOf waits until the only medium of the conversation's newest message
// leaves pending, and returns it.
func mediaOf(t testing.TB, a *api, convID string) map[string]any {
	t.Helper()
	var md map[string]any
	eventually(t, 10*time.Second, func() error {
		msgs := msgsOf(a, convID)
		if len(msgs) == 0 {
			return fmt.Errorf("no message yet")
		}
		medias, _ := msgs[0]["medias"].([]any)
		if len(medias) != 1 {
			return fmt.Errorf("medias %v, want one", msgs[0]["medias"])
		}
		md = medias[0].(map[string]any)
		if md["status"] == "pending" {
			return fmt.Errorf("medium still pending: %v", md)
		}
		return nil
	})
	return md
}

// wantBytes checks a served medium: status 200, its bytes and headers.
func wantBytes(t testing.TB, r *response, data []byte, contentType, disposition string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
	}
	if !bytes.Equal(r.Body, data) {
		t.Errorf("served %d bytes, want the %d stored", len(r.Body), len(data))
	}
	if got := r.Header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type %q, want %q", got, contentType)
	}
	if got := r.Header.Get("Content-Disposition"); disposition != "" && got != disposition {
		t.Errorf("Content-Disposition %q, want %q", got, disposition)
	}
}
