package service

import (
	"context"
	"strings"

	"github.com/convohq/convo"
)

// dropEmpty leaves out the messages of a hook with nothing to read: no
// text, media or data. Stored, they would show as blank lines and start
// flows on nothing; the provider still gets its 200.
func (s *Service) dropEmpty(a *convo.Account, in *convo.Inbound) {
	kept := in.Messages[:0]
	for _, m := range in.Messages {
		if strings.TrimSpace(m.Text) == "" && len(m.Medias) == 0 && m.Data == nil {
			s.logger.Warn("empty inbound message dropped", "account_id", a.ID, "account_type", a.Type, "provider_id", m.ProviderID)
			continue
		}
		kept = append(kept, m)
	}
	in.Messages = kept
}

// reactionQuote is how much of the message reacted to a reaction's text quotes.
const reactionQuote = 60

// describeReaction gives an incoming reaction its text, which names the
// message reacted to, and that message's convo id in its data when convo
// stored it. Only reactions cost the lookup.
func (s *Service) describeReaction(ctx context.Context, tx convo.Tx, msg *convo.Message) error {
	if msg.Data == nil || msg.Data["type"] != "reaction" {
		return nil
	}
	emoji, _ := msg.Data["emoji"].(string)
	wamid, _ := msg.Data["provider_message_id"].(string)
	quoted := "a message"
	if wamid != "" {
		target, err := tx.GetMessageByProviderID(ctx, msg.AccountID, wamid)
		switch {
		case err == nil:
			msg.Data["message_id"] = target.ID
			if text := []rune(target.Text); len(text) > reactionQuote {
				quoted = `"` + string(text[:reactionQuote]) + `…"`
			} else if len(text) > 0 {
				quoted = `"` + string(text) + `"`
			}
		case convo.ErrorStatus(err) != convo.ENotFound:
			return err
		}
	}
	if emoji == "" {
		msg.Text = "Removed a reaction to " + quoted
	} else {
		msg.Text = "Reacted " + emoji + " to " + quoted
	}
	return nil
}

// dataVariables sets a flow's variables from an incoming message's data:
// each string field as voipbin.conversation_message.data.<field> (reply_id
// is the id of the button or list row a user chose).
func dataVariables(vars map[string]string, data map[string]any) {
	for k, v := range data {
		if s, ok := v.(string); ok {
			vars["voipbin.conversation_message.data."+k] = s
		}
	}
}
