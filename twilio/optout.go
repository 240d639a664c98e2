package twilio

import (
	"errors"
	"strconv"
	"strings"

	"github.com/convohq/convo"
)

// ErrUnsubscribed is Twilio's code for a send to a recipient who replied
// STOP to the sending number ("Attempt to send to unsubscribed recipient").
const ErrUnsubscribed = 21610

// consentOf reads an inbound message's opt-out or opt-in: the standard
// keywords, or Twilio's OptOutType, which Advanced Opt-Out sets for the
// keywords a Messaging Service was given (STOP, START, HELP).
func consentOf(body, optOutType string) string {
	switch strings.ToUpper(optOutType) {
	case "STOP":
		return convo.ConsentStop
	case "START":
		return convo.ConsentStart
	}
	return convo.SMSConsentKeyword(body)
}

// markUnsubscribed marks Twilio's refusal of an opted-out recipient (its
// code is read by providerhttp), so that convo refuses later sends itself.
func markUnsubscribed(err error) error {
	var ce *convo.ChannelError
	if errors.As(err, &ce) && ce.Code == strconv.Itoa(ErrUnsubscribed) {
		ce.PeerOptedOut = true
	}
	return err
}
