package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/convohq/convo"
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
		// LINE fetches media only over HTTPS, and is given convo's own URL.
		if accountType == convo.AccountLine && !strings.HasPrefix(s.config.PublicURL, "https://") {
			return nil, convo.Invalid(convo.ReasonMediaNotHTTPS, "LINE takes media only from https URLs: convo's public URL (CONVO_PUBLIC_URL) is %s", s.config.PublicURL)
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
