package schema

import (
	"strings"
	"testing"
	"time"
)

func approvalRequest(typ PushType, targets int) *Request {
	r := &Request{Type: typ, Region: "sg", AppID: "app", WorkspaceID: "default", TaskID: "t1", TaskName: "n", AcceptedAt: 1000}
	if typ == PushBroadcast {
		r.MsgKey, r.TemplateName = "m", "promo"
		return r
	}
	r.TargetMsgkey = StringMap{}
	for i := range targets {
		r.TargetMsgkey[string(rune('a'+i))] = "m"
	}
	return r
}

func TestApprovalPolicyRequires(t *testing.T) {
	tests := []struct {
		scenario string
		p        ApprovalPolicy
		req      *Request
		want     bool
		why      string
	}{
		{"no policy holds nothing", ApprovalPolicy{}, approvalRequest(PushBroadcast, 0), false, ""},
		{"broadcast held", ApprovalPolicy{Broadcast: true}, approvalRequest(PushBroadcast, 0), true, "approval.broadcast"},
		{"targeted push not held by broadcast", ApprovalPolicy{Broadcast: true}, approvalRequest(PushSimple, 5), false, ""},
		{"at the limit not held", ApprovalPolicy{MaxTargets: 3}, approvalRequest(PushSimple, 3), false, ""},
		{"above the limit held", ApprovalPolicy{MaxTargets: 3}, approvalRequest(PushSimple, 4), true, "names 4 targets"},
		{"broadcast counts above any limit", ApprovalPolicy{MaxTargets: 3}, approvalRequest(PushBroadcast, 0), true, "counts as more"},
		{"scheduled request held when fired, not now", ApprovalPolicy{Broadcast: true},
			func() *Request { r := approvalRequest(PushBroadcast, 0); r.StrategyType = StrategyFixedTime; return r }(), false, ""},
		{"fired occurrence held", ApprovalPolicy{Broadcast: true},
			func() *Request {
				r := approvalRequest(PushBroadcast, 0)
				r.StrategyType, r.ScheduleID = StrategyFixedTime, "s1"
				return r
			}(), true, "approval.broadcast"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got, why := tt.p.Requires(tt.req)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Fatalf("Requires = %v %q, want %v containing %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestApprovalStateMachine(t *testing.T) {
	req := approvalRequest(PushBroadcast, 0)
	held, err := NewApproval(req, ApprovalPolicy{Broadcast: true, Expiry: time.Hour}, "why", "console:alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	before := time.UnixMilli(1000 + time.Hour.Milliseconds() - 1)
	after := time.UnixMilli(1000 + time.Hour.Milliseconds())
	tests := []struct {
		scenario string
		from     Approval
		d        ApprovalDecision
		who      string
		at       time.Time
		status   string
		refused  string
	}{
		{"waiting → approved by a second operator", held, ApprovalApproved, "console:bob", before, "approved", ""},
		{"waiting → rejected by the submitter", held, ApprovalRejected, "console:alice", before, "rejected", ""},
		{"the submitter may not approve", held, ApprovalApproved, "console:alice", before, "", "may not approve"},
		{"nobody decides after the expiry", held, ApprovalApproved, "console:bob", after, "", "expired"},
		{"waiting → expired by the pipeline", held, ApprovalExpired, ApprovalSystem, after, "expired", ""},
		{"a decision is final", held.Expire(), ApprovalApproved, "console:bob", before, "", "already expired"},
		{"an unknown decision", held, "maybe", "console:bob", before, "", "not approved, rejected or expired"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got, err := tt.from.Decide(tt.d, tt.who, "", tt.at)
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("Decide = %v, want an error containing %q", err, tt.refused)
				}
				return
			}
			if err != nil || got.Status(tt.at) != tt.status || got.DecidedBy != tt.who {
				t.Fatalf("Decide = %+v, %v; want status %s by %s", got, err, tt.status, tt.who)
			}
		})
	}
	if got := held.Status(after); got != "expired" {
		t.Errorf("a waiting request past its expiry shows %q", got)
	}
}

// TestApprovalMergeAndRelease: the first decision stands whatever comes
// later, Done never goes back, and the released request has the held
// digest whenever it is released.
func TestApprovalMergeAndRelease(t *testing.T) {
	req := approvalRequest(PushBroadcast, 0)
	held, err := NewApproval(req, ApprovalPolicy{Broadcast: true}, "why", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	approved, err := held.Decide(ApprovalApproved, "console:bob", "", time.UnixMilli(5000))
	if err != nil {
		t.Fatal(err)
	}
	done := approved
	done.Done, done.DoneAt = true, 5000
	expired := held.Expire()
	tests := []struct {
		scenario string
		records  []Approval
		decision ApprovalDecision
		done     bool
	}{
		{"held only", []Approval{held}, ApprovalWaiting, false},
		{"approved then expired: approved stands", []Approval{held, approved, expired}, ApprovalApproved, false},
		{"expired then approved: expired stands", []Approval{held, expired, approved}, ApprovalExpired, false},
		{"done then a late waiting copy", []Approval{held, approved, done, held}, ApprovalApproved, true},
		{"done record alone", []Approval{done}, ApprovalApproved, true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			var st Approval
			for _, r := range tt.records {
				st = st.Merge(r)
			}
			if st.Decision != tt.decision || st.Done != tt.done {
				t.Fatalf("merged %s done %v, want %s done %v", st.Decision, st.Done, tt.decision, tt.done)
			}
		})
	}
	b1, err := approved.Released()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := approved.Released()
	if string(b1) != string(b2) {
		t.Fatal("one record released two different requests")
	}
	rel, err := DecodeRequest(b1)
	if err != nil {
		t.Fatal(err)
	}
	if rel.AcceptedAt != 5000 {
		t.Errorf("released request accepted at %d, want the decision time 5000", rel.AcceptedAt)
	}
	if d, _ := ApprovalDigest(rel); d != held.Digest {
		t.Error("the released request's digest differs from the held one")
	}
	changed := *rel
	changed.TemplateName = "other"
	if d, _ := ApprovalDigest(&changed); d == held.Digest {
		t.Error("a changed request has the held digest")
	}
	code, reason := expired.Refusal()
	if code != CodeApprovalExpired || !strings.Contains(reason, "nobody approved") {
		t.Errorf("expired refusal %d %q", code, reason)
	}
	if code.Name() != "APPROVAL_EXPIRED" || CodeApprovalRejected.Name() != "APPROVAL_REJECTED" {
		t.Error("approval result codes have no names")
	}
}
