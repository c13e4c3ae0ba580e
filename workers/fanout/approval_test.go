package fanout

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// memApprovals is an approval state in memory.
type memApprovals map[string]schema.Approval

func (m memApprovals) Sync(context.Context) error { return nil }
func (m memApprovals) Get(key string) (schema.Approval, bool) {
	a, ok := m[key]
	return a, ok
}

func gatedHandler(t *testing.T, state memApprovals) *Handler {
	t.Helper()
	var mu sync.Mutex
	h, err := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: devices(), Chunk: 2,
		Templates: memTemplates{}, Policies: map[string]schema.ApprovalPolicy{"app": {MaxTargets: 1}}, Approvals: state,
		Emit: func(context.Context, []pipeline.Output) error { mu.Lock(); defer mu.Unlock(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestApprovalGate: a push above the app's maxTargets is fanned out only
// when the pipeline's approval record of its key approves it, once.
func TestApprovalGate(t *testing.T) {
	two := func(r map[string]any) { r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2"} }
	msg := request(two)
	req, err := schema.DecodeRequest(msg.Value)
	if err != nil {
		t.Fatal(err)
	}
	held, err := schema.NewApproval(req, schema.ApprovalPolicy{MaxTargets: 1, Expiry: time.Hour}, "why", "", req.AcceptedAt)
	if err != nil {
		t.Fatal(err)
	}
	approved, _ := held.Decide(schema.ApprovalApproved, "console:bob", "", time.UnixMilli(2000))
	rejected, _ := held.Decide(schema.ApprovalRejected, "console:bob", "spam", time.UnixMilli(2000))
	done := approved
	done.Done = true
	released, err := approved.Released()
	if err != nil {
		t.Fatal(err)
	}
	releasedMsg := kafka.Message{Topic: msg.Topic, Value: released, Time: msg.Time}
	other := request(func(r map[string]any) { two(r); r["title"] = "changed" })

	tests := []struct {
		scenario   string
		state      memApprovals
		msgs       []kafka.Message
		wantCode   []int // per message; 0 = not rejected
		deliveries int
		approvals  int // records written to push.approvals.sg
		heldEvents int // accepted events saying "awaiting approval"
	}{
		{"under the limit: not held", nil, []kafka.Message{request(nil)}, []int{0}, 1, 0, 0},
		{"new: held", nil, []kafka.Message{msg}, []int{0}, 0, 1, 1},
		{"two copies in one batch: held once", nil, []kafka.Message{msg, msg}, []int{0, 0}, 0, 1, 1},
		{"waiting: a copy is dropped", memApprovals{held.Key(): held}, []kafka.Message{msg}, []int{0}, 0, 0, 0},
		{"approved: released once, marked done", memApprovals{held.Key(): approved}, []kafka.Message{releasedMsg, releasedMsg}, []int{0, 0}, 2, 1, 0},
		{"done: a replay is dropped", memApprovals{held.Key(): done}, []kafka.Message{releasedMsg}, []int{0}, 0, 0, 0},
		{"rejected: refused with 3901, marked done", memApprovals{held.Key(): rejected}, []kafka.Message{releasedMsg}, []int{int(schema.CodeApprovalRejected)}, 0, 1, 0},
		{"approved, other content under its key: 3028", memApprovals{held.Key(): approved}, []kafka.Message{other}, []int{int(schema.CodeInvalidParam)}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if tt.state == nil {
				tt.state = memApprovals{}
			}
			res, err := gatedHandler(t, tt.state).HandleBatch(context.Background(), tt.msgs)
			if err != nil {
				t.Fatal(err)
			}
			var deliveries, approvals, heldEvents int
			for i, r := range res {
				code := 0
				if r.Reject != nil {
					code = r.Reject.Code
				}
				if code != tt.wantCode[i] {
					t.Fatalf("message %d rejected with %d (%+v), want %d", i, code, r.Reject, tt.wantCode[i])
				}
				for _, o := range r.Outputs {
					switch o.Topic {
					case pipeline.DeliveriesTopic("sg"):
						deliveries++
					case pipeline.ApprovalsTopic("sg"):
						approvals++
						a, err := schema.DecodeApproval(o.Value)
						if err != nil || string(o.Key) != a.Key() {
							t.Fatalf("approval record %s: %v", o.Key, err)
						}
					case pipeline.EventsTopic("sg"):
						var e schema.Event
						if err := schema.DecodeEvent(o.Value, &e); err == nil && e.Event == schema.EventAccepted && e.StatusDesc != "SUCCESS" {
							heldEvents++
						}
					}
				}
			}
			if deliveries != tt.deliveries || approvals != tt.approvals || heldEvents != tt.heldEvents {
				t.Fatalf("deliveries %d approvals %d held events %d, want %d %d %d", deliveries, approvals, heldEvents, tt.deliveries, tt.approvals, tt.heldEvents)
			}
		})
	}
}

// TestApprovalGateABTest: an A/B test the policy holds is approved as a
// whole, by its full audience; once approved, its variant parts go on
// without being held again, while a part whose test nobody approved, or
// with other content than the approved test's, is refused with 3028.
func TestApprovalGateABTest(t *testing.T) {
	ab := func(title string) func(r map[string]any) {
		return func(r map[string]any) {
			delete(r, "title")
			delete(r, "content")
			r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2", "a3": "m3", "x4": "m4"}
			r["abTest"] = map[string]any{"variants": []map[string]string{{"title": title, "content": "C"}, {"title": "B", "content": "C"}},
				"samplePercent": 50, "decisionSeconds": 60}
		}
	}
	start := request(ab("A"))
	req, err := schema.DecodeRequest(start.Value)
	if err != nil {
		t.Fatal(err)
	}
	held, err := schema.NewApproval(req, schema.ApprovalPolicy{MaxTargets: 1, Expiry: time.Hour}, "why", "", req.AcceptedAt)
	if err != nil {
		t.Fatal(err)
	}
	approved, _ := held.Decide(schema.ApprovalApproved, "console:bob", "", time.UnixMilli(2000))
	// The variant parts fanout writes once the approved test starts.
	res, err := gatedHandler(t, memApprovals{held.Key(): approved}).HandleBatch(context.Background(), []kafka.Message{start})
	if err != nil {
		t.Fatal(err)
	}
	var parts []kafka.Message
	marked := false
	for _, o := range res[0].Outputs {
		switch o.Topic {
		case pipeline.RequestsTopic("sg"):
			parts = append(parts, kafka.Message{Topic: o.Topic, Value: o.Value, Time: start.Time})
		case pipeline.ApprovalsTopic("sg"):
			a, err := schema.DecodeApproval(o.Value)
			marked = err == nil && a.Done
		}
	}
	if len(parts) != 2 || !marked {
		t.Fatalf("the approved test started with %d variant parts and its record marked done %v, want 2 and true", len(parts), marked)
	}
	// A part of a test approved with other copy: the same part fields.
	forgedStart, _ := schema.DecodeRequest(request(ab("A, changed")).Value)
	forged, _ := json.Marshal(forgedStart.ABPartRequest("a", ""))
	done := approved
	done.Done = true

	for _, tc := range []struct {
		scenario string
		state    memApprovals
		msg      kafka.Message
		wantCode int
		wantHeld bool
	}{
		{"the test, not approved yet: held as a whole", memApprovals{}, start, 0, true},
		{"a variant of the approved test: goes on", memApprovals{held.Key(): done}, parts[0], 0, false},
		{"a variant of a test nobody approved: 3028", memApprovals{}, parts[1], int(schema.CodeInvalidParam), false},
		{"a variant of a waiting test: 3028", memApprovals{held.Key(): held}, parts[1], int(schema.CodeInvalidParam), false},
		{"a variant with other copy than the approved test's: 3028", memApprovals{held.Key(): done}, kafka.Message{Topic: start.Topic, Value: forged, Time: start.Time}, int(schema.CodeInvalidParam), false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res, err := gatedHandler(t, tc.state).HandleBatch(context.Background(), []kafka.Message{tc.msg})
			if err != nil {
				t.Fatal(err)
			}
			code := 0
			if res[0].Reject != nil {
				code = res[0].Reject.Code
			}
			if code != tc.wantCode {
				t.Fatalf("rejected with %d (%+v), want %d", code, res[0].Reject, tc.wantCode)
			}
			held := false
			for _, o := range res[0].Outputs {
				held = held || o.Topic == pipeline.ApprovalsTopic("sg")
			}
			if held != tc.wantHeld {
				t.Fatalf("held %v (outputs %d), want %v", held, len(res[0].Outputs), tc.wantHeld)
			}
		})
	}
}
