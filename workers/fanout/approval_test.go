package fanout

import (
	"context"
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
