package convo

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Statuses of a message's medium held by convo.
const (
	// MediaPending: an inbound medium convo has yet to download.
	MediaPending = "pending"
	// MediaStored: convo holds the bytes; GET /v1.0/medias/{id} serves them.
	MediaStored = "stored"
	// MediaFailed: the download gave up; Media.Error says why.
	MediaFailed = "failed"
)

// Job kinds of media.
const (
	// JobFetchMedia downloads the pending media of an inbound message
	// (RefID: the message).
	JobFetchMedia = "fetch_media"
	// JobMediaRetention is the one job, rescheduled after each run, that
	// deletes media older than the retention period.
	JobMediaRetention = "media_retention"
)

// MediaRetentionJobID is the id of the one JobMediaRetention.
const MediaRetentionJobID = "00000000-0000-7000-8000-00000000a002"

// Reasons of media.
const (
	ReasonMediaNotFound  = "MEDIA_NOT_FOUND"
	ReasonMediaExists    = "MEDIA_EXISTS"
	ReasonMediaTooLarge  = "MEDIA_TOO_LARGE"
	ReasonMediaType      = "MEDIA_TYPE_NOT_SUPPORTED"
	ReasonMediaNotStored = "MEDIA_NOT_STORED"
	ReasonMediaFetch     = "MEDIA_FETCH_FAILED"
	ReasonInvalidUpload  = "INVALID_UPLOAD"
	ReasonMediaSignature = "INVALID_MEDIA_SIGNATURE"
	ReasonMediaNotHTTPS  = "MEDIA_URL_NOT_HTTPS"
)

// DefaultMediaMaxBytes bounds one medium unless configured otherwise.
const DefaultMediaMaxBytes = 25 << 20

// StoredMedia is a medium whose bytes convo holds: an inbound message's
// attachment once downloaded, or an upload for sending. Its ID is the id of
// the medium in the message's medias.
type StoredMedia struct {
	ID         string
	CustomerID string
	// ConversationID and MessageID are the NilID for an upload.
	ConversationID string
	MessageID      string
	Type           string
	// Filename is the name shown to whoever downloads it.
	Filename    string
	ContentType string
	Size        int64
	// Backend is where the bytes are: "db" or "s3".
	Backend  string
	TMCreate Time
	TMUpdate Time
}

// Media storage backends.
const (
	MediaBackendDB = "db"
	MediaBackendS3 = "s3"
)

// MediaBlobs keeps the bytes of media, by medium id.
type MediaBlobs interface {
	// Name is the backend's name (MediaBackendDB, MediaBackendS3).
	Name() string
	Put(ctx context.Context, id, contentType string, data []byte) error
	// Open streams the bytes; an ENotFound *Error when there are none.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	Delete(ctx context.Context, id string) error
}

// MediaFetcher is implemented by channels whose inbound media need the
// account's credentials to download (all three today).
type MediaFetcher interface {
	// FetchesMedia reports whether url is the provider's own, which convo
	// downloads; others (a LINE external content URL, a sticker CDN, a
	// location) are kept as given.
	FetchesMedia(url string) bool
	// FetchMedia opens a medium the provider holds for account a. A failure
	// is a *ChannelError saying whether trying again may help.
	FetchMedia(ctx context.Context, a *Account, url string) (FetchedMedia, error)
}

// FetchedMedia is a medium being downloaded.
type FetchedMedia struct {
	Body        io.ReadCloser
	ContentType string
	// Size is the size the provider announces; -1 when unknown.
	Size int64
}

// MediaLimit is what a provider accepts of one kind of medium.
type MediaLimit struct {
	Types    []string
	MaxBytes int64
}

// channelMediaLimits are the providers' documented limits on media sent
// to them (WhatsApp Cloud API supported media types, LINE Messaging API
// message objects, Twilio MMS). A type the table lacks is refused.
var channelMediaLimits = map[string]map[string]MediaLimit{
	AccountWhatsApp: {
		MediaImage: {Types: []string{"image/jpeg", "image/png"}, MaxBytes: 5 << 20},
		MediaVideo: {Types: []string{"video/mp4", "video/3gpp", "video/3gp"}, MaxBytes: 16 << 20},
		MediaAudio: {Types: []string{"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, MaxBytes: 16 << 20},
		MediaFile: {Types: []string{"text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
			"application/vnd.openxmlformats-officedocument.presentationml.presentation"}, MaxBytes: 100 << 20},
	},
	AccountLine: {
		MediaImage: {Types: []string{"image/jpeg", "image/png"}, MaxBytes: 10 << 20},
		MediaVideo: {Types: []string{"video/mp4"}, MaxBytes: 200 << 20},
		MediaAudio: {Types: []string{"audio/mp4", "audio/x-m4a", "audio/m4a"}, MaxBytes: 200 << 20},
	},
	AccountSMS: {
		MediaImage: {Types: []string{"image/jpeg", "image/png", "image/gif"}, MaxBytes: 5 << 20},
		MediaVideo: {Types: nil, MaxBytes: 5 << 20},
		MediaAudio: {Types: nil, MaxBytes: 5 << 20},
		MediaFile:  {Types: nil, MaxBytes: 5 << 20},
	},
}

// CheckChannelMedia refuses a medium of type typ, content type ct and size
// bytes that the provider of accountType would refuse, naming the limit.
func CheckChannelMedia(accountType, typ, ct string, size int64) error {
	limits, ok := channelMediaLimits[accountType]
	if !ok {
		return nil
	}
	l, ok := limits[typ]
	if !ok {
		return Invalid(ReasonMediaType, "%s does not take %s media", accountType, typ)
	}
	ct = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	if len(l.Types) > 0 && !containsString(l.Types, ct) {
		return Invalid(ReasonMediaType, "%s takes %s media of type %s only, not %q", accountType, typ, strings.Join(l.Types, ", "), ct)
	}
	if size > l.MaxBytes {
		return Invalid(ReasonMediaTooLarge, "%s takes %s media up to %s, this one has %d bytes", accountType, typ, FormatBytes(l.MaxBytes), size)
	}
	return nil
}

// TwilioMaxMessageBytes is Twilio's limit on the media of one MMS together.
const TwilioMaxMessageBytes = 5 << 20

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FormatBytes writes n as MB or KB when it is a whole number of them.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// MediaTypeOf is convo's media type for a content type.
func MediaTypeOf(contentType string) string {
	switch {
	case strings.HasPrefix(contentType, "image/"):
		return MediaImage
	case strings.HasPrefix(contentType, "video/"):
		return MediaVideo
	case strings.HasPrefix(contentType, "audio/"):
		return MediaAudio
	}
	return MediaFile
}
