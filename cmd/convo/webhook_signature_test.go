package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"mime"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// checkSignedRequest checks the envelope and both signatures of a webhook.
func checkSignedRequest(t testing.TB, r webhooktest.Request, method, secret string, verifier *standardwebhooks.Webhook) {
	t.Helper()
	if r.Method != method {
		t.Errorf("%s: method %s, want %s", r.Type, r.Method, method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r.Type, r.Header.Get("Content-Type"))
	}
	if ua := r.Header.Get("User-Agent"); !strings.Contains(strings.ToLower(ua), "convo") || !strings.Contains(ua, convo.Version) {
		t.Errorf("%s: User-Agent %q does not name convo and its version %s", r.Type, ua, convo.Version)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v\n%s", r.Type, err, r.Body)
	}
	if keys := slices.Sorted(maps.Keys(env)); !slices.Equal(keys, []string{"data", "type"}) {
		t.Errorf("%s: body keys %v, want exactly type and data", r.Type, keys)
	}
	if err := webhooktest.CheckVoIPbinSignature(r, secret); err != nil {
		t.Errorf("%s: %v", r.Type, err)
	}
	if r.ID == "" || r.Header.Get("webhook-timestamp") == "" || r.Header.Get("webhook-signature") == "" {
		t.Errorf("%s: Standard Webhooks headers missing: %v", r.Type, r.Header)
	}
	if err := verifier.Verify(r.Body, r.Header); err != nil {
		t.Errorf("%s: Standard Webhooks verification failed: %v (headers %v)", r.Type, err, r.Header)
	}
	wrong, _ := standardwebhooks.NewWebhookRaw([]byte("not-" + secret))
	if wrong.Verify(r.Body, r.Header) == nil {
		t.Errorf("%s: the signature also verifies with a wrong key", r.Type)
	}
	tampered := bytes.Replace(r.Body, []byte(`"type"`), []byte(`"type" `), 1)
	if verifier.Verify(tampered, r.Header) == nil {
		t.Errorf("%s: the signature also verifies a changed body", r.Type)
	}
}

func TestWebhookSignatures(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks())
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)

		key := make([]byte, 32)
		rand.Read(key)
		whsec := "whsec_" + base64.StdEncoding.EncodeToString(key)
		raw := "plain-secret-" + randomKey(12)
		rawVerifier, _ := standardwebhooks.NewWebhookRaw([]byte(raw))
		whsecVerifier, err := standardwebhooks.NewWebhook(whsec)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, method, secret string
			verifier             *standardwebhooks.Webhook
		}{
			{"raw secret, POST", "POST", raw, rawVerifier},
			{"whsec secret, PUT", "PUT", whsec, whsecVerifier},
		} {
			t.Run(c.name, func(t *testing.T) {
				setWebhook(admin, c.method, rcv.URL(), c.secret)
				acc := newSMSHookAccount(admin)
				conv := admin.newConversation(acc.ID)
				convID := sget(conv, "id")

				accReq := rcv.WaitFor(t, convo.EventAccountCreated, acc.ID)
				convReq := rcv.WaitFor(t, convo.EventConversationCreated, convID)
				checkSignedRequest(t, accReq, c.method, c.secret, c.verifier)
				checkSignedRequest(t, convReq, c.method, c.secret, c.verifier)

				if got := admin.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil); !sameJSON(accReq.Data, got) {
					t.Errorf("account_created data differs from GET:\n got %v\nwant %v", accReq.Data, got)
				}
				got := admin.ok("GET", "/v1.0/conversations/"+convID, nil)
				if got["owner_id"] != convo.NilID {
					t.Fatalf("a new conversation has owner_id %v", got["owner_id"])
				}
				if !sameJSON(convReq.Data, webhookForm(got)) || convReq.Data["owner_id"] != "" {
					t.Errorf("conversation_created data differs from GET (with owner_id \"\"):\n got %v\nwant %v", convReq.Data, webhookForm(got))
				}
				// The webhook-id names the event in /webhook_deliveries.
				if d := deliveryByID(admin, convReq.ID); d.Type != convo.EventConversationCreated || !sameJSON(d.Payload, convReq.Body) {
					t.Errorf("delivery %s: type %s payload %s, want the webhook's %s", d.ID, d.Type, d.Payload, convReq.Body)
				}
				if c.secret == whsec {
					// The whsec_ form keys with the decoded bytes, not the text.
					literal, _ := standardwebhooks.NewWebhookRaw([]byte(whsec))
					if literal.Verify(convReq.Body, convReq.Header) == nil {
						t.Error("a whsec_ secret was used as literal text, not as its base64-decoded key")
					}
				}
			})
		}

		t.Run("no secret, no signatures", func(t *testing.T) {
			setWebhook(admin, "POST", rcv.URL(), "")
			acc := newSMSHookAccount(admin)
			r := rcv.WaitFor(t, convo.EventAccountCreated, acc.ID)
			if r.Header.Get("X-VoIPBIN-Signature") != "" || r.Header.Get("webhook-signature") != "" {
				t.Errorf("a customer without a secret got signature headers: %v", r.Header)
			}
			if got := admin.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil); !sameJSON(r.Data, got) {
				t.Errorf("account_created data differs from GET:\n got %v\nwant %v", r.Data, got)
			}
			if sec := admin.ok("GET", "/v1.0/customer", nil); sec["webhook_secret"] != nil {
				t.Errorf("GET /customer shows webhook_secret: %v", sec)
			}
		})
	})
}
