package convo

// Job kinds.
const (
	// JobSendMessage sends an outgoing message (RefID: the message).
	JobSendMessage = "send_message"
	// JobPeerName looks up a peer's display name (RefID: the conversation).
	JobPeerName = "peer_name"
	// JobActiveflow runs an activeflow's next actions (RefID: the activeflow).
	JobActiveflow = "activeflow"
	// JobUnsnooze opens a snoozed conversation at its snoozed_until (RefID:
	// the conversation); a no-op if the conversation changed status or was
	// snoozed again since.
	JobUnsnooze = "unsnooze"
	// JobAutoResolve is the one job, rescheduled after each run, that
	// resolves conversations idle for their account's auto_resolve_after.
	JobAutoResolve = "auto_resolve"
)

// Job is durable work that runs after the commit that created it, so that a
// crash after the commit loses nothing: a restart finds and finishes it.
type Job struct {
	ID    string
	Kind  string
	RefID string
	// RunAt is when the job is due.
	RunAt Time
	// Attempts counts the claims so far.
	Attempts int
	// LockedUntil is when the current claim's lease ends. A job created
	// with it set is claimed from the start by the process that made it,
	// which runs it after the commit; others take it only once the lease
	// has ended.
	LockedUntil Time
	LastError   string
	TMCreate    Time
}

// AutoResolveJobID is the id of the one JobAutoResolve.
const AutoResolveJobID = "00000000-0000-7000-8000-00000000a001"

// ClaimJobsParams selects jobs to claim: due ones whose lease has expired,
// or one job by ID regardless of when it is due.
type ClaimJobsParams struct {
	ID         string
	Now        Time
	LeaseUntil Time
	Limit      int
}
