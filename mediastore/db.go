// Package mediastore keeps the bytes of media convo holds: in the database
// (the default, so that every replica serves every medium) or in an
// S3-compatible object store.
package mediastore

import (
	"context"
	"io"

	"github.com/convohq/convo"
)

// ChunkSize is the size of one database row of a medium's bytes: serving
// a medium reads one chunk at a time, never the whole file.
const ChunkSize = 256 << 10

// DB keeps media bytes in the database's media_chunks.
type DB struct{ Store convo.Store }

// Name implements convo.MediaBlobs.
func (DB) Name() string { return convo.MediaBackendDB }

// Put stores data in one transaction, replacing what id held.
func (d DB) Put(ctx context.Context, id, _ string, data []byte) error {
	return d.Store.Update(ctx, func(tx convo.Tx) error { return tx.PutMediaChunks(ctx, id, Chunks(data)) })
}

// Chunks cuts data into the rows PutMediaChunks writes, for a caller that
// writes them in a transaction of its own.
func Chunks(data []byte) [][]byte {
	var chunks [][]byte
	for len(data) > 0 {
		n := min(len(data), ChunkSize)
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return chunks
}

// Open streams the chunks of id, reading each when the last is consumed.
func (d DB) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	r := &chunkReader{ctx: ctx, store: d.Store, id: id}
	if err := r.next(); err != nil && err != io.EOF {
		return nil, err
	}
	return r, nil
}

// Delete implements convo.MediaBlobs.
func (d DB) Delete(ctx context.Context, id string) error {
	return d.Store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteMediaChunks(ctx, id) })
}

type chunkReader struct {
	ctx   context.Context
	store convo.Store
	id    string
	seq   int
	buf   []byte
	done  bool
}

func (r *chunkReader) next() error {
	var chunk []byte
	err := r.store.View(r.ctx, func(tx convo.Tx) (err error) {
		chunk, err = tx.GetMediaChunk(r.ctx, r.id, r.seq)
		return err
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		r.done = true
		return io.EOF
	} else if err != nil {
		return err
	}
	r.seq++
	r.buf = chunk
	return nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) Close() error { return nil }

var _ convo.MediaBlobs = DB{}
