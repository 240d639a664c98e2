package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// ---------------------------------------------------------------- regressions of VoIPbin's defects (PRODUCT.md §9)

// VoIPbin matches inbound traffic to conversations across tenants.
func TestRegressionInboundNeverCrossesTenants(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		_, keyB := e.ts.superAdmin(t).newCustomer()
		bAPI := e.as(t, keyB)
		types := []string{convo.AccountSMS, convo.AccountLine, convo.AccountWhatsApp}
		accA, accB := map[string]*testAccount{}, map[string]*testAccount{}
		for _, typ := range types {
			accA[typ], accB[typ] = e.newAccount(a, typ), e.newAccount(bAPI, typ)
		}
		phone, lineUserID, wa := uniquePhone(), lineID('U'), waID()
		sharedLineMsgID := lineMessageID()
		// deliver sends one message from the shared peer to acc's hook.
		deliver := func(acc *testAccount, text, lineMsgID string) {
			t.Helper()
			var r *response
			switch acc.Type {
			case convo.AccountSMS:
				r = e.postTwilio(t, acc, acc.Hook, smsForm(acc, phone, text))
			case convo.AccountLine:
				r = e.postLine(t, acc, lineWebhook(lineMessage(lineUser(lineUserID), map[string]any{"id": lineMsgID, "type": "text", "text": text})))
			case convo.AccountWhatsApp:
				r = e.postWhatsApp(t, acc, waWebhook(acc, waInbound(wa, "Gus", waText(text))))
			}
			wantStatus(t, r, http.StatusOK)
		}
		dialog := map[string]string{convo.AccountSMS: phone, convo.AccountLine: lineUserID, convo.AccountWhatsApp: wa}

		// B knows the peer first, on every channel, and has replied on WhatsApp and SMS.
		convB := map[string]string{}
		replyB := map[string]string{}
		for _, typ := range types {
			deliver(accB[typ], "to B", sharedLineMsgID)
			convB[typ] = str(t, convWith(bAPI, accB[typ].ID, dialog[typ]), "id")
			if typ != convo.AccountLine {
				replyB[typ] = str(t, send(bAPI, convB[typ], map[string]any{"text": "B answers"}), "id")
			}
		}
		waitStatus(bAPI, convB[convo.AccountWhatsApp], replyB[convo.AccountWhatsApp], "done")
		// Twilio reports B's SMS delivered, so that B's messages are final.
		var smsB fakeprovider.TwilioSend
		eventually(t, 5*time.Second, func() error {
			for _, s := range e.tw.Sent() {
				if s.AccountSID == accB[convo.AccountSMS].SID {
					smsB = s
					return nil
				}
			}
			return fmt.Errorf("B's SMS did not reach Twilio")
		})
		wantStatus(t, e.postTwilio(t, accB[convo.AccountSMS], smsB.StatusCallback, smsStatusForm(accB[convo.AccountSMS], smsB.SID, phone, "delivered")), http.StatusOK)
		waitStatus(bAPI, convB[convo.AccountSMS], replyB[convo.AccountSMS], "done")
		snapshotB := func() map[string]any {
			out := map[string]any{}
			for _, typ := range types {
				out[typ] = []any{bAPI.ok("GET", "/v1.0/conversations/"+convB[typ], nil), msgsOf(bAPI, convB[typ])}
			}
			out["list"] = bAPI.ok("GET", "/v1.0/conversations", nil)["result"]
			return out
		}
		before := snapshotB()

		// The same peer writes to A, with the same LINE message id as B's.
		for _, typ := range types {
			deliver(accA[typ], "to A", sharedLineMsgID)
			c := convWith(a, accA[typ].ID, dialog[typ])
			if c["customer_id"] != e.ts.CustomerID || c["id"] == convB[typ] {
				t.Errorf("%s: A's message landed in %v (customer %v)", typ, c["id"], c["customer_id"])
			}
			if msgs := msgsOf(a, str(t, c, "id")); len(msgs) != 1 || msgs[0]["text"] != "to A" {
				t.Errorf("%s: A's conversation holds %v, want only A's message", typ, msgs)
			}
		}
		// Status reports through A's hooks naming B's messages change nothing.
		acA := accA[convo.AccountSMS]
		wantStatus(t, e.postTwilio(t, acA, acA.Hook+"/status?message_id="+replyB[convo.AccountSMS], smsStatusForm(acA, smsB.SID, phone, "failed")), http.StatusOK)
		var wamidB string
		for _, s := range e.wa.Sent() {
			if s.PhoneNumberID == accB[convo.AccountWhatsApp].PhoneNumberID {
				wamidB = s.WAMID
			}
		}
		waA := accA[convo.AccountWhatsApp]
		wantStatus(t, e.postWhatsApp(t, waA, waWebhook(waA, waStatus(wamidB, "failed", wa))), http.StatusOK)
		// A request signed with B's secrets on A's hook is refused.
		body := lineWebhook(lineMessage(lineUser(lineUserID), lineText("signed by B")))
		wantRefused(t, mustHookPost(t, accA[convo.AccountLine].Hook, "application/json", body, header("X-Line-Signature", lineSignature(accB[convo.AccountLine].Secret, body))), 401, convo.EUnauthorized, "")

		if after := snapshotB(); !reflect.DeepEqual(before, after) {
			t.Errorf("traffic to customer A changed customer B's data:\nbefore %v\nafter  %v", before, after)
		}
		if list := rows(t, a.ok("GET", "/v1.0/conversations", nil)); len(list) != 3 {
			t.Errorf("customer A sees %d conversations, want its 3", len(list))
		}
	})
}

// VoIPbin never checks LINE signatures.
func TestRegressionLineSignatureChecked(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc, other := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountLine)
		body := lineWebhook(lineMessage(lineUser(lineID('U')), lineText("trust me")))
		mac := hmac.New(sha256.New, []byte(acc.Secret))
		mac.Write(body)
		for name, h := range map[string]http.Header{
			"missing":                       nil,
			"empty":                         header("X-Line-Signature", ""),
			"not base64":                    header("X-Line-Signature", "!!not-base64!!"),
			"hex instead of base64":         header("X-Line-Signature", hex.EncodeToString(mac.Sum(nil))),
			"signed with another channel":   header("X-Line-Signature", lineSignature(other.Secret, body)),
			"signature of another body":     header("X-Line-Signature", lineSignature(acc.Secret, lineWebhook())),
			"signed with the channel token": header("X-Line-Signature", lineSignature(acc.Token, body)),
			"signature in the wrong header": header("X-Signature", lineSignature(acc.Secret, body)),
			"truncated signature":           header("X-Line-Signature", lineSignature(acc.Secret, body)[:20]),
		} {
			t.Run(name, func(t *testing.T) {
				wantRefused(t, mustHookPost(t, acc.Hook, "application/json", body, h), http.StatusUnauthorized, convo.EUnauthorized, "")
			})
		}
		if n := len(convsOf(a, acc.ID)); n != 0 {
			t.Fatalf("%d conversations stored from unsigned or forged webhooks", n)
		}
		// The genuine request is accepted.
		wantStatus(t, e.postLine(t, acc, body), http.StatusOK)
		if n := len(convsOf(a, acc.ID)); n != 1 {
			t.Errorf("%d conversations after the signed webhook, want 1", n)
		}
	})
}

// VoIPbin creates LINE conversations without an account, so replies fail.
func TestRegressionLineConversationHasAccount(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		first, second := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountLine)
		user := lineID('U')
		wantStatus(t, e.postLine(t, first, lineWebhook(lineEvent("follow", lineUser(user)))), http.StatusOK)
		wantStatus(t, e.postLine(t, second, lineWebhook(lineMessage(lineUser(user), lineText("question")))), http.StatusOK)
		c1, c2 := convWith(a, first.ID, user), convWith(a, second.ID, user)
		if c1["account_id"] != first.ID || c2["account_id"] != second.ID || c1["id"] == c2["id"] {
			t.Fatalf("conversations %v / %v, want one per account, each with its account_id", c1, c2)
		}
		for _, c := range []struct {
			conv map[string]any
			acc  *testAccount
		}{{c2, second}, {c1, first}} {
			m := send(a, str(t, c.conv, "id"), map[string]any{"text": "answer via " + c.acc.ID})
			waitStatus(a, str(t, c.conv, "id"), str(t, m, "id"), "done")
		}
		pushes := e.line.Sent()
		if len(pushes) != 2 {
			t.Fatalf("LINE received %d pushes, want 2", len(pushes))
		}
		for _, p := range pushes {
			want := map[string]string{first.Token: "answer via " + first.ID, second.Token: "answer via " + second.ID}[p.Token]
			if p.To != user || len(p.Messages) != 1 || p.Messages[0].Text != want || want == "" {
				t.Errorf("push %+v went out with the wrong channel token or text", p)
			}
		}
	})
}

// VoIPbin stores provider retries twice.
func TestRegressionProviderRetryStoredOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		type delivery struct {
			target, ctype string
			body          []byte
			header        http.Header
		}
		// first and retry are a message and the provider's redelivery of it;
		// dialog is the peer's dialog id.
		cases := map[string]func(acc *testAccount) (first, retry delivery, dialog string){
			convo.AccountLine: func(acc *testAccount) (delivery, delivery, string) {
				user := lineID('U')
				ev := lineMessage(lineUser(user), lineText("once"))
				b1, b2 := lineWebhook(ev), lineWebhook(lineRedelivery(ev))
				return delivery{acc.Hook, "application/json", b1, header("X-Line-Signature", lineSignature(acc.Secret, b1))},
					delivery{acc.Hook, "application/json", b2, header("X-Line-Signature", lineSignature(acc.Secret, b2))}, user
			},
			convo.AccountWhatsApp: func(acc *testAccount) (delivery, delivery, string) {
				user := waID()
				body := waWebhook(acc, waInbound(user, "Hal", waText("once")))
				d := delivery{acc.Hook, "application/json", body, header("X-Hub-Signature-256", metaSignature(acc.AppSecret, body))}
				return d, d, user
			},
			convo.AccountSMS: func(acc *testAccount) (delivery, delivery, string) {
				peer := uniquePhone()
				form := smsForm(acc, peer, "once")
				d := delivery{acc.Hook, "application/x-www-form-urlencoded", []byte(form.Encode()), header("X-Twilio-Signature", twilioSignature(t, acc.Token, acc.Hook, form))}
				return d, d, peer
			},
		}
		for typ, build := range cases {
			t.Run(typ, func(t *testing.T) {
				a := a.in(t)
				acc := e.newAccount(a, typ)
				storedOnce := func(dialog string) {
					t.Helper()
					c := convWith(a, acc.ID, dialog)
					if msgs := msgsOf(a, str(t, c, "id")); len(msgs) != 1 {
						t.Errorf("%d messages stored, want 1", len(msgs))
					}
				}
				first, retry, dialog := build(acc)
				for _, d := range []delivery{first, retry} {
					wantStatus(t, mustHookPost(t, d.target, d.ctype, d.body, d.header), http.StatusOK)
				}
				storedOnce(dialog)

				// 20 concurrent copies of a new message, each acknowledged.
				d, _, dialog := build(acc)
				var wg sync.WaitGroup
				results := make(chan string, 20)
				for range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := hookPost(d.target, d.ctype, d.body, d.header)
						switch {
						case err != nil:
							results <- err.Error()
						case r.Status != http.StatusOK:
							results <- fmt.Sprintf("status %d: %s", r.Status, r.Body)
						default:
							results <- ""
						}
					}()
				}
				wg.Wait()
				close(results)
				for res := range results {
					if res != "" {
						t.Errorf("a concurrent copy was not acknowledged: %s", res)
					}
				}
				storedOnce(dialog)
				if n := len(convsOf(a, acc.ID)); n != 2 {
					t.Errorf("%d conversations, want 2 (one per peer)", n)
				}
			})
		}
	})
}

// VoIPbin returns the WhatsApp app_secret.
func TestRegressionAppSecretNeverReturned(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		answers := []*response{
			a.do("GET", "/v1.0/conversation_accounts/"+acc.ID, nil),
			a.do("GET", "/v1.0/conversation_accounts", nil),
			a.do("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"name": "renamed", "provider_data": map[string]any{"phone_number_id": acc.PhoneNumberID}}),
		}
		for _, r := range answers {
			wantStatus(t, r, http.StatusOK)
			for _, leak := range []string{acc.AppSecret, "app_secret", acc.Token, acc.Secret} {
				if bytes.Contains(r.Body, []byte(leak)) {
					t.Errorf("an account answer shows %q:\n%s", leak, r.Body)
				}
			}
		}
		pd := obj(t, answers[2].JSON(t), "provider_data")
		if pd["phone_number_id"] != acc.PhoneNumberID {
			t.Errorf("provider_data %v lost phone_number_id", pd)
		}
		// The hidden secret is still in force: Meta's signature with it is accepted.
		user := waID()
		wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Ivy", waText("still signed")))), http.StatusOK)
		convWith(a, acc.ID, user)
	})
}
