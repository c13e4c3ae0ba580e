package recall

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// plainChannel is a channel without a recall API.
type plainChannel struct{ name string }

func (c plainChannel) Name() string  { return c.name }
func (c plainChannel) MaxBatch() int { return 100 }
func (c plainChannel) Send(context.Context, []channels.Message) ([]channels.Result, error) {
	return nil, fmt.Errorf("not used")
}

// recallChannel recalls every message whose vendor id it knows, failing
// the first failFirst calls as a whole with a transient error.
type recallChannel struct {
	plainChannel
	known     map[string]bool
	failFirst int

	mu    sync.Mutex
	calls [][]string
}

func (c *recallChannel) MaxRecallBatch() int { return 2 }

func (c *recallChannel) Recall(_ context.Context, msgs []channels.Message, ids []string) ([]channels.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, ids)
	if len(c.calls) <= c.failFirst {
		return nil, fmt.Errorf("vendor busy: %w", channels.ErrTransient)
	}
	res := make([]channels.Result, len(msgs))
	for i := range msgs {
		if c.known[ids[i]] {
			res[i] = channels.Result{Outcome: channels.Success, StatusCode: 2, StatusDesc: "Acked"}
		} else {
			res[i] = channels.Result{Outcome: channels.Permanent, StatusCode: 404, StatusDesc: "unknown message"}
		}
	}
	return res, nil
}

func acked(id, channel, token, vendorID string) store.AckedDelivery {
	return store.AckedDelivery{DeliveryRecord: store.DeliveryRecord{DeliveryID: id, AppID: "A", TaskID: "t1", MsgID: "m1",
		DeviceID: "dev-" + id, Channel: channel, Token: token}, VendorMsgID: vendorID}
}

func TestRecallOfARevoke(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: "A", TaskID: "t1", TS: now.Add(-2 * time.Second).UnixMilli()}
	b, _ := json.Marshal(revoke)
	for _, tc := range []struct {
		scenario  string
		failFirst int
		want      map[string]int64 // delivery -> recalled status
		wantCalls int
	}{
		{scenario: "vendor recalls known ids, refuses unknown ones; other vendors cannot recall", wantCalls: 2,
			want: map[string]int64{"d1": 2, "d2": 2, "d3": 404, "d4": schema.StatusNone, "d5": schema.StatusNone, "d6": schema.StatusNone}},
		{scenario: "transient vendor errors are retried", failFirst: 2, wantCalls: 4,
			want: map[string]int64{"d1": 2, "d2": 2, "d3": 404, "d4": schema.StatusNone, "d5": schema.StatusNone, "d6": schema.StatusNone}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			rc := &recallChannel{plainChannel: plainChannel{"vivo"}, known: map[string]bool{"v1": true, "v2": true}, failFirst: tc.failFirst}
			var slept time.Duration
			var asked []schema.Control
			h, err := New(Config{Region: "sg", Settle: 5 * time.Second,
				Channels: map[string]channels.Channel{"vivo": rc, "apns": plainChannel{"apns"}, "sms": &recallChannel{plainChannel: plainChannel{"sms"}}},
				Acked: func(_ context.Context, c schema.Control) ([]store.AckedDelivery, error) {
					asked = append(asked, c)
					return []store.AckedDelivery{acked("d1", "vivo", "t1", "v1"), acked("d2", "vivo", "t2", "v2"),
						acked("d3", "vivo", "t3", "v3"), acked("d4", "apns", "t4", ""), acked("d5", "", "", ""), acked("d6", "sms", "+6591234567", "9006^0")}, nil
				},
				Now:   func() time.Time { return now.Add(slept) },
				Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: b}, {Value: []byte(`{"op":"revoke"}`)}})
			if err != nil {
				t.Fatal(err)
			}
			if len(asked) != 1 || asked[0].TaskID != "t1" {
				t.Fatalf("acked deliveries asked for %+v", asked)
			}
			if slept < 3*time.Second {
				t.Errorf("slept %s before looking, want the 3s left of the settle time", slept)
			}
			if res[1].Reject == nil {
				t.Error("an invalid revoke was not rejected")
			}
			got := map[string]int64{}
			for _, o := range res[0].Outputs {
				var e schema.Event
				if o.Topic != pipeline.EventsTopic("sg") || json.Unmarshal(o.Value, &e) != nil || e.Event != schema.EventRecalled {
					t.Fatalf("unexpected output %s %s", o.Topic, o.Value)
				}
				if e.EventID != schema.NewEventID(schema.EventRecalled, e.DeliveryID, "0") {
					t.Errorf("recalled event id %s is not the delivery's", e.EventID)
				}
				got[e.DeliveryID] = e.StatusCode
				if e.DeliveryID == "d6" && !strings.Contains(e.StatusDesc, "cannot be taken back") {
					t.Errorf("the SMS's recalled event says %q, want that an SMS cannot be taken back", e.StatusDesc)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("recalled statuses %v, want %v", got, tc.want)
			}
			if len(rc.calls) != tc.wantCalls {
				t.Errorf("%d recall calls %v, want %d (batches of 2)", len(rc.calls), rc.calls, tc.wantCalls)
			}
		})
	}
}
