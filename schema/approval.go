package schema

import (
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"fmt"
	"time"
)

// Result codes of the approval flow. They are pushpipe's own (mPaaS has
// no approval in its server API): a request an approver rejected, or that
// nobody approved in time, ends as a rejected event with one of them and a
// dead-letter record of the request.
const (
	// CodeApprovalRejected: an operator rejected the request in the
	// console; the reason names who and why.
	CodeApprovalRejected ResultCode = 3901
	// CodeApprovalExpired: nobody approved the request before its
	// approval window (apps[].approval.expiry) ended.
	CodeApprovalExpired ResultCode = 3902
)

// SubmitterHeader is the Kafka header of a request on push.requests.R
// naming who submitted it ("console:<account>", "accesskey:<id>"). The
// approval flow records it on the held request so that the submitter may
// not approve its own push; it grants nothing, so a forged value can only
// keep an account from approving.
const SubmitterHeader = "pushpipe-submitter"

// DefaultApprovalExpiry is how long a held request waits for a decision
// when the app's policy does not say.
const DefaultApprovalExpiry = 24 * time.Hour

// MaxApprovalExpiry bounds apps[].approval.expiry.
const MaxApprovalExpiry = 7 * 24 * time.Hour

// ApprovalPolicy says which of an app's pushes wait for a second
// operator's approval before they are fanned out. The zero value requires
// none.
type ApprovalPolicy struct {
	// Broadcast holds every BROADCAST.
	Broadcast bool
	// MaxTargets, when above 0, holds every push naming more targets
	// (targetMsgkey or targetMsgs entries); a BROADCAST, whose audience is
	// known only while it is sent, counts as above any MaxTargets.
	MaxTargets int
	// Expiry is how long a held request waits (DefaultApprovalExpiry when 0).
	Expiry time.Duration
}

// Active reports whether the policy holds any push at all.
func (p ApprovalPolicy) Active() bool { return p.Broadcast || p.MaxTargets > 0 }

// Requires reports whether req must wait for approval under p, and why
// (the words go into the held request's accepted event). A scheduled or
// loop request is not held when it is scheduled: each occurrence is, when
// the scheduler fires it.
func (p ApprovalPolicy) Requires(req *Request) (bool, string) {
	if req.IsScheduled() {
		return false, ""
	}
	if req.Type == PushBroadcast {
		switch {
		case p.Broadcast:
			return true, "the app requires approval for every BROADCAST (apps[].approval.broadcast)"
		case p.MaxTargets > 0:
			return true, fmt.Sprintf("a BROADCAST counts as more than the app's %d targets (apps[].approval.maxTargets)", p.MaxTargets)
		}
		return false, ""
	}
	if n := TargetCount(req); p.MaxTargets > 0 && n > p.MaxTargets {
		return true, fmt.Sprintf("the push names %d targets, more than the app's %d (apps[].approval.maxTargets)", n, p.MaxTargets)
	}
	return false, ""
}

// ExpiryOrDefault is Expiry, or DefaultApprovalExpiry when unset.
func (p ApprovalPolicy) ExpiryOrDefault() time.Duration {
	if p.Expiry <= 0 {
		return DefaultApprovalExpiry
	}
	return p.Expiry
}

// TargetCount is the number of targets a request names: its targetMsgkey
// or targetMsgs entries; -1 for a BROADCAST (its audience).
func TargetCount(req *Request) int {
	if req.Type == PushBroadcast {
		return -1
	}
	return len(req.TargetMsgkey) + len(req.TargetMsgs)
}

// ApprovalDecision is what became of a held request.
type ApprovalDecision string

// Decisions. The empty decision is a request still waiting.
const (
	ApprovalWaiting  ApprovalDecision = ""
	ApprovalApproved ApprovalDecision = "approved"
	ApprovalRejected ApprovalDecision = "rejected"
	ApprovalExpired  ApprovalDecision = "expired"
)

// ApprovalSystem is the DecidedBy of an expiry: the pipeline, not an
// operator.
const ApprovalSystem = "pushpipe"

// Approval is the state of one held request, the record of the compacted
// topic push.approvals.R keyed by Key ("<appId>/<taskId>", the request's
// own key). Fanout writes it when it holds a request, the console when an
// operator decides, the approval sweeper when a request expires, and
// fanout again (Done) once it acted on the decision. Every record holds
// the writer's whole merged state (Merge), so the record compaction keeps
// knows everything.
//
// Fanout fans a held request out only through this record: a request on
// push.requests.R is released when the record of its key is approved, not
// yet Done, and the request's Digest equals the held one. No field of the
// request itself can claim an approval.
type Approval struct {
	AppID       string   `json:"appId"`
	WorkspaceID string   `json:"workspaceId,omitempty"`
	Region      string   `json:"region"`
	TaskID      string   `json:"taskId"`
	TaskName    string   `json:"taskName,omitempty"`
	PushType    PushType `json:"pushType"`
	// Title is what the console shows: the request's title, else its
	// template's name.
	Title string `json:"title,omitempty"`
	// Targets is TargetCount of the request (-1: a broadcast).
	Targets int `json:"targets"`
	// Reason says why the policy holds it.
	Reason string `json:"reason"`
	// Request is the held request as fanout decoded it (AcceptedAt set).
	Request stdjson.RawMessage `json:"request"`
	// Digest is ApprovalDigest of the held request.
	Digest string `json:"digest"`
	// Submitter is the SubmitterHeader of the request, when it had one.
	Submitter string `json:"submitter,omitempty"`
	// HeldAt and ExpiresAt are Unix ms.
	HeldAt    int64 `json:"heldAt"`
	ExpiresAt int64 `json:"expiresAt"`

	Decision  ApprovalDecision `json:"decision,omitempty"`
	DecidedBy string           `json:"decidedBy,omitempty"`
	DecidedAt int64            `json:"decidedAt,omitempty"`
	Note      string           `json:"note,omitempty"`

	// Done is set by fanout once it released the approved request, or
	// rejected the refused one; a request of the key arriving later is
	// dropped (a replay), so a decision acts once.
	Done   bool  `json:"done,omitempty"`
	DoneAt int64 `json:"doneAt,omitempty"`
}

// ApprovalKey is the key of a request's approval record: AppKey of its
// app and task id, the request's own Kafka key.
func ApprovalKey(appID, taskID string) string { return AppKey(appID, taskID) }

// Key is the record's Kafka key.
func (a Approval) Key() string { return ApprovalKey(a.AppID, a.TaskID) }

// Status is "waiting", the decision, or "expired" for a waiting request
// whose window has passed at now (before the sweeper records it).
func (a Approval) Status(now time.Time) string {
	switch {
	case a.Decision != ApprovalWaiting:
		return string(a.Decision)
	case now.UnixMilli() >= a.ExpiresAt:
		return string(ApprovalExpired)
	}
	return "waiting"
}

// Merge returns the state knowing both a and b: the held request of
// whichever has it, the first decision (a's when both decided), and Done
// once either is. Merge is what every reader applies to the records of a
// key in topic order.
func (a Approval) Merge(b Approval) Approval {
	if len(a.Request) == 0 {
		b.Done = b.Done || a.Done
		b.DoneAt = max(a.DoneAt, b.DoneAt)
		if b.Decision == ApprovalWaiting && a.Decision != ApprovalWaiting {
			b.Decision, b.DecidedBy, b.DecidedAt, b.Note = a.Decision, a.DecidedBy, a.DecidedAt, a.Note
		}
		return b
	}
	if a.Decision == ApprovalWaiting && b.Decision != ApprovalWaiting {
		a.Decision, a.DecidedBy, a.DecidedAt, a.Note = b.Decision, b.DecidedBy, b.DecidedAt, b.Note
	}
	a.Done = a.Done || b.Done
	a.DoneAt = max(a.DoneAt, b.DoneAt)
	return a
}

// Decide returns a with the decision taken by who at now; note is the
// reason of a rejection. It refuses (with an error saying why) a request
// already decided, one whose window has ended (an approval or rejection
// at or after ExpiresAt), and an approval by the submitter.
func (a Approval) Decide(d ApprovalDecision, who, note string, now time.Time) (Approval, error) {
	switch {
	case d != ApprovalApproved && d != ApprovalRejected && d != ApprovalExpired:
		return a, fmt.Errorf("decision %q is not approved, rejected or expired", d)
	case a.Decision != ApprovalWaiting:
		return a, fmt.Errorf("task %s was already %s by %s", a.TaskID, a.Decision, a.DecidedBy)
	case d != ApprovalExpired && now.UnixMilli() >= a.ExpiresAt:
		return a, fmt.Errorf("task %s expired at %s: nobody may decide on it any more", a.TaskID, time.UnixMilli(a.ExpiresAt).UTC().Format(time.RFC3339))
	case d == ApprovalApproved && a.Submitter != "" && a.Submitter == who:
		return a, fmt.Errorf("task %s was submitted by %s, who may not approve it: a second operator must", a.TaskID, who)
	case who == "":
		return a, fmt.Errorf("a decision names who took it")
	}
	a.Decision, a.DecidedBy, a.DecidedAt, a.Note = d, who, now.UnixMilli(), note
	return a, nil
}

// Expire returns a decided as expired by the pipeline at its ExpiresAt
// (the same record whoever writes it, whenever).
func (a Approval) Expire() Approval {
	out, err := a.Decide(ApprovalExpired, ApprovalSystem, "", time.UnixMilli(a.ExpiresAt))
	if err != nil {
		return a
	}
	return out
}

// Refusal is the result code and reason with which fanout rejects a
// rejected or expired request.
func (a Approval) Refusal() (ResultCode, string) {
	if a.Decision == ApprovalRejected {
		reason := fmt.Sprintf("task %s was rejected by %s at %s", a.TaskID, a.DecidedBy, time.UnixMilli(a.DecidedAt).UTC().Format(time.RFC3339))
		if a.Note != "" {
			reason += ": " + a.Note
		}
		return CodeApprovalRejected, reason
	}
	return CodeApprovalExpired, fmt.Sprintf("task %s expired at %s: nobody approved it within its approval window (held since %s)",
		a.TaskID, time.UnixMilli(a.ExpiresAt).UTC().Format(time.RFC3339), time.UnixMilli(a.HeldAt).UTC().Format(time.RFC3339))
}

// Released is the request to publish on push.requests.R once a is
// decided: the held request with AcceptedAt the decision time, so that its
// validity (expiredSeconds) counts from the release. The same record
// always yields the same bytes.
func (a Approval) Released() ([]byte, error) {
	req, err := DecodeRequest(a.Request)
	if err != nil {
		return nil, fmt.Errorf("decoding the held request of task %s: %w", a.TaskID, err)
	}
	if a.DecidedAt > 0 {
		req.AcceptedAt = a.DecidedAt
	}
	b, err := stdjson.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the released request of task %s: %w", a.TaskID, err)
	}
	return b, nil
}

// ApprovalDigest identifies a request's content for the approval flow:
// SHA-256 over its JSON encoding with AcceptedAt left out, so that the
// released copy (AcceptedAt its release time) matches what was held.
func ApprovalDigest(req *Request) (string, error) {
	c := *req
	c.AcceptedAt = 0
	b, err := stdjson.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("encoding the request of task %s: %w", req.DeriveTaskID(), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// NewApproval is the record of req held under policy p at heldAt (Unix
// ms) for reason, submitted by submitter ("" when unknown). req must have
// passed Validate and carry its AcceptedAt.
func NewApproval(req *Request, p ApprovalPolicy, reason, submitter string, heldAt int64) (Approval, error) {
	raw, err := stdjson.Marshal(req)
	if err != nil {
		return Approval{}, fmt.Errorf("encoding the request of task %s: %w", req.DeriveTaskID(), err)
	}
	digest, err := ApprovalDigest(req)
	if err != nil {
		return Approval{}, err
	}
	title := req.Title
	if title == "" && req.TemplateName != "" {
		title = "template " + req.TemplateName
	}
	return Approval{AppID: req.AppID, WorkspaceID: req.WorkspaceID, Region: req.Region, TaskID: req.DeriveTaskID(), TaskName: req.TaskName,
		PushType: req.Type, Title: title, Targets: TargetCount(req), Reason: reason, Request: raw, Digest: digest, Submitter: submitter,
		HeldAt: heldAt, ExpiresAt: heldAt + p.ExpiryOrDefault().Milliseconds()}, nil
}

// DecodeApproval decodes an approval record; it must name an app, a task
// and hold a request.
func DecodeApproval(b []byte) (Approval, error) {
	var a Approval
	if err := stdjson.Unmarshal(b, &a); err != nil {
		return Approval{}, fmt.Errorf("decoding approval record: %w", err)
	}
	if a.AppID == "" || a.TaskID == "" || len(a.Request) == 0 {
		return Approval{}, fmt.Errorf("approval record lacks appId, taskId or request")
	}
	return a, nil
}
