// Package web is the agents' inbox: hand-written HTML, CSS and JavaScript
// modules with no build step, embedded in the binary and served by httpapi
// on the same API every other client uses.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"path"
)

//go:embed index.html assets
var files embed.FS

// Asset is one file of the inbox, ready to serve.
type Asset struct {
	Body        []byte
	ContentType string
	// ETag is a strong validator of Body, quoted.
	ETag string
}

var assets = load()

// Page is the inbox's one HTML page.
func Page() *Asset { return assets["index.html"] }

// Lookup returns the asset served as /inbox/{name}, or nil.
func Lookup(name string) *Asset { return assets["assets/"+name] }

func load() map[string]*Asset {
	out := map[string]*Asset{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = &Asset{Body: b, ContentType: contentType(p), ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: reading the embedded files: " + err.Error())
	}
	return out
}

// contentType is the file's media type; the system's MIME table is not
// consulted, so the answer is the same on every machine.
func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}
