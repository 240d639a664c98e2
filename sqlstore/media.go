package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var medias = newTable(
	kind{what: "media", notFound: convo.ReasonMediaNotFound, conflict: convo.ReasonMediaExists, conflictDetail: "the media is stored already"},
	"medias", "id, customer_id, conversation_id, message_id, type, filename, content_type, size, backend, tm_create",
	"tm_update",
	"",
	func(m *convo.StoredMedia) []any {
		return []any{&m.ID, &m.CustomerID, &m.ConversationID, &m.MessageID, &m.Type, &m.Filename, &m.ContentType, &m.Size, &m.Backend, micros{&m.TMCreate},
			micros{&m.TMUpdate}}
	})

var mediaChunks = kind{what: "media chunk", notFound: convo.ReasonMediaNotFound, conflict: convo.ReasonMediaExists, conflictDetail: "the media chunk is stored already"}

func (t *tx) CreateStoredMedia(ctx context.Context, m *convo.StoredMedia) error {
	return medias.insert(ctx, t, m)
}

func (t *tx) GetStoredMedia(ctx context.Context, id string) (*convo.StoredMedia, error) {
	return medias.getByID(ctx, t, id)
}

func (t *tx) PruneStoredMedias(ctx context.Context, before convo.Time, limit int) ([]*convo.StoredMedia, error) {
	old, err := medias.query(ctx, t, medias.selectSQL+" WHERE tm_create < ? ORDER BY tm_create, id LIMIT ?", before.Micros(), max(limit, 1))
	if err != nil {
		return nil, err
	}
	for _, m := range old {
		if err := t.DeleteMediaChunks(ctx, m.ID); err != nil {
			return nil, err
		}
		if _, err := t.q.ExecContext(ctx, t.sql("DELETE FROM medias WHERE id = ?"), m.ID); err != nil {
			return nil, interpretError(err, medias.kind)
		}
	}
	return old, nil
}

func (t *tx) PutMediaChunks(ctx context.Context, id string, chunks [][]byte) error {
	id, ok := canonicalID(id)
	if !ok {
		return convo.NotFound(mediaChunks.notFound, mediaChunks.what)
	}
	if err := t.DeleteMediaChunks(ctx, id); err != nil {
		return err
	}
	for seq, c := range chunks {
		if _, err := t.q.ExecContext(ctx, t.sql("INSERT INTO media_chunks (media_id, seq, data) VALUES (?, ?, ?)"), id, seq, c); err != nil {
			return interpretError(err, mediaChunks)
		}
	}
	return nil
}

func (t *tx) GetMediaChunk(ctx context.Context, id string, seq int) ([]byte, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, convo.NotFound(mediaChunks.notFound, mediaChunks.what)
	}
	var data []byte
	err := t.q.QueryRowContext(ctx, t.sql("SELECT data FROM media_chunks WHERE media_id = ? AND seq = ?"), id, seq).Scan(&data)
	return data, interpretError(err, mediaChunks)
}

func (t *tx) DeleteMediaChunks(ctx context.Context, id string) error {
	id, ok := canonicalID(id)
	if !ok {
		return nil
	}
	_, err := t.q.ExecContext(ctx, t.sql("DELETE FROM media_chunks WHERE media_id = ?"), id)
	return interpretError(err, mediaChunks)
}
