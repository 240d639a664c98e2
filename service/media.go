package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/mediastore"
)

// Media convo holds: inbound attachments, downloaded by a job after the
// hook's commit (so a slow provider never delays the hook's 200), and
// uploads for sending. Their bytes are kept by s.config.MediaBlobs; a
// stored medium is served to whoever may see its conversation, or to
// anyone holding a signed URL until it expires.

const (
	// settingMediaKey names the signing key of media URLs, shared by replicas.
	settingMediaKey = "media_signing_key"
	// mediaRetentionEvery is how often the retention sweep runs.
	mediaRetentionEvery = time.Hour
	// mediaPruneBatch bounds the media one sweep transaction deletes.
	mediaPruneBatch = 100
	// mediaSlots is how many downloads run at once.
	mediaSlots = 8
	// mediaRecordBatch bounds the downloads recorded in one transaction,
	// so that one holds the database's writer only a short while.
	mediaRecordBatch = 8
	// mediaYieldMax is the longest a batch of downloads waits for the
	// hooks (see yieldToHooks), so that media still get a share of the
	// writer under a sustained full load; mediaYieldPoll how often it looks.
	mediaYieldMax  = time.Second
	mediaYieldPoll = 2 * time.Millisecond
	// DefaultMediaURLTTL is how long a signed media URL works.
	DefaultMediaURLTTL = time.Hour
)

// initMedia loads (or on first start creates) the media signing key and
// plans the retention sweep.
func (s *Service) initMedia(ctx context.Context) error {
	if len(s.config.MediaKey) > 0 {
		s.mediaKey = s.config.MediaKey
	} else {
		var key string
		err := s.store.Update(ctx, func(tx convo.Tx) (err error) {
			key, err = tx.InitSetting(ctx, settingMediaKey, randomHex(32))
			return err
		})
		if err != nil {
			return err
		}
		if s.mediaKey, err = hex.DecodeString(key); err != nil {
			return err
		}
	}
	if s.config.MediaRetention <= 0 {
		return nil
	}
	return s.update(ctx, func(tx convo.Tx) error {
		now := s.now()
		return tx.EnsureJob(ctx, &convo.Job{ID: convo.MediaRetentionJobID, Kind: convo.JobMediaRetention, RefID: convo.NilID, RunAt: now, TMCreate: now})
	})
}

// mediaURL is convo's stable URL of a medium (a credential is needed).
func (s *Service) mediaURL(id string) string { return s.config.PublicURL + "/v1.0/medias/" + id }

// mediaSignature is the HMAC of a medium's id and the end of its URL's life.
func (s *Service) mediaSignature(id string, expires int64) string {
	mac := hmac.New(sha256.New, s.mediaKey)
	fmt.Fprintf(mac, "media:%s:%d", id, expires)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignedMediaURL is a URL that serves a medium without a credential until Expires.
type SignedMediaURL struct {
	URL       string     `json:"url"`
	TMExpire  convo.Time `json:"tm_expire"`
	ExpiresAt int64      `json:"-"`
}

// signedURL returns a signed URL of medium id working for the configured time.
func (s *Service) signedURL(id string) SignedMediaURL {
	exp := s.clock.Now().Add(s.config.MediaURLTTL).Truncate(time.Second)
	sig := s.mediaSignature(id, exp.Unix())
	return SignedMediaURL{URL: s.mediaURL(id) + "?expires=" + strconv.FormatInt(exp.Unix(), 10) + "&signature=" + sig,
		TMExpire: convo.NewTime(exp), ExpiresAt: exp.Unix()}
}

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

// MediaContent is a medium to serve: its record and its bytes.
type MediaContent struct {
	Media *convo.StoredMedia
	Body  io.ReadCloser
}

var errNoMedia = convo.NotFound(convo.ReasonMediaNotFound, "media")

// GetMedia opens a medium for a caller who may see its conversation (an
// upload: anyone of its customer). Others are answered as if it did not exist.
func (s *Service) GetMedia(ctx context.Context, c *convo.Caller, id string) (*MediaContent, error) {
	m, err := s.visibleMedia(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return s.openMedia(ctx, m)
}

// visibleMedia returns the record of a medium c may see.
func (s *Service) visibleMedia(ctx context.Context, c *convo.Caller, id string) (*convo.StoredMedia, error) {
	id, err := convo.ParseID(id)
	if err != nil {
		return nil, errNoMedia
	}
	var m *convo.StoredMedia
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		if m, err = tx.GetStoredMedia(ctx, id); err != nil {
			return err
		}
		if m.CustomerID != c.CustomerID {
			return errNoMedia
		}
		if m.ConversationID == convo.NilID {
			return nil
		}
		if _, err := s.visibleConversation(ctx, tx, c, m.ConversationID); err != nil {
			if st := convo.ErrorStatus(err); st == convo.ENotFound || st == convo.EForbidden {
				return errNoMedia
			}
			return err
		}
		return nil
	})
	return m, err
}

// GetSignedMedia opens a medium for whoever holds a signed URL of it that
// has not expired. A wrong, forged or expired signature is refused alike.
func (s *Service) GetSignedMedia(ctx context.Context, id, expires, signature string) (*MediaContent, error) {
	bad := convo.Errorf(convo.EForbidden, convo.ReasonMediaSignature, "the media URL is not signed, or has expired")
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return nil, bad
	}
	want := s.mediaSignature(id, exp)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(signature))) || s.clock.Now().Unix() > exp {
		return nil, bad
	}
	var m *convo.StoredMedia
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		m, err = tx.GetStoredMedia(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.openMedia(ctx, m)
}

func (s *Service) openMedia(ctx context.Context, m *convo.StoredMedia) (*MediaContent, error) {
	body, err := s.config.MediaBlobs.Open(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	return &MediaContent{Media: m, Body: body}, nil
}

// SignMedia returns a signed URL of a medium c may see, for a browser's
// <img> or a link that carries no credential.
func (s *Service) SignMedia(ctx context.Context, c *convo.Caller, id string) (SignedMediaURL, error) {
	m, err := s.visibleMedia(ctx, c, id)
	if err != nil {
		return SignedMediaURL{}, err
	}
	return s.signedURL(m.ID), nil
}

// MediaUpload is a file uploaded to send.
type MediaUpload struct {
	Type        string
	Filename    string
	ContentType string
	Body        io.Reader
}

// UploadMedia stores a file for sending and returns it in a message's
// media shape, stored.
func (s *Service) UploadMedia(ctx context.Context, c *convo.Caller, in MediaUpload) (*convo.Media, error) {
	limit := s.config.MediaMaxBytes
	data, err := io.ReadAll(io.LimitReader(in.Body, limit+1))
	if err != nil {
		return nil, convo.Invalid(convo.ReasonInvalidUpload, "the file could not be read")
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(limit, -1)
	}
	if len(data) == 0 {
		return nil, convo.Invalid(convo.ReasonInvalidUpload, "the file is empty")
	}
	ct := contentTypeOf(in.ContentType, data)
	typ := in.Type
	switch typ {
	case "":
		typ = convo.MediaTypeOf(ct)
	case convo.MediaImage, convo.MediaVideo, convo.MediaAudio, convo.MediaFile:
	default:
		return nil, convo.Invalid("INVALID_MEDIA", "media type must be image, video, audio or file")
	}
	name := strings.TrimSpace(in.Filename)
	if name == "" || strings.ContainsAny(name, "/\\\"\r\n") {
		name = ""
	}
	if err := convo.CheckLen("filename", name, 255); err != nil {
		return nil, err
	}
	now := s.now()
	sm := &convo.StoredMedia{ID: convo.NewID(), CustomerID: c.CustomerID, ConversationID: convo.NilID, MessageID: convo.NilID,
		Type: typ, ContentType: ct, Size: int64(len(data)), Backend: s.config.MediaBlobs.Name(), TMCreate: now, TMUpdate: now}
	sm.Filename = name
	if sm.Filename == "" {
		sm.Filename = fileNameOf(typ, sm.ID, ct)
	}
	if err := s.config.MediaBlobs.Put(ctx, sm.ID, ct, data); err != nil {
		return nil, err
	}
	if err := s.update(ctx, func(tx convo.Tx) error { return tx.CreateStoredMedia(ctx, sm) }); err != nil {
		return nil, err
	}
	return s.mediaOf(sm), nil
}

// mediaOf is a stored medium in a message's media shape.
func (s *Service) mediaOf(sm *convo.StoredMedia) *convo.Media {
	return &convo.Media{ID: sm.ID, CustomerID: sm.CustomerID, Type: sm.Type, Filename: sm.Filename, Status: convo.MediaStored,
		URL: s.mediaURL(sm.ID), ContentType: sm.ContentType, Size: sm.Size, TMCreate: sm.TMCreate, TMUpdate: sm.TMUpdate, TMDelete: convo.Never}
}

// accountTypeOf is the account type of a conversation type.
func accountTypeOf(convType string) string {
	for _, t := range []string{convo.AccountSMS, convo.AccountLine, convo.AccountWhatsApp} {
		if convo.ConversationType(t) == convType {
			return t
		}
	}
	return ""
}

// resolveSendMedias fills the medias of a send that name an upload by id
// from the upload, and refuses what the conversation's provider would.
func (s *Service) resolveSendMedias(ctx context.Context, tx convo.Tx, c *convo.Caller, conv *convo.Conversation, medias []convo.Media) ([]convo.Media, error) {
	accountType := accountTypeOf(conv.Type)
	var total int64
	for i := range medias {
		md := &medias[i]
		if md.Status != convo.MediaStored {
			continue
		}
		sm, err := tx.GetStoredMedia(ctx, md.ID)
		if err == nil && (sm.CustomerID != c.CustomerID || sm.ConversationID != convo.NilID) {
			err = errNoMedia
		}
		if convo.ErrorStatus(err) == convo.ENotFound {
			return nil, convo.Invalid(convo.ReasonMediaNotFound, "medias[%d].id names no uploaded media", i)
		} else if err != nil {
			return nil, err
		}
		stored := s.mediaOf(sm)
		if md.Type != "" {
			stored.Type = md.Type
		}
		stored.TMCreate, stored.TMUpdate = md.TMCreate, md.TMUpdate
		*md = *stored
		if err := convo.CheckChannelMedia(accountType, md.Type, md.ContentType, md.Size); err != nil {
			return nil, err
		}
		total += md.Size
	}
	if accountType == convo.AccountSMS && total > convo.TwilioMaxMessageBytes {
		return nil, convo.Invalid(convo.ReasonMediaTooLarge, "an MMS takes up to %s of media together, these have %d bytes", convo.FormatBytes(convo.TwilioMaxMessageBytes), total)
	}
	return medias, nil
}

// providerMedias returns msg with the media convo holds given to the
// provider as signed URLs, which it fetches without a credential.
func (s *Service) providerMedias(msg *convo.Message) *convo.Message {
	own := *msg
	own.Medias = make([]convo.Media, len(msg.Medias))
	for i, md := range msg.Medias {
		if md.Status == convo.MediaStored && md.URL != "" {
			md.Filename = s.signedURL(md.ID).URL
		}
		own.Medias[i] = md
	}
	return &own
}

// MediaMaxBytes is the limit on one medium's size.
func (s *Service) MediaMaxBytes() int64 { return s.config.MediaMaxBytes }
