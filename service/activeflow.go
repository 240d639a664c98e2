package service

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/convohq/convo"
)

// startActiveflow starts the account's flow on an inbound message, inside
// the transaction that stored it, unless an agent owns the conversation.
// It reports whether it queued the run.
func (s *Service) startActiveflow(ctx context.Context, tx convo.Tx, a *convo.Account, conv *convo.Conversation, msg *convo.Message) (bool, error) {
	if convo.IsNilID(a.MessageFlowID) || conv.OwnerType == convo.OwnerAgent {
		return false, nil
	}
	flow, err := customerFlow(ctx, tx, a.CustomerID, a.MessageFlowID)
	if convo.ErrorStatus(err) == convo.ENotFound {
		s.logger.Warn("account's message flow is gone; no activeflow started", "account_id", a.ID, "flow_id", a.MessageFlowID)
		return false, nil
	} else if err != nil || len(flow.Actions) == 0 {
		return false, err
	}
	af := s.newRun(convo.NewID(), a.CustomerID, flow.ID, flow.Actions, flow.OnCompleteFlowID)
	af.ReferenceType, af.ReferenceID = convo.ReferenceConversation, conv.ID
	af.Variables = conversationVariables(conv)
	af.Variables["voipbin.conversation_message.id"] = msg.ID
	af.Variables["voipbin.conversation_message.text"] = msg.Text
	af.Variables["voipbin.conversation_message.direction"] = msg.Direction
	dataVariables(af.Variables, msg.Data)
	return true, s.startRun(ctx, tx, af)
}

// step is what executing one action decided.
type step struct {
	// next is the action to go to; "" means the action's next_id or the following one.
	next string
	stop bool
	// sleep, when set, pauses the run for that long before the next action.
	sleep time.Duration
	// sendJob is the job of a message the action queued, sent right after
	// the action commits.
	sendJob string
}

// runActiveflow executes an activeflow's actions, each in a transaction of
// its own together with its effects and the run's new state: an action is
// never executed twice, also across a crash. A sleep reschedules the job.
func (s *Service) runActiveflow(ctx context.Context, j *convo.Job) error {
	for {
		var done, chained bool
		var sleep time.Duration
		var sendJob string
		err := s.update(ctx, func(tx convo.Tx) (err error) {
			done, chained, sleep, sendJob = false, false, 0, ""
			af, err := tx.GetActiveflow(ctx, j.RefID)
			if convo.ErrorStatus(err) == convo.ENotFound {
				done = true
				return tx.DeleteJob(ctx, j.ID)
			} else if err != nil {
				return err
			}
			if af.Status != convo.ActiveflowRunning || !af.TMDelete.IsNever() {
				done = true
				return tx.DeleteJob(ctx, j.ID)
			}
			action := af.CurrentAction
			st, err := s.execute(ctx, tx, af, action)
			if err != nil {
				return err
			}
			sendJob = st.sendJob
			now := s.now()
			action.TMExecute = &now
			af.ExecutedActions = append(af.ExecutedActions, action)
			af.ExecuteCount++
			next, ok := nextAction(af.Actions, action, st.next)
			if st.stop || !ok || af.ExecuteCount >= convo.MaxExecutedActions {
				cutShort := ok && !st.stop
				if cutShort {
					s.logger.Warn("activeflow reached the action limit", "activeflow_id", af.ID, "limit", convo.MaxExecutedActions)
				}
				af.Status, af.TMUpdate = convo.ActiveflowEnded, now
				done = true
				if err := tx.UpdateActiveflow(ctx, af); err != nil {
					return err
				}
				if err := s.emitActiveflow(ctx, tx, convo.EventActiveflowUpdated, af); err != nil {
					return err
				}
				if !cutShort {
					// A run that ended by itself hands over to its on-complete flow.
					if chained, err = s.startNextInChain(ctx, tx, af); err != nil {
						return err
					}
				}
				return tx.DeleteJob(ctx, j.ID)
			}
			af.CurrentAction, af.TMUpdate = next, now
			if err := tx.UpdateActiveflow(ctx, af); err != nil {
				return err
			}
			if st.sleep > 0 {
				sleep, done = st.sleep, true
				return tx.RescheduleJob(ctx, j.ID, convo.NewTime(now.Add(st.sleep)), "")
			}
			return nil
		})
		if err == nil && sendJob != "" {
			// The message goes out before the next action runs, so that a
			// flow's messages arrive in order; the job's later due time is
			// only the backstop should this process die first.
			var jobs []*convo.Job
			cerr := s.outage.Retry(s.jobs.Stopping(), "claim a job", func() (err error) {
				jobs, err = s.claimJobs(ctx, convo.ClaimJobsParams{ID: sendJob, Limit: 1})
				return err
			})
			if cerr != nil {
				s.outage.LogError("claim job", cerr, "job_id", sendJob)
			} else if len(jobs) == 1 {
				if rerr := s.outage.Retry(s.jobs.Stopping(), "run a job", func() error { return s.runJob(ctx, jobs[0]) }); rerr != nil {
					s.outage.LogError("job failed to run", rerr, "job_id", sendJob, "kind", jobs[0].Kind)
				}
			}
		}
		if err == nil && chained {
			s.jobs.Wake()
		}
		if err != nil || done {
			if sleep > 0 && sleep < jobPollInterval {
				// Short sleeps end on time rather than at the next poll.
				time.AfterFunc(sleep, s.jobs.Wake)
			}
			return err
		}
	}
}

// nextAction finds where a run goes after action: to the id the action
// chose, else its next_id, else the action after it in the list.
func nextAction(actions []convo.Action, action convo.Action, chosen string) (convo.Action, bool) {
	id := chosen
	if convo.IsNilID(id) {
		id = action.NextID
	}
	if convo.IsNilID(id) {
		i := slices.IndexFunc(actions, func(a convo.Action) bool { return a.ID == action.ID })
		if i < 0 || i+1 >= len(actions) {
			return convo.Action{}, false
		}
		return actions[i+1], true
	}
	i := slices.IndexFunc(actions, func(a convo.Action) bool { return a.ID == id })
	if i < 0 {
		return convo.Action{}, false
	}
	return actions[i], true
}

// actionOption is the union of the option fields of the executed action types.
type actionOption struct {
	ConversationID  string            `json:"conversation_id"`
	Text            string            `json:"text"`
	URI             string            `json:"uri"`
	Method          string            `json:"method"`
	DataType        string            `json:"data_type"`
	Data            json.RawMessage   `json:"data"`
	Key             string            `json:"key"`
	Value           string            `json:"value"`
	Variable        string            `json:"variable"`
	DefaultTargetID string            `json:"default_target_id"`
	TargetIDs       map[string]string `json:"target_ids"`
	Condition       string            `json:"condition"`
	ValueType       string            `json:"value_type"`
	ValueString     string            `json:"value_string"`
	ValueNumber     float64           `json:"value_number"`
	FalseTargetID   string            `json:"false_target_id"`
	TargetID        string            `json:"target_id"`
	LoopCount       int               `json:"loop_count"`
	Duration        float64           `json:"duration"`
}

// execute performs one action on af (whose variables it may change) and
// says where to go next. Its effects are writes in tx only, so they commit
// with the run's new state or not at all.
func (s *Service) execute(ctx context.Context, tx convo.Tx, af *convo.Activeflow, action convo.Action) (step, error) {
	var raw actionOption
	json.Unmarshal(action.Option, &raw)
	substituted, err := convo.SubstituteJSON(action.Option, af.Variables)
	if err != nil {
		substituted = action.Option
	}
	var opt actionOption
	json.Unmarshal(substituted, &opt)
	switch action.Type {
	case convo.ActionConversationSend:
		return s.flowSend(ctx, tx, af, opt)
	case convo.ActionWebhookSend:
		return step{}, s.flowWebhook(ctx, tx, af, opt)
	case convo.ActionVariableSet:
		if opt.Key != "" {
			af.Variables[opt.Key] = opt.Value
		}
	case convo.ActionBranch:
		if target, ok := opt.TargetIDs[af.Variables[variableName(raw.Variable)]]; ok {
			return step{next: target}, nil
		}
		return step{next: opt.DefaultTargetID}, nil
	case convo.ActionConditionVariable:
		if !compare(opt.Condition, opt.ValueType, af.Variables[variableName(raw.Variable)], opt.ValueString, opt.ValueNumber) {
			return step{next: opt.FalseTargetID}, nil
		}
	case convo.ActionGoto:
		if af.LoopCounts == nil {
			af.LoopCounts = map[string]int{}
		}
		if af.LoopCounts[action.ID] < opt.LoopCount {
			af.LoopCounts[action.ID]++
			return step{next: opt.TargetID}, nil
		}
	case convo.ActionStop:
		return step{stop: true}, nil
	case convo.ActionSleep:
		return step{sleep: time.Duration(opt.Duration * float64(time.Millisecond))}, nil
	}
	return step{}, nil
}

// variableName accepts a variable named bare or as ${name}.
func variableName(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		return strings.TrimSpace(v[2 : len(v)-1])
	}
	return v
}

// compare evaluates a condition_variable test.
func compare(cond, valueType, have, wantString string, wantNumber float64) bool {
	var c int
	if valueType == "number" {
		n, err := strconv.ParseFloat(strings.TrimSpace(have), 64)
		if err != nil {
			return cond == "!="
		}
		switch {
		case n < wantNumber:
			c = -1
		case n > wantNumber:
			c = 1
		}
	} else {
		c = strings.Compare(have, wantString)
	}
	switch cond {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	}
	return false
}

// flowSend queues a message on the triggering conversation, or another
// conversation of the same customer.
func (s *Service) flowSend(ctx context.Context, tx convo.Tx, af *convo.Activeflow, opt actionOption) (step, error) {
	id := af.ReferenceID
	if !convo.IsNilID(opt.ConversationID) {
		id = opt.ConversationID
	}
	conv, err := tx.GetConversation(ctx, id)
	if err == nil && conv.CustomerID != af.CustomerID {
		err = convo.NotFound(convo.ReasonConversationNotFound, "conversation")
	}
	if err == nil && strings.TrimSpace(opt.Text) == "" {
		err = convo.Invalid(convo.ReasonEmptyMessage, "no text to send")
	}
	var job *convo.Job
	if err == nil {
		sender := &convo.MessageSender{Type: convo.SenderFlow, ID: af.ID}
		_, job, err = s.queueOutgoing(ctx, tx, conv, sender, opt.Text, []convo.Media{}, s.clock.Now().Add(sendBackstop))
	}
	if st := convo.ErrorStatus(err); st == convo.ENotFound || st == convo.EPrecondition || st == convo.EInvalid {
		s.logger.Warn("conversation_send skipped", "activeflow_id", af.ID, "conversation_id", id, "reason", convo.ErrorMessage(err))
		return step{}, nil
	}
	if err != nil {
		return step{}, err
	}
	return step{sendJob: job.ID}, nil
}

// flowWebhook queues a request to the action's URI in the outbox, delivered
// and retried like a customer webhook.
func (s *Service) flowWebhook(ctx context.Context, tx convo.Tx, af *convo.Activeflow, opt actionOption) error {
	body := []byte(opt.Data)
	var text string
	if json.Unmarshal(opt.Data, &text) == nil {
		body = []byte(text) // a string is sent as is; any other JSON value as JSON
	}
	e := s.newEvent(convo.ActionWebhookSend, af.CustomerID, af.ID, af.ReferenceID, body)
	e.TargetURI, e.TargetMethod, e.ContentType = opt.URI, strings.ToUpper(opt.Method), opt.DataType
	if e.TargetMethod == "" {
		e.TargetMethod = "POST"
	}
	if e.ContentType == "" {
		e.ContentType = "application/json"
	}
	return tx.CreateEvent(ctx, e)
}

// customerActiveflow returns a live activeflow of the caller's customer.
func customerActiveflow(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Activeflow, error) {
	af, err := tx.GetActiveflow(ctx, id)
	if err == nil && (af.CustomerID != c.CustomerID || !af.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonActiveflowNotFound, "activeflow")
	}
	return af, err
}

// GetActiveflow returns an activeflow (admin/manager).
func (s *Service) GetActiveflow(ctx context.Context, c *convo.Caller, id string) (*convo.Activeflow, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var af *convo.Activeflow
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		af, err = customerActiveflow(ctx, tx, c, id)
		return err
	})
	return af, err
}

// ActiveflowFilter holds the filters of GET /activeflows.
type ActiveflowFilter struct {
	FlowID, ReferenceID string
}

// ListActiveflows lists activeflows, optionally of one flow or conversation (admin/manager).
func (s *Service) ListActiveflows(ctx context.Context, c *convo.Caller, f ActiveflowFilter, pr convo.PageRequest) (convo.List[*convo.Activeflow], error) {
	p := convo.ActiveflowListParams{CustomerID: c.CustomerID}
	allowed := requireManager(c)
	if allowed == nil && !convo.IsNilID(f.FlowID) {
		p.FlowID, allowed = parseID(f.FlowID, "flow_id")
	}
	if allowed == nil && !convo.IsNilID(f.ReferenceID) {
		p.ReferenceID, allowed = parseID(f.ReferenceID, "reference_id")
	}
	return listPage(ctx, s, pr, allowed, func(tx convo.Tx, page convo.Page) ([]*convo.Activeflow, error) {
		p.Page = page
		return tx.ListActiveflows(ctx, p)
	}, func(a *convo.Activeflow) convo.Cursor { return cursorOf(a.TMCreate, a.ID) })
}

// changeActiveflow runs one change of an activeflow (admin/manager),
// recording action, when set, in the audit log.
func (s *Service) changeActiveflow(ctx context.Context, c *convo.Caller, id, action string, change func(af *convo.Activeflow)) (*convo.Activeflow, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var af *convo.Activeflow
	err = s.update(ctx, func(tx convo.Tx) (err error) {
		if af, err = customerActiveflow(ctx, tx, c, id); err != nil {
			return err
		}
		wasRunning := af.Status == convo.ActiveflowRunning
		change(af)
		af.TMUpdate = s.now()
		if err := tx.UpdateActiveflow(ctx, af); err != nil {
			return err
		}
		if action != "" {
			if err := s.audit(ctx, tx, c, action, convo.ResourceActiveflow, af.ID, nil); err != nil {
				return err
			}
		}
		if !wasRunning {
			return nil
		}
		// Its job finds it ended and drops itself.
		return s.emitActiveflow(ctx, tx, convo.EventActiveflowUpdated, af)
	})
	return af, err
}

// StopActiveflow ends a running activeflow before its next action.
func (s *Service) StopActiveflow(ctx context.Context, c *convo.Caller, id string) (*convo.Activeflow, error) {
	return s.changeActiveflow(ctx, c, id, "", func(af *convo.Activeflow) { af.Status = convo.ActiveflowEnded })
}

// DeleteActiveflow stops and soft-deletes an activeflow.
func (s *Service) DeleteActiveflow(ctx context.Context, c *convo.Caller, id string) (*convo.Activeflow, error) {
	return s.changeActiveflow(ctx, c, id, convo.AuditDeleted, func(af *convo.Activeflow) {
		af.Status, af.TMDelete = convo.ActiveflowEnded, s.now()
	})
}
