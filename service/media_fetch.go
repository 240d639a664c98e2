package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/mediastore"
)

// The download of inbound media: a job written with the message, run
// after the hook's commit in slots of its own, whose outcomes are
// recorded a few per transaction once no hook waits.
// inboundMedia is the stored form of an inbound attachment: pending when
// its channel downloads it, kept as the provider's URL otherwise.
func (s *Service) inboundMedia(a *convo.Account, md convo.InboundMedia, now convo.Time) convo.Media {
	m := convo.Media{ID: convo.NewID(), CustomerID: a.CustomerID, Type: md.Type, Filename: md.URL, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if f, ok := s.config.Channels[a.Type].(convo.MediaFetcher); ok && m.Type != convo.MediaLocation && m.Type != convo.MediaSticker && f.FetchesMedia(md.URL) {
		m.Status, m.URL = convo.MediaPending, s.mediaURL(m.ID)
	}
	return m
}

// queueMediaFetches writes the download job of each message with pending
// media, in the transaction that stores the messages.
func (s *Service) queueMediaFetches(ctx context.Context, tx convo.Tx, msgs []*convo.Message) error {
	for _, m := range msgs {
		if !hasPending(m) {
			continue
		}
		if err := tx.CreateJob(ctx, &convo.Job{ID: convo.NewID(), Kind: convo.JobFetchMedia, RefID: m.ID, RunAt: m.TMCreate, TMCreate: m.TMCreate}); err != nil {
			return err
		}
	}
	return nil
}

func hasPending(m *convo.Message) bool {
	for _, md := range m.Medias {
		if md.Status == convo.MediaPending {
			return true
		}
	}
	return false
}

// fetched is the outcome of one medium's download.
type fetched struct {
	stored *convo.StoredMedia
	// data is the bytes to write in the database with the record (nil
	// when another backend holds them already).
	data []byte
	err  *convo.MessageError
}

// runFetchMedia downloads the pending media of an inbound message and
// records each outcome on the message. Temporary failures are retried as
// any job; after the last, the media still pending fail.
func (s *Service) runFetchMedia(ctx context.Context, j *convo.Job) error {
	var msg *convo.Message
	var a *convo.Account
	err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		if msg, err = tx.GetMessage(ctx, j.RefID); err != nil {
			return err
		}
		a, err = tx.GetAccount(ctx, msg.AccountID)
		return err
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, j.ID) })
	} else if err != nil {
		return err
	}
	fetcher, _ := s.config.Channels[a.Type].(convo.MediaFetcher)
	outcomes := map[string]fetched{}
	var temporary error
	for _, md := range msg.Medias {
		if md.Status != convo.MediaPending {
			continue
		}
		if fetcher == nil || a.IsDeleted() {
			outcomes[md.ID] = fetched{err: &convo.MessageError{Code: convo.ReasonMediaFetch, Message: "the account is gone"}}
			continue
		}
		stored, data, err := s.fetchMedia(ctx, fetcher, a, msg, md)
		switch {
		case err == nil:
			outcomes[md.ID] = fetched{stored: stored, data: data}
		case isTemporary(err):
			temporary = err
		default:
			outcomes[md.ID] = fetched{err: mediaErrorOf(err)}
		}
	}
	again := false
	if temporary != nil {
		if again, err = s.retryLater(ctx, j, temporary); err != nil {
			return err
		}
	}
	if !again && temporary != nil {
		s.logger.Warn("media download failed", "message_id", msg.ID, "reason", temporary.Error())
	}
	return s.mediaRecords.Submit(&mediaRecord{job: j, messageID: msg.ID, outcomes: outcomes, cause: temporary, final: !again})
}

// yieldToHooks waits, up to mediaYieldMax, while hooks wait to be stored.
// The bytes of media cost the database far more than a message (on
// SQLite's one writer a 200 KB image costs as much as a dozen single-row
// commits): written before waiting hooks, they would delay the hooks'
// 200. Waiting also for the batch being written (the writer idle) kept
// ingest as fast as without media, but at half the full rate left media
// waiting for seconds (docs/performance.md).
func (s *Service) yieldToHooks() {
	deadline := time.Now().Add(mediaYieldMax)
	for s.inbound.Waiting() && time.Now().Before(deadline) {
		time.Sleep(mediaYieldPoll)
	}
}

// mediaRecord is the outcome of one run of a download job, to record.
type mediaRecord struct {
	job       *convo.Job
	messageID string
	outcomes  map[string]fetched
	cause     error
	final     bool
}

// storeMediaRecords records the outcomes of concurrent downloads in one
// transaction: on SQLite each commit costs the writer a flush, which the
// hooks' batches need.
func (s *Service) storeMediaRecords(batch []*mediaRecord, ready func()) error {
	ctx := context.Background()
	s.yieldToHooks()
	return s.update(ctx, func(tx convo.Tx) error {
		defer ready()
		for _, r := range batch {
			if err := s.recordMedia(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// mediaErrorOf is the reason shown on a medium whose download failed.
func mediaErrorOf(err error) *convo.MessageError {
	var e *convo.Error
	if errors.As(err, &e) {
		return &convo.MessageError{Code: e.Reason, Message: e.Message}
	}
	var ce *convo.ChannelError
	if errors.As(err, &ce) && ce.HTTPStatus != 0 {
		return &convo.MessageError{Code: convo.ReasonMediaFetch, Message: fmt.Sprintf("the provider answered %d", ce.HTTPStatus)}
	}
	return &convo.MessageError{Code: convo.ReasonMediaFetch, Message: "the medium could not be downloaded: " + err.Error()}
}

// fetchMedia downloads one medium, within the size limit. The bytes go to
// the blobs now, or are returned to be written with the medium's record
// when the database holds them: one commit per medium, not two.
func (s *Service) fetchMedia(ctx context.Context, f convo.MediaFetcher, a *convo.Account, msg *convo.Message, md convo.Media) (*convo.StoredMedia, []byte, error) {
	fctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	got, err := f.FetchMedia(fctx, a, md.Filename)
	if err != nil {
		return nil, nil, err
	}
	defer got.Body.Close()
	limit := s.config.MediaMaxBytes
	if got.Size > limit {
		return nil, nil, tooLarge(limit, got.Size)
	}
	data, err := io.ReadAll(io.LimitReader(got.Body, limit+1))
	if err != nil {
		return nil, nil, &convo.ChannelError{Temporary: true, Detail: err.Error()}
	}
	if int64(len(data)) > limit {
		return nil, nil, tooLarge(limit, -1)
	}
	ct := contentTypeOf(got.ContentType, data)
	now := s.now()
	sm := &convo.StoredMedia{ID: md.ID, CustomerID: msg.CustomerID, ConversationID: msg.ConversationID, MessageID: msg.ID,
		Type: md.Type, Filename: fileNameOf(md.Type, md.ID, ct), ContentType: ct, Size: int64(len(data)),
		Backend: s.config.MediaBlobs.Name(), TMCreate: now, TMUpdate: now}
	if _, inDB := s.config.MediaBlobs.(mediastore.DB); inDB {
		return sm, data, nil
	}
	if err := s.config.MediaBlobs.Put(ctx, sm.ID, ct, data); err != nil {
		return nil, nil, &convo.ChannelError{Temporary: true, Detail: "store the medium: " + err.Error()}
	}
	return sm, nil, nil
}

func tooLarge(limit, size int64) error {
	if size > 0 {
		return convo.Invalid(convo.ReasonMediaTooLarge, "the medium has %d bytes, more than the limit of %s", size, convo.FormatBytes(limit))
	}
	return convo.Invalid(convo.ReasonMediaTooLarge, "the medium is larger than the limit of %s", convo.FormatBytes(limit))
}

// contentTypeOf is the content type announced, or sniffed when none was.
func contentTypeOf(announced string, data []byte) string {
	if mt, _, err := mime.ParseMediaType(announced); err == nil && mt != "application/octet-stream" {
		return mt
	}
	return strings.Split(http.DetectContentType(data), ";")[0]
}

// fileNameOf names a downloaded medium after its type, id and content type.
func fileNameOf(typ, id, ct string) string {
	ext := ""
	if exts, _ := mime.ExtensionsByType(ct); len(exts) > 0 {
		ext = exts[0]
		for _, e := range exts {
			if e == ".jpg" || e == ".png" || e == ".mp4" || e == ".pdf" {
				ext = e
			}
		}
	}
	return typ + "-" + id[:8] + ext
}

// recordMedia writes the outcomes of downloads on the message, with its
// event; final ends the job, failing what is still pending.
func (s *Service) recordMedia(ctx context.Context, tx convo.Tx, r *mediaRecord) error {
	outcomes, cause, final := r.outcomes, r.cause, r.final
	msg, err := tx.GetMessage(ctx, r.messageID)
	if err != nil {
		return err
	}
	changed := false
	now := s.now()
	for i := range msg.Medias {
		md := &msg.Medias[i]
		if md.Status != convo.MediaPending {
			continue
		}
		o, ok := outcomes[md.ID]
		if !ok && final && cause != nil {
			o, ok = fetched{err: mediaErrorOf(cause)}, true
		}
		if !ok {
			continue
		}
		if o.stored != nil {
			if o.data != nil {
				if err := tx.PutMediaChunks(ctx, o.stored.ID, mediastore.Chunks(o.data)); err != nil {
					return err
				}
			}
			if err := tx.CreateStoredMedia(ctx, o.stored); err != nil {
				return err
			}
			md.Status, md.ContentType, md.Size = convo.MediaStored, o.stored.ContentType, o.stored.Size
		} else {
			md.Status, md.Error = convo.MediaFailed, o.err
		}
		md.TMUpdate = now
		changed = true
	}
	if changed {
		msg.TMUpdate = now
		if err := tx.UpdateMessage(ctx, msg); err != nil {
			return err
		}
		if err := s.emitMessage(ctx, tx, convo.EventMessageUpdated, msg); err != nil {
			return err
		}
	}
	if final {
		return tx.DeleteJob(ctx, r.job.ID)
	}
	return nil
}

// runMediaRetention deletes the media older than the retention period and
// plans its next run.
func (s *Service) runMediaRetention(ctx context.Context, j *convo.Job) error {
	before := convo.NewTime(s.clock.Now().Add(-s.config.MediaRetention))
	for {
		var pruned []*convo.StoredMedia
		err := s.update(ctx, func(tx convo.Tx) (err error) {
			pruned, err = tx.PruneStoredMedias(ctx, before, mediaPruneBatch)
			return err
		})
		if err != nil {
			return err
		}
		for _, m := range pruned {
			if m.Backend != convo.MediaBackendDB && m.Backend == s.config.MediaBlobs.Name() {
				if err := s.config.MediaBlobs.Delete(ctx, m.ID); err != nil {
					s.logger.Warn("delete an expired medium", "media_id", m.ID, "error", err.Error())
				}
			}
		}
		if len(pruned) < mediaPruneBatch {
			break
		}
	}
	next := convo.NewTime(s.clock.Now().Add(mediaRetentionEvery))
	return s.store.Update(ctx, func(tx convo.Tx) error { return tx.RescheduleJob(ctx, j.ID, next, "") })
}
