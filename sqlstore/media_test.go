package sqlstore_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func TestMediaStore(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		db := open(t, b.DSN)
		ctx := t.Context()
		newMedia := func(tm convo.Time) *convo.StoredMedia {
			return &convo.StoredMedia{ID: convo.NewID(), CustomerID: convo.NewID(), ConversationID: convo.NewID(), MessageID: convo.NewID(),
				Type: convo.MediaImage, Filename: "photo.jpg", ContentType: "image/jpeg", Size: 5, Backend: convo.MediaBackendDB, TMCreate: tm, TMUpdate: tm}
		}
		old, young := newMedia(at(0)), newMedia(at(time.Hour))
		upload := newMedia(at(2 * time.Hour))
		upload.ConversationID, upload.MessageID = convo.NilID, convo.NilID
		update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateStoredMedia, old, young, upload) })
		for _, want := range []*convo.StoredMedia{old, young, upload} {
			same(t, read(t, db, func(tx convo.Tx) (*convo.StoredMedia, error) { return tx.GetStoredMedia(ctx, want.ID) }), want)
		}
		_, err := readErr(db, func(tx convo.Tx) (*convo.StoredMedia, error) { return tx.GetStoredMedia(ctx, "nope") })
		wantErr(t, err, convo.ENotFound, convo.ReasonMediaNotFound)
		err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateStoredMedia(ctx, old) })
		wantErr(t, err, convo.EConflict, convo.ReasonMediaExists)

		// Bytes in chunks, read back in order; putting again replaces them.
		big := bytes.Repeat([]byte{0, 1, 2, 255}, 100_000)
		update(t, db, func(tx convo.Tx) error {
			return tx.PutMediaChunks(ctx, old.ID, [][]byte{[]byte("stale"), []byte("more")})
		})
		update(t, db, func(tx convo.Tx) error { return tx.PutMediaChunks(ctx, old.ID, [][]byte{big, []byte("tail")}) })
		update(t, db, func(tx convo.Tx) error { return tx.PutMediaChunks(ctx, young.ID, [][]byte{[]byte("young")}) })
		if got := read(t, db, func(tx convo.Tx) ([]byte, error) { return tx.GetMediaChunk(ctx, old.ID, 0) }); !bytes.Equal(got, big) {
			t.Errorf("chunk 0 has %d bytes, want the %d put", len(got), len(big))
		}
		if got := read(t, db, func(tx convo.Tx) ([]byte, error) { return tx.GetMediaChunk(ctx, old.ID, 1) }); string(got) != "tail" {
			t.Errorf("chunk 1 is %q", got)
		}
		_, err = readErr(db, func(tx convo.Tx) ([]byte, error) { return tx.GetMediaChunk(ctx, old.ID, 2) })
		wantErr(t, err, convo.ENotFound, convo.ReasonMediaNotFound)

		// Retention deletes the oldest first, with their bytes.
		prune := func(limit int) (pruned []*convo.StoredMedia) {
			update(t, db, func(tx convo.Tx) (err error) {
				pruned, err = tx.PruneStoredMedias(ctx, at(90*time.Minute), limit)
				return err
			})
			return pruned
		}
		pruned := prune(1)
		wantIDs(t, ids(pruned, func(m *convo.StoredMedia) string { return m.ID }), old.ID)
		_, err = readErr(db, func(tx convo.Tx) (*convo.StoredMedia, error) { return tx.GetStoredMedia(ctx, old.ID) })
		wantErr(t, err, convo.ENotFound, convo.ReasonMediaNotFound)
		_, err = readErr(db, func(tx convo.Tx) ([]byte, error) { return tx.GetMediaChunk(ctx, old.ID, 0) })
		wantErr(t, err, convo.ENotFound, convo.ReasonMediaNotFound)
		pruned = prune(10)
		wantIDs(t, ids(pruned, func(m *convo.StoredMedia) string { return m.ID }), young.ID)
		if got := read(t, db, func(tx convo.Tx) (*convo.StoredMedia, error) { return tx.GetStoredMedia(ctx, upload.ID) }); got.ID != upload.ID {
			t.Errorf("a younger medium was pruned")
		}
	})
}
