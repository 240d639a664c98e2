package service

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/outage"
)

// MessageSend is the body of POST /conversations/{id}/messages: text, or
// a canned response whose text is sent with its variables replaced.
type MessageSend struct {
	Text             string       `json:"text"`
	Medias           []MediaInput `json:"medias"`
	CannedResponseID string       `json:"canned_response_id"`
	// Template is a WhatsApp message template, sent alone (see template.go).
	Template *convo.Template `json:"template"`
}

// MediaInput is an attachment to send: its type and URL, or the id of an
// upload (POST /v1.0/medias).
type MediaInput struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Filename string `json:"filename"`
}

const (
	maxMedias = 10
	// sendBackstop is when the poll loop takes over a send that the request
	// which created it did not get to (e.g. the process died).
	sendBackstop = 10 * time.Second
)

// validate checks a message to send and returns its medias and the canned
// response it names ("" for none; the nil UUID names none).
func (in *MessageSend) validate(customerID string, now convo.Time) ([]convo.Media, string, error) {
	if in.Template != nil {
		return []convo.Media{}, "", in.validateTemplate()
	}
	cannedID := ""
	if !convo.IsNilID(in.CannedResponseID) {
		id, err := parseID(in.CannedResponseID, "canned_response_id")
		if err != nil {
			return nil, "", err
		}
		if in.Text != "" {
			return nil, "", convo.Invalid(convo.ReasonTextAndCannedResponse, "give text or canned_response_id, not both")
		}
		cannedID = id
	}
	if cannedID == "" {
		if err := checkSendText(in.Text, len(in.Medias)); err != nil {
			return nil, "", err
		}
	}
	medias, err := in.validateMedias(customerID, now)
	return medias, cannedID, err
}

// checkSendText refuses a message without text and medias, and an overlong text.
func checkSendText(text string, medias int) error {
	if text == "" && medias == 0 {
		return convo.Invalid(convo.ReasonEmptyMessage, "a message needs text or medias")
	}
	return convo.CheckLen("text", text, convo.MaxText)
}

// validateMedias checks the medias to send and returns them.
func (in *MessageSend) validateMedias(customerID string, now convo.Time) ([]convo.Media, error) {
	if len(in.Medias) > maxMedias {
		return nil, convo.Invalid("TOO_MANY_MEDIAS", "a message has at most %d medias", maxMedias)
	}
	medias := make([]convo.Media, 0, len(in.Medias))
	for _, m := range in.Medias {
		switch m.Type {
		case "":
			if m.ID == "" || convo.IsNilID(m.ID) {
				m.Type = convo.MediaFile
			}
		case convo.MediaImage, convo.MediaVideo, convo.MediaAudio, convo.MediaFile:
		default:
			return nil, convo.Invalid("INVALID_MEDIA", "media type must be image, video, audio or file")
		}
		if m.ID != "" && !convo.IsNilID(m.ID) {
			// An upload, read in the send's transaction (resolveSendMedias).
			id, err := parseID(m.ID, "medias.id")
			if err != nil {
				return nil, err
			}
			medias = append(medias, convo.Media{ID: id, CustomerID: customerID, Type: m.Type, Status: convo.MediaStored,
				TMCreate: now, TMUpdate: now, TMDelete: convo.Never})
			continue
		}
		if err := convo.CheckLen("medias.filename", m.Filename, convo.MaxURL); err != nil {
			return nil, err
		}
		u, err := url.Parse(m.Filename)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, convo.Invalid("INVALID_MEDIA", "media filename must be the http(s) URL of the file")
		}
		medias = append(medias, convo.Media{ID: convo.NewID(), CustomerID: customerID, Type: m.Type, Filename: m.Filename,
			TMCreate: now, TMUpdate: now, TMDelete: convo.Never})
	}
	return medias, nil
}

// SendMessage stores an outgoing message as progressing together with the
// job that sends it, then sends it and waits a short while for the
// provider's answer (admin/manager, or the conversation's owner). A slow or
// failing provider never loses the message: the job finishes it. The
// caller is the message's sender.
func (s *Service) SendMessage(ctx context.Context, c *convo.Caller, conversationID string, in MessageSend) (*convo.Message, error) {
	id, err := parseID(conversationID, "id")
	if err != nil {
		return nil, err
	}
	now := s.now()
	medias, cannedID, err := in.validate(c.CustomerID, now)
	if err != nil {
		return nil, err
	}
	var msg *convo.Message
	var job *convo.Job
	err = s.update(ctx, func(tx convo.Tx) error {
		conv, err := s.workedConversation(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if in.Template != nil {
			msg, job, err = s.queueTemplate(ctx, tx, c, conv, in.Template, now.Add(sendBackstop))
			return err
		}
		if medias, err = s.resolveSendMedias(ctx, tx, c, conv, medias); err != nil {
			return err
		}
		text := in.Text
		if cannedID != "" {
			if text, err = cannedText(ctx, tx, c, conv, cannedID); err != nil {
				return err
			}
			// Variables that stand for nothing may leave no text worth sending.
			if strings.TrimSpace(text) == "" {
				text = ""
			}
			if err := checkSendText(text, len(medias)); err != nil {
				return err
			}
		}
		// This request sends at once; the job is the backstop should it not get to.
		msg, job, err = s.queueOutgoing(ctx, tx, conv, senderOf(c), text, medias, now.Add(sendBackstop))
		return err
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-s.runJobNow(ctx, job.ID):
	case <-time.After(s.config.SendWait):
	case <-ctx.Done():
	}
	stored := msg
	err = s.store.View(context.WithoutCancel(ctx), func(tx convo.Tx) (err error) {
		msg, err = tx.GetMessage(ctx, msg.ID)
		return err
	})
	if outage.Unavailable(err) {
		// The message is committed and its job will send it: an error
		// here would have the client send it again.
		return stored, nil
	}
	return msg, err
}

// senderOf is who sends the messages of a request: its agent, or its access key.
func senderOf(c *convo.Caller) *convo.MessageSender {
	if c.AccessKeyID != "" {
		return &convo.MessageSender{Type: convo.SenderAccessKey, ID: c.AccessKeyID}
	}
	return &convo.MessageSender{Type: convo.SenderAgent, ID: c.AgentID}
}

// queueOutgoing stores an outgoing message of sender on a live conversation
// of a live account, with its event and the job that sends it from runAt on.
func (s *Service) queueOutgoing(ctx context.Context, tx convo.Tx, conv *convo.Conversation, sender *convo.MessageSender, text string, medias []convo.Media, runAt time.Time) (*convo.Message, *convo.Job, error) {
	return s.queueOutgoingData(ctx, tx, conv, sender, text, medias, nil, runAt)
}

// queueOutgoingData is queueOutgoing for a message that also holds data
// (a template, which alone may leave WhatsApp's window).
func (s *Service) queueOutgoingData(ctx context.Context, tx convo.Tx, conv *convo.Conversation, sender *convo.MessageSender, text string, medias []convo.Media, data map[string]any, runAt time.Time) (*convo.Message, *convo.Job, error) {
	if conv.IsDeleted() {
		return nil, nil, convo.Errorf(convo.EPrecondition, "CONVERSATION_DELETED", "the conversation is deleted")
	}
	a, err := tx.GetAccount(ctx, conv.AccountID)
	if err != nil {
		return nil, nil, err
	}
	if a.IsDeleted() {
		return nil, nil, convo.Errorf(convo.EPrecondition, "ACCOUNT_DELETED", "the conversation's account is deleted")
	}
	if err := a.NotConfigured(); err != nil {
		return nil, nil, err
	}
	if err := s.refuseOptedOut(ctx, tx, a, conv); err != nil {
		return nil, nil, err
	}
	now := s.now()
	if !isTemplate(data) {
		if err := convo.WindowClosed(conv, now); err != nil {
			return nil, nil, err
		}
	}
	msg := &convo.Message{
		ID: convo.NewID(), CustomerID: conv.CustomerID, ConversationID: conv.ID,
		Direction: convo.DirectionOutgoing, Status: convo.MessageProgressing,
		ReferenceType: conv.Type, ReferenceID: a.ID, Source: conv.Self, Destination: conv.Peer,
		Text: text, Medias: medias, Sender: sender, TMCreate: now, TMUpdate: now, TMDelete: convo.Never, AccountID: a.ID, Data: data,
	}
	if err := tx.CreateMessage(ctx, msg); err != nil {
		return nil, nil, err
	}
	if err := tx.TouchConversations(ctx, []convo.Touch{convo.TouchOf(msg)}); err != nil {
		return nil, nil, err
	}
	if err := s.emitMessage(ctx, tx, convo.EventMessageCreated, msg); err != nil {
		return nil, nil, err
	}
	job := &convo.Job{ID: convo.NewID(), Kind: convo.JobSendMessage, RefID: msg.ID, RunAt: convo.NewTime(runAt), TMCreate: now}
	return msg, job, tx.CreateJob(ctx, job)
}

// runSend delivers a message through its account's channel and records the
// outcome. Sending is at-least-once: a crash between the provider's answer
// and the commit sends again (LINE drops the repeat by its retry key).
func (s *Service) runSend(ctx context.Context, j *convo.Job) error {
	var d convo.SendRequest
	err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		if d.Message, err = tx.GetMessage(ctx, j.RefID); err != nil {
			return err
		}
		if d.Conversation, err = tx.GetConversation(ctx, d.Message.ConversationID); err != nil {
			return err
		}
		d.Account, err = tx.GetAccount(ctx, d.Message.AccountID)
		return err
	})
	if convo.ErrorStatus(err) == convo.ENotFound {
		return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, j.ID) })
	} else if err != nil {
		return err
	}
	if d.Message.Status != convo.MessageProgressing || d.Message.ProviderID != "" {
		// Already sent; only a status report can move it now.
		return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, j.ID) })
	}
	ch := s.config.Channels[d.Account.Type]
	notConfigured := d.Account.NotConfigured()
	var res convo.SendResult
	switch {
	case d.Account.IsDeleted():
		err = &convo.ChannelError{Detail: "the account was deleted"}
	case ch == nil:
		err = &convo.ChannelError{Detail: "no channel for account type " + d.Account.Type}
	case notConfigured != nil:
		// Its settings were removed after the message was queued.
		err = &convo.ChannelError{Detail: convo.ErrorMessage(notConfigured)}
	default:
		d.StatusCallback = s.config.PublicURL + "/v1.0/conversation/accounts/" + d.Account.ID + "/status?message_id=" + d.Message.ID
		d.ReplyToken = s.replyTokenOf(d.Conversation.ID)
		d.Parts = s.partLog(d.Message.ID)
		sendCtx, cancel := context.WithTimeout(ctx, providerTimeout)
		d.Message = s.providerMedias(d.Message)
		res, err = ch.Send(sendCtx, d)
		cancel()
	}
	if err != nil && isTemporary(err) {
		if again, rerr := s.retryLater(ctx, j, err); again || rerr != nil {
			return rerr
		}
	}
	var failure *convo.MessageError
	if err != nil {
		s.markOptedOut(ctx, d, err)
		s.logger.Warn("message failed", "message_id", d.Message.ID, "conversation_id", d.Conversation.ID, "account_type", d.Account.Type, "reason", err.Error())
		res, failure = convo.SendResult{Status: convo.MessageFailed, ProviderStatus: convo.ProviderFailed}, convo.MessageErrorOf(err)
	}
	// The provider has answered: the outcome waits here for the database,
	// since running the job again would send the message again.
	return s.outage.Retry(s.jobs.Stopping(), "record a send", func() error { return s.recordSend(ctx, j, res, failure) })
}

// recordSend stores the provider's answer to a send, or why it failed, and
// finishes its job. A status report may have got there first (a provider
// can report on a message before answering its send): it is kept.
func (s *Service) recordSend(ctx context.Context, j *convo.Job, res convo.SendResult, failure *convo.MessageError) error {
	return s.update(ctx, func(tx convo.Tx) error {
		msg, err := tx.GetMessage(ctx, j.RefID)
		if err != nil {
			return err
		}
		before := *msg
		if msg.ProviderID == "" {
			msg.ProviderID = convo.StripNUL(res.ProviderID)
		}
		if res.LineSendMethod != "" {
			msg.LineSendMethod = res.LineSendMethod
		}
		s.moveMessage(msg, convo.StatusReport{Status: res.Status, ProviderStatus: res.ProviderStatus, Error: failure})
		if err := s.saveMessageMove(ctx, tx, &before, msg); err != nil {
			return err
		}
		return tx.DeleteJob(ctx, j.ID)
	})
}

// moveMessage applies a provider's word on an outgoing message: each of its
// statuses only moves forward, so reports that arrive out of order (a read
// before its delivered, a sent after its failure) change nothing they
// should not. A read message was delivered, even when no report said so.
func (s *Service) moveMessage(msg *convo.Message, st convo.StatusReport) {
	at := st.At
	if at.IsNever() {
		at = s.now()
	}
	if convo.MessageStatusRank(st.Status) > convo.MessageStatusRank(msg.Status) {
		msg.Status = st.Status
	}
	if convo.ProviderStatusRank(st.ProviderStatus) > convo.ProviderStatusRank(msg.ProviderStatus) {
		msg.ProviderStatus = st.ProviderStatus
	}
	switch st.ProviderStatus {
	case convo.ProviderRead:
		if msg.TMRead.IsNever() {
			msg.TMRead = at
		}
		fallthrough
	case convo.ProviderDelivered:
		if msg.TMDelivered.IsNever() || msg.TMDelivered.After(at.Time) {
			msg.TMDelivered = at
		}
	}
	if msg.Status == convo.MessageFailed && msg.Error == nil {
		msg.Error = st.Error
	}
}

// saveMessageMove stores msg if it moved from before, with the event that
// says so. The provider id alone is internal: it is stored, but is no news.
func (s *Service) saveMessageMove(ctx context.Context, tx convo.Tx, before, msg *convo.Message) error {
	news := msg.Status != before.Status || msg.ProviderStatus != before.ProviderStatus ||
		msg.TMDelivered != before.TMDelivered || msg.TMRead != before.TMRead || (msg.Error == nil) != (before.Error == nil)
	if !news && msg.ProviderID == before.ProviderID {
		return nil
	}
	if news {
		msg.TMUpdate = s.now()
	}
	if err := tx.UpdateMessage(ctx, msg); err != nil {
		return err
	}
	if !news {
		return nil
	}
	return s.emitMessage(ctx, tx, convo.EventMessageUpdated, msg)
}
