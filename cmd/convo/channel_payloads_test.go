package main

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ---------------------------------------------------------------- provider payloads

// lineID returns a LINE userId (kind 'U'), groupId ('C') or roomId ('R').
func lineID(kind byte) string { return string(kind) + randomHexString(16) }

func lineMessageID() string { return strconv.FormatInt(480000000000000000+testIDs.Add(1), 10) }

func lineUser(userID string) map[string]any { return map[string]any{"type": "user", "userId": userID} }

func lineWebhook(events ...map[string]any) []byte {
	if events == nil {
		events = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"destination": "Ubot" + randomHexString(14), "events": events})
	return b
}

func lineEvent(typ string, source map[string]any) map[string]any {
	return map[string]any{
		"type": typ, "mode": "active", "timestamp": time.Now().UnixMilli(), "source": source,
		"webhookEventId": "01H" + strings.ToUpper(randomHexString(12)), "replyToken": randomHexString(16),
		"deliveryContext": map[string]any{"isRedelivery": false},
	}
}

// lineMessage is a message event; message gets an id when it has none.
func lineMessage(source, message map[string]any) map[string]any {
	if message["id"] == nil {
		message["id"] = lineMessageID()
	}
	ev := lineEvent("message", source)
	ev["message"] = message
	return ev
}

func lineText(text string) map[string]any {
	return map[string]any{"type": "text", "text": text, "quoteToken": randomHexString(8)}
}

// lineRedelivery is LINE's redelivery of ev: same event and message, flagged.
func lineRedelivery(ev map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range ev {
		c[k] = v
	}
	delete(c, "replyToken")
	c["deliveryContext"] = map[string]any{"isRedelivery": true}
	return c
}

// waID returns a fresh WhatsApp id (a phone number's digits).
func waID() string { return uniquePhone()[1:] }

func waMessageID() string { return "wamid.HBgL" + strings.ToUpper(randomHexString(20)) + "AA==" }

// waWebhook wraps a change value into a notification for acc's number.
func waWebhook(acc *testAccount, value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]any{"display_phone_number": acc.DisplayNumber[1:], "phone_number_id": acc.PhoneNumberID}
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "102290129340398", "changes": []any{
			map[string]any{"field": "messages", "value": value},
		}}},
	})
	return b
}

// waInbound is the change value of one message from a user.
func waInbound(from, name string, message map[string]any) map[string]any {
	if message["id"] == nil {
		message["id"] = waMessageID()
	}
	message["from"] = from
	message["timestamp"] = strconv.FormatInt(time.Now().Unix(), 10)
	return map[string]any{
		"contacts": []any{map[string]any{"profile": map[string]any{"name": name}, "wa_id": from}},
		"messages": []any{message},
	}
}

func waText(text string) map[string]any {
	return map[string]any{"type": "text", "text": map[string]any{"body": text}}
}

// waStatus is the change value of a status report on a sent message.
func waStatus(wamid, status, recipient string) map[string]any {
	s := map[string]any{"id": wamid, "status": status, "timestamp": strconv.FormatInt(time.Now().Unix(), 10), "recipient_id": recipient}
	if status == "failed" {
		s["errors"] = []any{map[string]any{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}}
	} else {
		s["conversation"] = map[string]any{"id": randomHexString(16), "origin": map[string]any{"type": "service"}}
		s["pricing"] = map[string]any{"billable": true, "pricing_model": "CBP", "category": "service"}
	}
	return map[string]any{"statuses": []any{s}}
}

// smsForm is Twilio's incoming-message webhook form; medias are
// (content type, URL) pairs.
func smsForm(acc *testAccount, from, body string, medias ...[2]string) url.Values {
	sid := "SM" + randomHexString(16)
	if len(medias) > 0 {
		sid = "MM" + randomHexString(16)
	}
	v := url.Values{
		"ToCountry": {"US"}, "ToState": {"CA"}, "SmsMessageSid": {sid}, "NumMedia": {strconv.Itoa(len(medias))},
		"ToCity": {"SAN FRANCISCO"}, "FromZip": {"94105"}, "SmsSid": {sid}, "FromState": {"CA"}, "SmsStatus": {"received"},
		"FromCity": {"SAN FRANCISCO"}, "Body": {body}, "FromCountry": {"US"}, "To": {acc.Number}, "ToZip": {"94105"},
		"NumSegments": {"1"}, "MessageSid": {sid}, "AccountSid": {acc.SID}, "From": {from}, "ApiVersion": {"2010-04-01"},
	}
	for i, m := range medias {
		v.Set("MediaContentType"+strconv.Itoa(i), m[0])
		v.Set("MediaUrl"+strconv.Itoa(i), m[1])
	}
	return v
}

// smsStatusForm is Twilio's status callback form for a sent message.
func smsStatusForm(acc *testAccount, sid, to, status string) url.Values {
	v := url.Values{"SmsSid": {sid}, "SmsStatus": {status}, "MessageStatus": {status}, "To": {to}, "MessageSid": {sid},
		"AccountSid": {acc.SID}, "From": {acc.Number}, "ApiVersion": {"2010-04-01"}}
	if status == "failed" || status == "undelivered" {
		v.Set("ErrorCode", "30003")
	}
	return v
}
