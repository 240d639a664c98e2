package service

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/convohq/convo"
)

// FlowInput holds the writable fields of a flow; nil leaves a field unchanged.
type FlowInput struct {
	Name             *string         `json:"name"`
	Detail           *string         `json:"detail"`
	Actions          *[]convo.Action `json:"actions"`
	OnCompleteFlowID *string         `json:"on_complete_flow_id"`
}

// apply validates in and writes it onto f.
func (in *FlowInput) apply(f *convo.Flow) error {
	f.Name, f.Detail = trimmed(in.Name, f.Name), trimmed(in.Detail, f.Detail)
	if err := checkText("name", f.Name); err != nil {
		return err
	}
	if err := checkText("detail", f.Detail); err != nil {
		return err
	}
	if in.OnCompleteFlowID != nil {
		if convo.IsNilID(*in.OnCompleteFlowID) {
			f.OnCompleteFlowID = convo.NilID
		} else if id, err := convo.ParseID(*in.OnCompleteFlowID); err == nil {
			f.OnCompleteFlowID = id
		} else {
			return convo.Invalid("INVALID_ON_COMPLETE_FLOW_ID", "on_complete_flow_id must be a UUID")
		}
	}
	if in.Actions != nil {
		actions, err := checkActions(*in.Actions)
		if err != nil {
			return err
		}
		f.Actions = actions
	}
	return nil
}

// checkActions validates the actions of a flow or of an activeflow started
// with its own, within the same limits.
func checkActions(in []convo.Action) ([]convo.Action, error) {
	actions, err := normalizeActions(in)
	if err != nil {
		return nil, err
	}
	if b, err := json.Marshal(actions); err != nil || len(b) > convo.MaxFlowActionsJSON {
		return nil, convo.Invalid(convo.ReasonTooLong, "actions take more than %d bytes as JSON", convo.MaxFlowActionsJSON)
	}
	return actions, nil
}

// normalizeActions checks a flow's actions: unique UUID ids (generated when
// missing), jumps to actions that exist, and options of the right shape.
func normalizeActions(in []convo.Action) ([]convo.Action, error) {
	if len(in) > convo.MaxFlowActions {
		return nil, convo.Invalid(convo.ReasonTooLong, "a flow has at most %d actions", convo.MaxFlowActions)
	}
	actions := slices.Clone(in)
	ids := map[string]bool{}
	bad := func(i int, format string, args ...any) error {
		a := actions[i]
		return convo.Invalid("INVALID_ACTION", "action %d (type %q, id %q): %s", i, a.Type, a.ID, fmt.Sprintf(format, args...))
	}
	for i := range actions {
		a := &actions[i]
		a.TMExecute = nil
		a.Type = strings.TrimSpace(a.Type)
		if a.Type == "" {
			return nil, bad(i, "type is required")
		}
		if convo.IsNilID(a.ID) {
			a.ID = convo.NewID()
		} else if id, err := convo.ParseID(a.ID); err == nil {
			a.ID = id
		} else {
			return nil, bad(i, "id must be a UUID")
		}
		if ids[a.ID] {
			return nil, bad(i, "id is used by another action")
		}
		ids[a.ID] = true
	}
	for i := range actions {
		a := &actions[i]
		target := func(field, v string, required bool) error {
			if convo.IsNilID(v) && !required {
				return nil
			}
			id, err := convo.ParseID(v)
			if err != nil || !ids[id] {
				return convo.Invalid("INVALID_ACTION", "%s must name an action of this flow", field)
			}
			return nil
		}
		if convo.IsNilID(a.NextID) {
			a.NextID = convo.NilID
		} else if err := target("next_id", a.NextID, true); err != nil {
			return nil, bad(i, "%s", convo.ErrorMessage(err))
		} else {
			a.NextID, _ = convo.ParseID(a.NextID)
		}
		if len(a.Option) == 0 || string(a.Option) == "null" {
			a.Option = json.RawMessage("{}")
		}
		var opt map[string]any
		if err := json.Unmarshal(a.Option, &opt); err != nil {
			return nil, bad(i, "option must be a JSON object")
		}
		if err := checkOption(a.Type, opt, target); err != nil {
			return nil, bad(i, "%s", convo.ErrorMessage(err))
		}
	}
	return actions, nil
}

// checkOption checks the option fields of one action type.
func checkOption(typ string, opt map[string]any, target func(field, v string, required bool) error) error {
	str := func(key string, required bool) (string, error) {
		v, ok := opt[key]
		if !ok || v == nil {
			if required {
				return "", convo.Invalid("INVALID_ACTION", "option.%s is required", key)
			}
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", convo.Invalid("INVALID_ACTION", "option.%s must be a string", key)
		}
		return s, nil
	}
	num := func(key string, required bool) (float64, error) {
		v, ok := opt[key]
		if !ok || v == nil {
			if required {
				return 0, convo.Invalid("INVALID_ACTION", "option.%s is required", key)
			}
			return 0, nil
		}
		n, ok := v.(float64)
		if !ok || n < 0 {
			return 0, convo.Invalid("INVALID_ACTION", "option.%s must be a number of at least 0", key)
		}
		return n, nil
	}
	jump := func(key string, required bool) error {
		v, err := str(key, required)
		if err != nil {
			return err
		}
		return target("option."+key, v, required)
	}
	var err error
	switch typ {
	case convo.ActionConversationSend:
		if _, err = str("text", false); err == nil {
			var id string
			if id, err = str("conversation_id", false); err == nil && id != "" && !strings.Contains(id, "${") {
				if _, perr := convo.ParseID(id); perr != nil {
					err = convo.Invalid("INVALID_ACTION", "option.conversation_id must be a UUID")
				}
			}
		}
	case convo.ActionWebhookSend:
		var uri, method string
		if uri, err = str("uri", true); err == nil && !strings.Contains(uri, "${") {
			if u, perr := url.Parse(uri); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				err = convo.Invalid("INVALID_ACTION", "option.uri must be an http or https URL")
			}
		}
		if err == nil {
			if method, err = str("method", false); err == nil && !slices.Contains([]string{"", "POST", "GET", "PUT", "DELETE"}, method) {
				err = convo.Invalid("INVALID_ACTION", "option.method must be POST, GET, PUT or DELETE")
			}
		}
		if err == nil {
			_, err = str("data_type", false)
		}
	case convo.ActionVariableSet:
		if _, err = str("key", true); err == nil {
			_, err = str("value", false)
		}
	case convo.ActionBranch:
		if _, err = str("variable", true); err == nil {
			err = jump("default_target_id", false)
		}
		if t, ok := opt["target_ids"]; err == nil && ok && t != nil {
			m, isMap := t.(map[string]any)
			if !isMap {
				return convo.Invalid("INVALID_ACTION", "option.target_ids must be an object of value: action id")
			}
			for k, v := range m {
				s, _ := v.(string)
				if terr := target("option.target_ids."+k, s, true); terr != nil {
					return terr
				}
			}
		}
	case convo.ActionConditionVariable:
		var cond, vt string
		if cond, err = str("condition", true); err == nil && !slices.Contains([]string{"==", "!=", ">", ">=", "<", "<="}, cond) {
			err = convo.Invalid("INVALID_ACTION", "option.condition must be one of == != > >= < <=")
		}
		if err == nil {
			if vt, err = str("value_type", false); err == nil && !slices.Contains([]string{"", "string", "number"}, vt) {
				err = convo.Invalid("INVALID_ACTION", "option.value_type must be string or number")
			}
		}
		if err == nil {
			_, err = str("variable", true)
		}
		if err == nil {
			_, err = str("value_string", false)
		}
		if v, ok := opt["value_number"]; err == nil && ok && v != nil {
			if _, isNum := v.(float64); !isNum {
				err = convo.Invalid("INVALID_ACTION", "option.value_number must be a number")
			}
		}
		if err == nil {
			err = jump("false_target_id", false)
		}
	case convo.ActionGoto:
		var n float64
		if err = jump("target_id", true); err == nil {
			// The engine counts loops in an int: a fraction or a huge
			// number would silently mean no loop at all.
			if n, err = num("loop_count", false); err == nil && (n != math.Trunc(n) || n > math.MaxInt32) {
				err = convo.Invalid("INVALID_ACTION", "option.loop_count must be a whole number up to %d", math.MaxInt32)
			}
		}
	case convo.ActionSleep:
		var ms float64
		// Longer sleeps would overflow a time.Duration and not sleep at all.
		if ms, err = num("duration", true); err == nil && ms > float64(math.MaxInt64/int64(time.Millisecond)) {
			err = convo.Invalid("INVALID_ACTION", "option.duration is too long")
		}
	}
	return err
}

// customerFlow returns a live flow of the caller's customer.
func customerFlow(ctx context.Context, tx convo.Tx, customerID, id string) (*convo.Flow, error) {
	f, err := tx.GetFlow(ctx, id)
	if err == nil && (f.CustomerID != customerID || !f.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonFlowNotFound, "flow")
	}
	return f, err
}

// checkMessageFlow refuses a message_flow_id that names no live flow of the customer.
func checkMessageFlow(ctx context.Context, tx convo.Tx, customerID, flowID string) error {
	return checkFlowRef(ctx, tx, customerID, "message_flow_id", flowID)
}

// checkFlowRef refuses a flow reference (field) that names no live flow of
// the customer; the nil UUID names none and is accepted.
func checkFlowRef(ctx context.Context, tx convo.Tx, customerID, field, flowID string) error {
	if convo.IsNilID(flowID) {
		return nil
	}
	_, err := customerFlow(ctx, tx, customerID, flowID)
	if convo.ErrorStatus(err) == convo.ENotFound {
		return convo.Invalid(convo.ReasonFlowNotFound, "%s names no flow of yours", field)
	}
	return err
}

// CreateFlow creates a flow (admin/manager).
func (s *Service) CreateFlow(ctx context.Context, c *convo.Caller, in FlowInput) (*convo.Flow, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	now := s.now()
	f := &convo.Flow{ID: convo.NewID(), CustomerID: c.CustomerID, Type: "flow", Actions: []convo.Action{},
		OnCompleteFlowID: convo.NilID, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := in.apply(f); err != nil {
		return nil, err
	}
	return f, s.update(ctx, func(tx convo.Tx) error {
		if err := checkFlowRef(ctx, tx, f.CustomerID, "on_complete_flow_id", f.OnCompleteFlowID); err != nil {
			return err
		}
		return tx.CreateFlow(ctx, f)
	})
}

// GetFlow returns a flow of the caller's customer (admin/manager).
func (s *Service) GetFlow(ctx context.Context, c *convo.Caller, id string) (*convo.Flow, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var f *convo.Flow
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		f, err = customerFlow(ctx, tx, c.CustomerID, id)
		return err
	})
	return f, err
}

// ListFlows lists the caller's customer's flows (admin/manager).
func (s *Service) ListFlows(ctx context.Context, c *convo.Caller, pr convo.PageRequest) (convo.List[*convo.Flow], error) {
	return listPage(ctx, s, pr, requireManager(c), func(tx convo.Tx, page convo.Page) ([]*convo.Flow, error) {
		return tx.ListFlows(ctx, convo.FlowListParams{CustomerID: c.CustomerID, Page: page})
	}, func(f *convo.Flow) convo.Cursor { return cursorOf(f.TMCreate, f.ID) })
}

// changeFlow runs one change of a flow of the caller's customer (admin/manager).
func (s *Service) changeFlow(ctx context.Context, c *convo.Caller, id string, change func(tx convo.Tx, f *convo.Flow) error) (*convo.Flow, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var f *convo.Flow
	err = s.update(ctx, func(tx convo.Tx) (err error) {
		if f, err = customerFlow(ctx, tx, c.CustomerID, id); err != nil {
			return err
		}
		if err := change(tx, f); err != nil {
			return err
		}
		f.TMUpdate = s.now()
		return tx.UpdateFlow(ctx, f)
	})
	return f, err
}

// UpdateFlow changes a flow; running activeflows keep the actions they started with.
func (s *Service) UpdateFlow(ctx context.Context, c *convo.Caller, id string, in FlowInput) (*convo.Flow, error) {
	return s.changeFlow(ctx, c, id, func(tx convo.Tx, f *convo.Flow) error {
		before := f.OnCompleteFlowID
		if err := in.apply(f); err != nil {
			return err
		}
		if f.OnCompleteFlowID == before {
			// A reference made while its flow lived stays as it is.
			return nil
		}
		return checkFlowRef(ctx, tx, f.CustomerID, "on_complete_flow_id", f.OnCompleteFlowID)
	})
}

// DeleteFlow soft-deletes a flow no live account uses (admin/manager).
func (s *Service) DeleteFlow(ctx context.Context, c *convo.Caller, id string) (*convo.Flow, error) {
	return s.changeFlow(ctx, c, id, func(tx convo.Tx, f *convo.Flow) error {
		n, err := tx.CountFlowAccounts(ctx, f.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return convo.Errorf(convo.EPrecondition, "FLOW_IN_USE", "%d account(s) run this flow; change their message_flow_id first", n)
		}
		f.TMDelete = s.now()
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceFlow, f.ID, nil)
	})
}
