package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Sign returns the signature headers of a webhook body:
// X-VoIPBIN-Signature (hex HMAC-SHA256 of the body) and the Standard
// Webhooks headers, whose key is the secret's bytes or, for a "whsec_"
// secret, its base64-decoded rest.
func Sign(secret, id string, at time.Time, body []byte) map[string]string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err == nil {
			key = k
		}
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	std := hmac.New(sha256.New, key)
	std.Write([]byte(id + "." + ts + "."))
	std.Write(body)
	return map[string]string{
		"X-VoIPBIN-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
		"webhook-id":          id,
		"webhook-timestamp":   ts,
		"webhook-signature":   "v1," + base64.StdEncoding.EncodeToString(std.Sum(nil)),
	}
}
