package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// ---------------------------------------------------------------- hooks that must be refused

func TestHookRejections(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		line, wa, sms := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountWhatsApp), e.newAccount(a, convo.AccountSMS)
		lineBody := lineWebhook(lineMessage(lineUser(lineID('U')), lineText("x")))
		waBody := waWebhook(wa, waInbound(waID(), "Eve", waText("x")))
		form := smsForm(sms, uniquePhone(), "x")
		formBody := []byte(form.Encode())
		const jsonType, formType = "application/json", "application/x-www-form-urlencoded"
		lineSig := func(secret string, body []byte) http.Header {
			return header("X-Line-Signature", lineSignature(secret, body))
		}
		metaSig := func(v string) http.Header { return header("X-Hub-Signature-256", v) }
		twSig := func(v string) http.Header { return header("X-Twilio-Signature", v) }
		unknown := e.ts.URL() + "/v1.0/conversation/accounts/" + convo.NewID()
		tampered := url.Values{}
		for k, v := range form {
			tampered[k] = v
		}
		tampered.Set("Body", "changed on the way")

		cases := []struct {
			name, target, ctype string
			body                []byte
			header              http.Header
			code                int
			status              string
		}{
			{"unknown account", unknown, jsonType, lineBody, lineSig(line.Secret, lineBody), 404, convo.ENotFound},
			{"malformed account id", e.ts.URL() + "/v1.0/conversation/accounts/not-an-id", jsonType, lineBody, lineSig(line.Secret, lineBody), 404, convo.ENotFound},
			{"LINE request to a WhatsApp account", wa.Hook, jsonType, lineBody, lineSig(line.Secret, lineBody), 401, convo.EUnauthorized},
			{"LINE-style signature with the WhatsApp app secret", wa.Hook, jsonType, waBody, lineSig(wa.AppSecret, waBody), 401, convo.EUnauthorized},
			{"WhatsApp request to an SMS account", sms.Hook, jsonType, waBody, metaSig(metaSignature(wa.AppSecret, waBody)), 401, convo.EUnauthorized},
			{"Twilio request to a LINE account", line.Hook, formType, formBody, twSig(twilioSignature(t, sms.Token, line.Hook, form)), 401, convo.EUnauthorized},
			{"status callback path of a LINE account", line.Hook + "/status", jsonType, lineBody, lineSig(line.Secret, lineBody), 404, convo.ENotFound},
			{"WhatsApp without signature", wa.Hook, jsonType, waBody, nil, 401, convo.EUnauthorized},
			{"WhatsApp with a malformed signature", wa.Hook, jsonType, waBody, metaSig("sha256=not-hex"), 401, convo.EUnauthorized},
			{"WhatsApp signature without its sha256= prefix", wa.Hook, jsonType, waBody, metaSig(strings.TrimPrefix(metaSignature(wa.AppSecret, waBody), "sha256=")), 401, convo.EUnauthorized},
			{"WhatsApp signed with the verify token", wa.Hook, jsonType, waBody, metaSig(metaSignature(wa.Secret, waBody)), 401, convo.EUnauthorized},
			{"WhatsApp signature of another body", wa.Hook, jsonType, waBody, metaSig(metaSignature(wa.AppSecret, lineBody)), 401, convo.EUnauthorized},
			{"Twilio without signature", sms.Hook, formType, formBody, nil, 401, convo.EUnauthorized},
			{"Twilio with a malformed signature", sms.Hook, formType, formBody, twSig("%%%"), 401, convo.EUnauthorized},
			{"Twilio signed with another auth token", sms.Hook, formType, formBody, twSig(twilioSignature(t, "another-token", sms.Hook, form)), 401, convo.EUnauthorized},
			{"Twilio signed over another URL", sms.Hook, formType, formBody, twSig(twilioSignature(t, sms.Token, "https://attacker.example"+strings.TrimPrefix(sms.Hook, e.ts.URL()), form)), 401, convo.EUnauthorized},
			{"Twilio form changed after signing", sms.Hook, formType, []byte(tampered.Encode()), twSig(twilioSignature(t, sms.Token, sms.Hook, form)), 401, convo.EUnauthorized},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantRefused(t, mustHookPost(t, c.target, c.ctype, c.body, c.header), c.code, c.status, "")
			})
		}
		for _, acc := range []*testAccount{line, wa, sms} {
			if n := len(convsOf(a, acc.ID)); n != 0 {
				t.Errorf("%s account: %d conversations stored from refused requests", acc.Type, n)
			}
		}

		t.Run("deleted account", func(t *testing.T) {
			a := e.admin(t)
			gone := e.newAccount(a, convo.AccountLine)
			a.ok("DELETE", "/v1.0/conversation_accounts/"+gone.ID, nil)
			wantRefused(t, e.postLine(t, gone, lineWebhook(lineMessage(lineUser(lineID('U')), lineText("anyone?")))), 404, convo.ENotFound, convo.ReasonAccountNotFound)
			if n := len(convsOf(a, gone.ID)); n != 0 {
				t.Errorf("%d conversations stored for a deleted account", n)
			}
		})

		t.Run("bodies over 1 MiB", func(t *testing.T) {
			a := e.admin(t)
			big := strings.Repeat("x", 1<<20+1)
			lineBig := lineWebhook(lineMessage(lineUser(lineID('U')), lineText(big)))
			waBig := waWebhook(wa, waInbound(waID(), "Eve", waText(big)))
			smsBig := smsForm(sms, uniquePhone(), big)
			for _, r := range []*response{
				e.postLine(t, line, lineBig), e.postWhatsApp(t, wa, waBig), e.postTwilio(t, sms, sms.Hook, smsBig),
			} {
				wantRefused(t, r, http.StatusRequestEntityTooLarge, convo.EInvalid, "")
			}
			for _, acc := range []*testAccount{line, wa, sms} {
				if n := len(convsOf(a, acc.ID)); n != 0 {
					t.Errorf("%s account: %d conversations stored from an oversized body", acc.Type, n)
				}
			}
		})
	})
}
