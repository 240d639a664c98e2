// Package line speaks the LINE Messaging API: it checks the signatures of
// its hooks (LINE calls them webhooks), reads their events and pushes messages.
package line

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"net/url"
	"strings"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// DefaultBaseURL is the LINE Messaging API host.
const DefaultBaseURL = "https://api.line.me"

// DefaultDataURL is the LINE host that serves message content.
const DefaultDataURL = "https://api-data.line.me"

// ValidSignature reports whether signature (the X-Line-Signature header) is
// base64(HMAC-SHA256(channel secret, body)), compared in constant time.
func ValidSignature(channelSecret string, body []byte, signature string) bool {
	if channelSecret == "" || signature == "" {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(channelSecret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

type hookBody struct {
	Destination string  `json:"destination"`
	Events      []event `json:"events"`
}

type event struct {
	Type           string `json:"type"`
	WebhookEventID string `json:"webhookEventId"`
	ReplyToken     string `json:"replyToken"`
	Source         struct {
		Type    string `json:"type"`
		UserID  string `json:"userId"`
		GroupID string `json:"groupId"`
		RoomID  string `json:"roomId"`
	} `json:"source"`
	Message *struct {
		ID              string  `json:"id"`
		Type            string  `json:"type"`
		Text            string  `json:"text"`
		FileName        string  `json:"fileName"`
		Title           string  `json:"title"`
		Address         string  `json:"address"`
		Latitude        float64 `json:"latitude"`
		Longitude       float64 `json:"longitude"`
		StickerID       string  `json:"stickerId"`
		ContentProvider struct {
			Type               string `json:"type"`
			OriginalContentURL string `json:"originalContentUrl"`
		} `json:"contentProvider"`
	} `json:"message"`
}

// Parse reads a hook body into what convo stores. dataURL is the base of
// LINE's content API, used as the media URL of content LINE hosts.
func Parse(body []byte, dataURL string) (*convo.Inbound, error) {
	var w hookBody
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("line: hook body: %w", err)
	}
	in := &convo.Inbound{}
	for _, e := range w.Events {
		peer, ok := peerOf(e)
		if !ok {
			continue
		}
		switch e.Type {
		case "follow", "join":
			in.Follows = append(in.Follows, peer)
		case "message":
			if e.Message == nil || e.Message.ID == "" {
				continue
			}
			m := convo.InboundMessage{InboundPeer: peer, ProviderID: e.Message.ID}
			msg := e.Message
			switch msg.Type {
			case "text":
				m.Text = msg.Text
			case "image", "video", "audio", "file":
				u := msg.ContentProvider.OriginalContentURL
				if msg.ContentProvider.Type != "external" || u == "" {
					u = strings.TrimRight(dataURL, "/") + "/v2/bot/message/" + url.PathEscape(msg.ID) + "/content"
				}
				m.Medias = []convo.InboundMedia{{Type: msg.Type, URL: u}}
				m.Text = msg.FileName
			case "location":
				m.Text = strings.TrimSpace(msg.Title + " " + msg.Address)
				m.Medias = []convo.InboundMedia{{Type: convo.MediaLocation, URL: fmt.Sprintf("geo:%g,%g", msg.Latitude, msg.Longitude)}}
			case "sticker":
				m.Medias = []convo.InboundMedia{{Type: convo.MediaSticker,
					URL: "https://stickershop.line-scdn.net/stickershop/v1/sticker/" + url.PathEscape(msg.StickerID) + "/android/sticker.png"}}
			default:
				m.Text = "[" + msg.Type + "]"
			}
			in.Messages = append(in.Messages, m)
		}
	}
	return in, nil
}

// peerOf names the dialog of an event: the group or room when there is one,
// else the user.
func peerOf(e event) (convo.InboundPeer, bool) {
	id := e.Source.UserID
	switch e.Source.Type {
	case "group":
		id = e.Source.GroupID
	case "room":
		id = e.Source.RoomID
	}
	if id == "" {
		return convo.InboundPeer{}, false
	}
	return convo.InboundPeer{DialogID: id, Peer: convo.Address{Type: convo.AddressLine, Target: id}, ReplyToken: e.ReplyToken}, true
}

// Client calls the LINE Messaging API.
type Client struct {
	BaseURL string
	// DataURL hosts message content (api-data.line.me); BaseURL when empty.
	DataURL string
	HTTP    *http.Client
	// VideoPreviewURL is the image LINE shows for a video before it plays
	// (LINE requires one; convo has none of its own for a video).
	VideoPreviewURL string
}

// ReadHook checks X-Line-Signature with the channel secret and reads the events.
func (c *Client) ReadHook(a *convo.Account, h convo.HookRequest) (*convo.Inbound, error) {
	if h.Kind != convo.HookMessage {
		return nil, convo.NotFound("ROUTE_NOT_FOUND", "hook")
	}
	if !ValidSignature(a.Secret, h.Body, h.Header("X-Line-Signature")) {
		return nil, convo.ErrBadSignature
	}
	dataURL := c.DataURL
	if dataURL == "" {
		dataURL = c.BaseURL
	}
	in, err := Parse(h.Body, dataURL)
	if err != nil {
		return nil, convo.ErrBadPayload
	}
	return in, nil
}

// VerifySubscription: LINE has no GET handshake.
func (c *Client) VerifySubscription(*convo.Account, url.Values) (string, bool) { return "", false }

// DisplayName returns a user's display name, or a group's name.
func (c *Client) DisplayName(ctx context.Context, a *convo.Account, dialogID string) (string, error) {
	path := "/v2/bot/profile/" + url.PathEscape(dialogID)
	switch {
	case strings.HasPrefix(dialogID, "C"):
		path = "/v2/bot/group/" + url.PathEscape(dialogID) + "/summary"
	case strings.HasPrefix(dialogID, "R"):
		return "", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	var answer struct {
		DisplayName string `json:"displayName"`
		GroupName   string `json:"groupName"`
	}
	if _, err := providerhttp.Do(c.HTTP, req, &answer); err != nil {
		return "", err
	}
	return answer.DisplayName + answer.GroupName, nil
}

var _ convo.Channel = (*Client)(nil)
