package retry

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func rec(attempt int, notBefore, expireAt int64) kafka.Message {
	d := schema.Delivery{DeliveryID: "d1", MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "dev",
		Channel: "mipush", Attempt: attempt, NotBefore: notBefore, ExpireAt: expireAt}
	b, _ := json.Marshal(d)
	return kafka.Message{Value: b}
}

func TestRetryDecisions(t *testing.T) {
	base := time.UnixMilli(1_000_000)
	for _, tc := range []struct {
		scenario  string
		msg       kafka.Message
		wantSlept time.Duration
		wantEvent schema.EventType
		wantRedo  bool
	}{
		{"due later: waits, then re-publishes with a retried event", rec(2, 1_003_000, 2_000_000), 3 * time.Second, schema.EventRetried, true},
		{"already due: no wait", rec(1, 999_000, 2_000_000), 0, schema.EventRetried, true},
		{"expires before due: waits only until expiry, then expired", rec(1, 1_500_000, 1_002_000), 2 * time.Second, schema.EventExpired, false},
		{"attempt cap reached: failed", rec(DefaultMaxAttempts+1, 999_000, 2_000_000), 0, schema.EventFailed, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			now := base
			var slept time.Duration
			h, err := New(Config{Region: "sg", Now: func() time.Time { return now },
				Sleep: func(_ context.Context, d time.Duration) error { slept += d; now = now.Add(d); return nil }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.HandleBatch(context.Background(), []kafka.Message{tc.msg})
			if err != nil {
				t.Fatal(err)
			}
			if slept != tc.wantSlept {
				t.Fatalf("slept %s, want %s", slept, tc.wantSlept)
			}
			var gotEvent schema.EventType
			var redo bool
			for _, o := range res[0].Outputs {
				switch o.Topic {
				case pipeline.EventsTopic("sg"):
					var e schema.Event
					json.Unmarshal(o.Value, &e)
					gotEvent = e.Event
					if e.Attempt != func() int { var d schema.Delivery; json.Unmarshal(tc.msg.Value, &d); return d.Attempt }() {
						t.Fatalf("event attempt %d does not carry the delivery's attempt", e.Attempt)
					}
				case pipeline.DeliveriesTopic("sg"):
					redo = true
				}
			}
			if gotEvent != tc.wantEvent || redo != tc.wantRedo {
				t.Fatalf("event %s redo %v, want %s %v", gotEvent, redo, tc.wantEvent, tc.wantRedo)
			}
		})
	}
}

func TestShutdownWhileWaitingLeavesBatchUncommitted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, _ := New(Config{Region: "sg", Now: func() time.Time { return time.UnixMilli(0) }})
	if _, err := h.HandleBatch(ctx, []kafka.Message{rec(1, 60_000, 120_000)}); err == nil {
		t.Fatal("want an error so the runtime does not commit")
	}
}
