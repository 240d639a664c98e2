package service

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// newRun is a run of actions about to start: no reference, first of its chain.
func (s *Service) newRun(id, customerID, flowID string, actions []convo.Action, onComplete string) *convo.Activeflow {
	now := s.now()
	return &convo.Activeflow{
		ID: id, CustomerID: customerID, FlowID: flowID, Status: convo.ActiveflowRunning,
		ReferenceType: convo.ReferenceAPI, ReferenceID: convo.NilID, ReferenceActiveflowID: convo.NilID,
		OnCompleteFlowID: onComplete, ForwardActionID: convo.NilID, ChainLength: 1,
		CurrentAction: actions[0], ExecutedActions: []convo.Action{}, Actions: actions,
		Variables: map[string]string{}, LoopCounts: map[string]int{},
		TMCreate: now, TMUpdate: now, TMDelete: convo.Never,
	}
}

// startRun writes a new run with its created event and the job that runs it.
func (s *Service) startRun(ctx context.Context, tx convo.Tx, af *convo.Activeflow) error {
	af.Variables["voipbin.activeflow.id"] = af.ID
	af.Variables["voipbin.flow.id"] = af.FlowID
	if err := tx.CreateActiveflow(ctx, af); err != nil {
		return err
	}
	if err := s.emitActiveflow(ctx, tx, convo.EventActiveflowCreated, af); err != nil {
		return err
	}
	return tx.CreateJob(ctx, &convo.Job{ID: convo.NewID(), Kind: convo.JobActiveflow, RefID: af.ID, RunAt: af.TMCreate, TMCreate: af.TMCreate})
}

// conversationVariables are the variables a run on conv starts with.
func conversationVariables(conv *convo.Conversation) map[string]string {
	vars := map[string]string{
		"voipbin.conversation.id":       conv.ID,
		"voipbin.conversation.owner_id": conv.OwnerID,
	}
	for prefix, addr := range map[string]convo.Address{"voipbin.conversation.self.": conv.Self, "voipbin.conversation.peer.": conv.Peer} {
		for k, v := range map[string]string{"type": addr.Type, "target": addr.Target, "target_name": addr.TargetName, "name": addr.Name, "detail": addr.Detail} {
			vars[prefix+k] = v
		}
	}
	return vars
}

// emitActiveflow writes an activeflow event, ordered with its conversation's
// events (a run on nothing in particular is a stream of its own), and a copy
// for the run's own webhook when it has one.
func (s *Service) emitActiveflow(ctx context.Context, tx convo.Tx, eventType string, af *convo.Activeflow) error {
	stream, conv := af.ID, ""
	if af.ReferenceType == convo.ReferenceConversation {
		stream, conv = af.ReferenceID, af.ReferenceID
	}
	payload, err := convo.EventPayload(eventType, af)
	if err != nil {
		return err
	}
	if err := tx.CreateEvent(ctx, s.newEvent(eventType, af.CustomerID, stream, conv, payload)); err != nil {
		return err
	}
	if af.WebhookURI == "" {
		return nil
	}
	// Delivered, signed and retried like the customer's webhook; in a stream
	// of the run's own, so a slow receiver holds up nobody else's events.
	own := s.newEvent(eventType, af.CustomerID, af.ID, conv, payload)
	own.TargetURI, own.TargetMethod, own.ContentType = af.WebhookURI, af.WebhookMethod, "application/json"
	return tx.CreateEvent(ctx, own)
}

// ActiveflowInput is the body of POST /activeflows: VoIPbin's fields, plus
// an optional conversation to run on.
type ActiveflowInput struct {
	ID            string            `json:"id"`
	FlowID        string            `json:"flow_id"`
	Actions       *[]convo.Action   `json:"actions"`
	Variables     map[string]string `json:"variables"`
	WebhookURI    string            `json:"webhook_uri"`
	WebhookMethod string            `json:"webhook_method"`
	ReferenceType string            `json:"reference_type"`
	ReferenceID   string            `json:"reference_id"`
}

// check validates in and returns the run's id and actions (nil when a flow
// is named), and the client's variables without the reserved ones.
func (in *ActiveflowInput) check() (id string, actions []convo.Action, vars map[string]string, err error) {
	id = convo.NewID()
	if !convo.IsNilID(in.ID) {
		if id, err = parseID(in.ID, "id"); err != nil {
			return "", nil, nil, err
		}
	}
	hasFlow := !convo.IsNilID(in.FlowID)
	if hasFlow == (in.Actions != nil) {
		return "", nil, nil, convo.Invalid("FLOW_OR_ACTIONS", "give either flow_id or actions, not both")
	}
	if hasFlow {
		if in.FlowID, err = parseID(in.FlowID, "flow_id"); err != nil {
			return "", nil, nil, err
		}
	} else {
		if len(*in.Actions) == 0 {
			return "", nil, nil, convo.Invalid("FLOW_OR_ACTIONS", "actions holds no action")
		}
		if actions, err = checkActions(*in.Actions); err != nil {
			return "", nil, nil, err
		}
	}
	if vars, err = checkVariables(in.Variables); err != nil {
		return "", nil, nil, err
	}
	in.WebhookURI, in.WebhookMethod = strings.TrimSpace(in.WebhookURI), strings.TrimSpace(in.WebhookMethod)
	if err := convo.CheckLen("webhook_uri", in.WebhookURI, convo.MaxURL); err != nil {
		return "", nil, nil, err
	}
	if in.WebhookURI != "" {
		u, perr := url.Parse(in.WebhookURI)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", nil, nil, convo.Invalid("INVALID_WEBHOOK_URI", "webhook_uri must be an absolute http or https URL")
		}
	}
	if !slices.Contains([]string{"", "POST", "GET", "PUT", "DELETE"}, in.WebhookMethod) {
		return "", nil, nil, convo.Invalid("INVALID_WEBHOOK_METHOD", "webhook_method must be one of POST, GET, PUT, DELETE")
	}
	if in.WebhookURI != "" && in.WebhookMethod == "" {
		in.WebhookMethod = "POST"
	}
	switch in.ReferenceType {
	case "", convo.ReferenceAPI:
		if !convo.IsNilID(in.ReferenceID) {
			return "", nil, nil, convo.Invalid("INVALID_REFERENCE", `reference_id needs reference_type "conversation"`)
		}
		in.ReferenceType, in.ReferenceID = convo.ReferenceAPI, convo.NilID
	case convo.ReferenceConversation:
		if in.ReferenceID, err = parseID(in.ReferenceID, "reference_id"); err != nil {
			return "", nil, nil, err
		}
	default:
		return "", nil, nil, convo.Invalid("INVALID_REFERENCE", `reference_type must be "conversation" or "api"`)
	}
	return id, actions, vars, nil
}

// checkVariables bounds a client's variables (VoIPbin's limits) and drops
// those of reserved names, which only convo sets.
func checkVariables(in map[string]string) (map[string]string, error) {
	if len(in) > convo.MaxActiveflowVariables {
		return nil, convo.Invalid(convo.ReasonTooLong, "variables holds more than %d keys", convo.MaxActiveflowVariables)
	}
	out := make(map[string]string, len(in))
	size := 0
	for k, v := range in {
		size += len(k) + len(v)
		switch {
		case strings.TrimSpace(k) == "":
			return nil, convo.Invalid("INVALID_VARIABLES", "a variable needs a name")
		case len(k) > convo.MaxActiveflowVariableKey:
			return nil, convo.Invalid(convo.ReasonTooLong, "variable names are at most %d bytes", convo.MaxActiveflowVariableKey)
		case len(v) > convo.MaxActiveflowVariableValue:
			return nil, convo.Invalid(convo.ReasonTooLong, "variable %q is longer than %d bytes", k, convo.MaxActiveflowVariableValue)
		case size > convo.MaxActiveflowVariablesSize:
			return nil, convo.Invalid(convo.ReasonTooLong, "variables take more than %d bytes", convo.MaxActiveflowVariablesSize)
		}
		if !strings.HasPrefix(k, convo.ReservedVariablePrefix) {
			out[k] = v
		}
	}
	return out, nil
}

// StartActiveflow starts a flow, or actions of its own, by API (admin/manager,
// like flows), on nothing in particular or on a conversation of the customer.
func (s *Service) StartActiveflow(ctx context.Context, c *convo.Caller, in ActiveflowInput) (*convo.Activeflow, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, actions, vars, err := in.check()
	if err != nil {
		return nil, err
	}
	var af *convo.Activeflow
	err = s.update(ctx, func(tx convo.Tx) error {
		flowID, onComplete := convo.NilID, convo.NilID
		if actions == nil {
			flow, err := customerFlow(ctx, tx, c.CustomerID, in.FlowID)
			if err != nil {
				return err
			}
			if len(flow.Actions) == 0 {
				return convo.Errorf(convo.EPrecondition, "FLOW_EMPTY", "the flow has no actions to run")
			}
			flowID, onComplete, actions = flow.ID, flow.OnCompleteFlowID, flow.Actions
		}
		af = s.newRun(id, c.CustomerID, flowID, actions, onComplete)
		af.WebhookURI, af.WebhookMethod = in.WebhookURI, in.WebhookMethod
		if in.ReferenceType == convo.ReferenceConversation {
			conv, err := customerConversation(ctx, tx, c, in.ReferenceID)
			if err == nil && !conv.TMDelete.IsNever() {
				err = convo.NotFound(convo.ReasonConversationNotFound, "conversation")
			}
			if err != nil {
				return err
			}
			af.ReferenceType, af.ReferenceID, af.Variables = convo.ReferenceConversation, conv.ID, conversationVariables(conv)
		}
		for k, v := range vars {
			af.Variables[k] = v
		}
		return s.startRun(ctx, tx, af)
	})
	if err != nil {
		return nil, err
	}
	s.jobs.Wake()
	return af, nil
}

// startNextInChain starts, in the transaction that ended run, the flow its
// flow names to follow it: on the same reference, with run's variables and
// webhook, up to convo.MaxFlowChainLinks links. It reports whether it did.
func (s *Service) startNextInChain(ctx context.Context, tx convo.Tx, run *convo.Activeflow) (bool, error) {
	if convo.IsNilID(run.OnCompleteFlowID) {
		return false, nil
	}
	// ChainLength counts runs: the links so far are one fewer.
	if run.ChainLength-1 >= convo.MaxFlowChainLinks {
		s.logger.Warn("on-complete chain reached its limit", "activeflow_id", run.ID, "links", convo.MaxFlowChainLinks)
		return false, nil
	}
	flow, err := customerFlow(ctx, tx, run.CustomerID, run.OnCompleteFlowID)
	if convo.ErrorStatus(err) == convo.ENotFound {
		s.logger.Warn("on-complete flow is gone; the chain ends", "activeflow_id", run.ID, "flow_id", run.OnCompleteFlowID)
		return false, nil
	} else if err != nil || len(flow.Actions) == 0 {
		return false, err
	}
	next := s.newRun(convo.NewID(), run.CustomerID, flow.ID, flow.Actions, flow.OnCompleteFlowID)
	next.ReferenceType, next.ReferenceID, next.ReferenceActiveflowID = run.ReferenceType, run.ReferenceID, run.ID
	next.WebhookURI, next.WebhookMethod, next.ChainLength = run.WebhookURI, run.WebhookMethod, run.ChainLength+1
	for k, v := range run.Variables {
		next.Variables[k] = v
	}
	return true, s.startRun(ctx, tx, next)
}
