package convo

import (
	"encoding/json"
	"strings"
)

// Action types the flow engine executes; other types are skipped.
const (
	ActionConversationSend  = "conversation_send"
	ActionWebhookSend       = "webhook_send"
	ActionVariableSet       = "variable_set"
	ActionBranch            = "branch"
	ActionConditionVariable = "condition_variable"
	ActionGoto              = "goto"
	ActionStop              = "stop"
	ActionSleep             = "sleep"
)

// MaxExecutedActions ends an activeflow that has executed this many actions.
const MaxExecutedActions = 100

// MaxFlowChainLinks bounds an on-complete chain: at most this many runs are
// started, one after another, by on_complete_flow_id after the first, so a
// flow that names itself stops.
const MaxFlowChainLinks = 5

// Variables given to POST /activeflows: VoIPbin's limits (100 keys, 32 KiB a
// value, 64 KiB in all) and, where it sets none, a key of at most 255 bytes.
const (
	MaxActiveflowVariables     = 100
	MaxActiveflowVariableKey   = 255
	MaxActiveflowVariableValue = 32 << 10
	MaxActiveflowVariablesSize = 64 << 10
)

// ReservedVariablePrefix starts the names convo sets itself; a client's
// variables of that name are ignored.
const ReservedVariablePrefix = "voipbin."

// Flow is a bot: actions that run on the inbound messages of the accounts
// whose message_flow_id names it.
type Flow struct {
	ID               string   `json:"id"`
	CustomerID       string   `json:"customer_id"`
	Type             string   `json:"type"`
	Name             string   `json:"name"`
	Detail           string   `json:"detail"`
	Actions          []Action `json:"actions"`
	OnCompleteFlowID string   `json:"on_complete_flow_id"`
	TMCreate         Time     `json:"tm_create"`
	TMUpdate         Time     `json:"tm_update"`
	TMDelete         Time     `json:"tm_delete"`
}

// Action is one step of a flow. NextID names the following action; the nil
// UUID or empty means the next one in the list.
type Action struct {
	ID     string          `json:"id"`
	NextID string          `json:"next_id"`
	Type   string          `json:"type"`
	Option json.RawMessage `json:"option,omitempty"`
	// TMExecute is set on executed actions.
	TMExecute *Time `json:"tm_execute,omitempty"`
}

// Activeflow statuses.
const (
	ActiveflowRunning = "running"
	ActiveflowEnded   = "ended"
)

// Reference types of activeflows: what a run belongs to.
const (
	ReferenceConversation = "conversation"
	// ReferenceAPI is a run started by POST /activeflows on nothing in
	// particular, as VoIPbin names it; its reference_id is the nil UUID.
	ReferenceAPI = "api"
)

// Activeflow is one run of a flow, started by an inbound message, by the
// API or by the end of the run before it. Its whole state is durable, so a
// restart resumes it where it was.
type Activeflow struct {
	ID            string `json:"id"`
	CustomerID    string `json:"customer_id"`
	FlowID        string `json:"flow_id"`
	Status        string `json:"status"`
	ReferenceType string `json:"reference_type"`
	ReferenceID   string `json:"reference_id"`
	// ReferenceActiveflowID is the run whose end started this one.
	ReferenceActiveflowID string `json:"reference_activeflow_id"`
	// OnCompleteFlowID is the flow to start when this run ends normally,
	// taken from its flow when it started.
	OnCompleteFlowID string `json:"on_complete_flow_id"`
	// WebhookURI and WebhookMethod receive the run's own events, besides
	// the customer's webhook.
	WebhookURI    string `json:"webhook_uri"`
	WebhookMethod string `json:"webhook_method"`
	// ForwardActionID is VoIPbin's pending jump; convo's runs jump at once,
	// so it stays the nil UUID.
	ForwardActionID string `json:"forward_action_id"`
	// CurrentAction is the action to execute next (or last executed, once ended).
	CurrentAction   Action   `json:"current_action"`
	ExecutedActions []Action `json:"executed_actions"`
	ExecuteCount    int      `json:"execute_count"`
	TMCreate        Time     `json:"tm_create"`
	TMUpdate        Time     `json:"tm_update"`
	TMDelete        Time     `json:"tm_delete"`

	// Actions is the flow's actions as they were when the activeflow started.
	Actions []Action `json:"-"`
	// Variables hold the run's variables.
	Variables map[string]string `json:"-"`
	// LoopCounts counts the jumps each goto action has made.
	LoopCounts map[string]int `json:"-"`
	// ChainLength is this run's place in its on-complete chain, from 1.
	ChainLength int `json:"-"`
}

// Event types of activeflows.
const (
	EventActiveflowCreated = "activeflow_created"
	EventActiveflowUpdated = "activeflow_updated"
)

// Substitute replaces every ${name} in s with the variable's value; unknown
// names become "".
func Substitute(s string, vars map[string]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(vars[strings.TrimSpace(s[i+2:i+j])])
		s = s[i+j+1:]
	}
}

// SubstituteJSON replaces variables in every string of a JSON value.
func SubstituteJSON(raw json.RawMessage, vars map[string]string) (json.RawMessage, error) {
	if len(raw) == 0 || !strings.Contains(string(raw), "${") {
		return raw, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(substituteValue(v, vars))
}

func substituteValue(v any, vars map[string]string) any {
	switch t := v.(type) {
	case string:
		return Substitute(t, vars)
	case []any:
		for i := range t {
			t[i] = substituteValue(t[i], vars)
		}
	case map[string]any:
		for k := range t {
			t[k] = substituteValue(t[k], vars)
		}
	}
	return v
}
