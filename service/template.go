package service

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convohq/convo"
)

// templateTTL is how long an account's template list is reused before Meta
// is asked again: templates change rarely (Meta reviews each new one), and
// the list is read whenever an agent opens a closed conversation.
const templateTTL = 10 * time.Minute

// Reasons of templates.
const (
	ReasonTemplatesNotSupported = "TEMPLATES_NOT_SUPPORTED"
	ReasonTemplateNotSupported  = "TEMPLATE_NOT_SUPPORTED"
	ReasonTemplateAlone         = "TEMPLATE_ALONE"
	ReasonInvalidTemplate       = "INVALID_TEMPLATE"
	ReasonProviderRefused       = "PROVIDER_REFUSED"
	ReasonProviderUnavailable   = "PROVIDER_UNAVAILABLE"
)

// templateCache holds each account's template list as last read, for this
// process; the zero value is ready.
type templateCache struct {
	mu   sync.Mutex
	byID map[string]cachedTemplates
}

type cachedTemplates struct {
	// key names the business and token the list was read with, so that a
	// change of either reads again.
	key  [32]byte
	at   time.Time
	list []convo.MessageTemplate
}

func templateKey(a *convo.Account) [32]byte {
	return sha256.Sum256([]byte(a.ProviderData.BusinessAccountID + "\x00" + a.Token))
}

// get returns the cached list of a, if fresh at now.
func (c *templateCache) get(a *convo.Account, now time.Time) ([]convo.MessageTemplate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[a.ID]
	if !ok || e.key != templateKey(a) || now.Sub(e.at) >= templateTTL || now.Before(e.at) {
		return nil, false
	}
	return e.list, true
}

func (c *templateCache) put(a *convo.Account, now time.Time, list []convo.MessageTemplate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]cachedTemplates{}
	}
	c.byID[a.ID] = cachedTemplates{key: templateKey(a), at: now, list: list}
}

// known returns the template of that name and language in a's cached
// list, fresh or not: it only renders a sent template's text.
func (c *templateCache) known(a *convo.Account, name, language string) (convo.MessageTemplate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.byID[a.ID].list {
		if t.Name == name && t.Language == language {
			return t, true
		}
	}
	return convo.MessageTemplate{}, false
}

// TemplateList is the answer to a template listing: every approved
// template at once, as a business has few.
type TemplateList struct {
	Result []convo.MessageTemplate `json:"result"`
}

// ListTemplates lists the approved templates of a WhatsApp account's
// business from the cache, or from Meta when refresh is set or the cache
// is older than templateTTL. Any agent of the customer may: whoever
// answers a conversation whose window closed needs them.
func (s *Service) ListTemplates(ctx context.Context, c *convo.Caller, accountID string, refresh bool) (TemplateList, error) {
	var out TemplateList
	id, err := parseID(accountID, "id")
	if err != nil {
		return out, err
	}
	var a *convo.Account
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		a, err = customerAccount(ctx, tx, c, id)
		return err
	})
	if err == nil && a.IsDeleted() {
		err = convo.NotFound(convo.ReasonAccountNotFound, "account")
	}
	if err != nil {
		return out, err
	}
	lister := s.config.Templates[a.Type]
	if lister == nil {
		return out, convo.Invalid(ReasonTemplatesNotSupported, "only WhatsApp accounts have message templates")
	}
	if a.ProviderData.BusinessAccountID == "" || a.Token == "" {
		return out, convo.Errorf(convo.EPrecondition, convo.ReasonAccountNotConfigured, "listing templates needs the account's token and provider_data.business_account_id")
	}
	now := s.clock.Now()
	if list, ok := s.templates.get(a, now); ok && !refresh {
		out.Result = list
		return out, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	list, err := lister.ListTemplates(callCtx, a)
	if err != nil {
		return out, providerError(err)
	}
	s.templates.put(a, now, list)
	out.Result = list
	return out, nil
}

// providerError is the answer to a request that asked a provider and failed.
func providerError(err error) error {
	var ce *convo.ChannelError
	if errors.As(err, &ce) && !ce.Temporary {
		me := convo.MessageErrorOf(err)
		return convo.Errorf(convo.EPrecondition, ReasonProviderRefused, "the provider refused: %s", strings.TrimSpace(me.Code+" "+me.Message))
	}
	return convo.Errorf(convo.EUnavailable, ReasonProviderUnavailable, "the provider could not be reached; try again")
}

// validateTemplate checks a template send: the template alone, named, with
// a language, in Meta's shape.
func (in *MessageSend) validateTemplate() error {
	t := in.Template
	if in.Text != "" || len(in.Medias) > 0 || !convo.IsNilID(in.CannedResponseID) {
		return convo.Invalid(ReasonTemplateAlone, "a template is sent alone: no text, medias or canned_response_id with it")
	}
	t.Name, t.Language.Code = strings.TrimSpace(t.Name), strings.TrimSpace(t.Language.Code)
	if t.Name == "" || t.Language.Code == "" {
		return convo.Invalid(ReasonInvalidTemplate, "template.name and template.language.code are required")
	}
	if len(t.Components) > 20 {
		return convo.Invalid(ReasonInvalidTemplate, "a template has at most 20 components")
	}
	for _, c := range t.Components {
		if _, ok := c["type"].(string); !ok {
			return convo.Invalid(ReasonInvalidTemplate, "each template component needs a type (header, body or button)")
		}
	}
	if err := convo.CheckLen("template.name", t.Name, 512); err != nil {
		return err
	}
	if b, _ := json.Marshal(t); len(b) > convo.MaxText*4 {
		return convo.Invalid(ReasonInvalidTemplate, "the template is too large")
	}
	return nil
}

// queueTemplate queues a template on a WhatsApp conversation: its text is
// the template's body with its parameters filled when the account's
// template list is cached, "[template name]" otherwise.
func (s *Service) queueTemplate(ctx context.Context, tx convo.Tx, c *convo.Caller, conv *convo.Conversation, t *convo.Template, runAt time.Time) (*convo.Message, *convo.Job, error) {
	if conv.Type != convo.ConversationWhatsApp {
		return nil, nil, convo.Invalid(ReasonTemplateNotSupported, "templates are sent on WhatsApp conversations only")
	}
	a, err := tx.GetAccount(ctx, conv.AccountID)
	if err != nil {
		return nil, nil, err
	}
	text := "[template " + t.Name + "]"
	if known, ok := s.templates.known(a, t.Name, t.Language.Code); ok {
		if body := fillTemplate(known, t); body != "" {
			text = body
		}
	}
	if t.Components == nil {
		t.Components = []map[string]any{}
	}
	// The template as sent, through JSON so that the stored data reads back the same.
	var tmpl map[string]any
	b, _ := json.Marshal(t)
	json.Unmarshal(b, &tmpl)
	data := map[string]any{"type": "template", "template": tmpl}
	return s.queueOutgoingData(ctx, tx, conv, senderOf(c), text, []convo.Media{}, data, runAt)
}

var templateParam = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// fillTemplate is a template's body text with the sent body parameters in
// its placeholders: {{1}}, {{2}}… by position, {{name}} by parameter_name.
func fillTemplate(known convo.MessageTemplate, sent *convo.Template) string {
	var body string
	for _, c := range known.Components {
		if typ, _ := c["type"].(string); strings.EqualFold(typ, "body") {
			body, _ = c["text"].(string)
		}
	}
	if body == "" {
		return ""
	}
	var values []string
	named := map[string]string{}
	for _, c := range sent.Components {
		if typ, _ := c["type"].(string); !strings.EqualFold(typ, "body") {
			continue
		}
		params, _ := c["parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			v := paramText(pm)
			values = append(values, v)
			if n, _ := pm["parameter_name"].(string); n != "" {
				named[n] = v
			}
		}
	}
	return templateParam.ReplaceAllStringFunc(body, func(m string) string {
		key := templateParam.FindStringSubmatch(m)[1]
		if i, err := strconv.Atoi(key); err == nil && i >= 1 && i <= len(values) {
			return values[i-1]
		}
		if v, ok := named[key]; ok {
			return v
		}
		return m
	})
}

// paramText is how a template parameter reads: its text, or the fallback
// Meta shows for currencies and dates.
func paramText(p map[string]any) string {
	switch p["type"] {
	case "text":
		s, _ := p["text"].(string)
		return s
	case "currency":
		c, _ := p["currency"].(map[string]any)
		s, _ := c["fallback_value"].(string)
		return s
	case "date_time":
		d, _ := p["date_time"].(map[string]any)
		s, _ := d["fallback_value"].(string)
		return s
	}
	return ""
}
