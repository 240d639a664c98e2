package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeMedias() {
	s.mux.HandleFunc("GET /v1.0/medias/{id}", s.serveMedia)
	s.handle("GET /v1.0/medias/{id}/signed_url", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.SignMedia(r.Context(), c, r.PathValue("id"))
	})
	s.handle("POST /v1.0/medias", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.uploadMedia(r, c)
	})
}

// serveMedia streams a medium to a caller who may see it, or to whoever
// holds a signed URL of it (no credential: a browser's <img>, a provider).
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var content *service.MediaContent
	var err error
	if q.Has("signature") {
		content, err = s.svc.GetSignedMedia(r.Context(), r.PathValue("id"), q.Get("expires"), q.Get("signature"))
	} else {
		var c *convo.Caller
		if c, err = s.svc.Authenticate(r.Context(), credential(r)); err == nil {
			content, err = s.svc.GetMedia(r.Context(), c, r.PathValue("id"))
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer content.Body.Close()
	m := content.Media
	h := w.Header()
	h.Set("Content-Type", m.ContentType)
	h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	// The bytes are the peer's or a user's: never run as a page of convo's
	// origin, and only media a browser shows safely are shown inline.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=300")
	disposition := "attachment"
	if inline(m.ContentType) {
		disposition = "inline"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": m.Filename}))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, content.Body)
	}
}

// inline reports whether a content type is shown in the browser rather
// than downloaded: pictures, sound and video, but no SVG (it runs script).
func inline(ct string) bool {
	if ct == "image/svg+xml" {
		return false
	}
	return strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "audio/") || strings.HasPrefix(ct, "video/")
}

// uploadMedia reads a multipart upload: the file in part "file", the
// media type in the optional part "type".
func (s *Server) uploadMedia(r *http.Request, c *convo.Caller) (any, error) {
	limit := s.svc.MediaMaxBytes()
	r.Body = http.MaxBytesReader(nil, r.Body, limit+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, convo.Invalid(convo.ReasonInvalidUpload, "the body must be multipart/form-data with the file in part \"file\"")
	}
	var typ string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, convo.Invalid(convo.ReasonInvalidUpload, "the body has no part \"file\"")
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, convo.Invalid(convo.ReasonMediaTooLarge, "the file is larger than the limit of %s", convo.FormatBytes(limit))
		} else if err != nil {
			return nil, convo.Invalid(convo.ReasonInvalidUpload, "the multipart body could not be read")
		}
		switch part.FormName() {
		case "type":
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			typ = strings.TrimSpace(string(b))
		case "file":
			m, err := s.svc.UploadMedia(r.Context(), c, service.MediaUpload{Type: typ, Filename: part.FileName(),
				ContentType: part.Header.Get("Content-Type"), Body: part})
			if errors.As(err, &tooLarge) {
				return nil, convo.Invalid(convo.ReasonMediaTooLarge, "the file is larger than the limit of %s", convo.FormatBytes(limit))
			}
			return m, err
		}
	}
}
