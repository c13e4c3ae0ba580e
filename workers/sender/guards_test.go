package sender

// Tests of the sender with its channel guards (channels/middleware): what
// a guard keeps from the vendor goes to the retry path, with no sent event.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/vendortest"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// startMiPush starts a simulator without a quota that matters and the real
// MiPush channel of region sg pointed at it.
func startMiPush(t *testing.T) (*mipush.Channel, *vendorsim.Server) {
	t.Helper()
	return vendortest.StartMiPush(t, appID, secret, pkg)
}

// TestSenderRetriesWhatTheOpenBreakerRefuses runs the sender handler while
// the MiPush breaker is open: deliveries go to push.retry.sg not before
// the breaker probes again, with no sent event (no vendor call was made).
func TestSenderRetriesWhatTheOpenBreakerRefuses(t *testing.T) {
	mp, sim := startMiPush(t)
	h, err := New(Config{Region: "sg", Channels: map[string]channels.Channel{"mipush": mp},
		Breaker: middleware.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Status: 503, Next: 1}); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	for _, step := range []struct {
		scenario  string
		wantSent  bool
		wantAfter time.Duration
	}{
		{scenario: "the 503 that opens the breaker was a vendor call", wantSent: true},
		{scenario: "refused by the open breaker: no vendor call", wantAfter: 50 * time.Second},
	} {
		start := time.Now()
		res, err := h.HandleBatch(context.Background(), []kafka.Message{delivery("d1", "r1", "mipush", future)})
		if err != nil {
			t.Fatal(err)
		}
		got := outcomes(t, res)[0]
		if sent := len(got.events) == 1 && got.events[0] == "sent"; sent != step.wantSent || len(got.retries) != 1 {
			t.Fatalf("%s: events %v, retries %d; want sent=%v and one retry", step.scenario, got.events, len(got.retries), step.wantSent)
		}
		if nb := time.UnixMilli(got.retries[0].NotBefore); nb.Before(start.Add(step.wantAfter)) {
			t.Fatalf("%s: retry not before %s, want at least %s later", step.scenario, nb.Sub(start), step.wantAfter)
		}
	}
	if n := len(sim.Requests("mipush", "sg")); n != 1 {
		t.Fatalf("simulator saw %d calls, want 1", n)
	}
}

// TestSenderSendsWhatCannotWaitToRetry runs the sender handler with a
// slow limit and deliveries of short validity: the batch does not block
// past their validity, and what could not be sent goes to push.retry.sg.
func TestSenderSendsWhatCannotWaitToRetry(t *testing.T) {
	mp, sim := startMiPush(t)
	h, err := New(Config{Region: "sg", Channels: map[string]channels.Channel{"mipush": mp},
		RateLimit: middleware.RateLimitConfig{Apps: []middleware.AppLimit{{AppID: appID, Vendor: "mipush", Limit: middleware.Limit{Rate: 20}}}}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Second).UnixMilli()
	var batch []kafka.Message
	for i := range 60 {
		// One content for all, so the sender makes one Send of 60.
		d := schema.Delivery{DeliveryID: fmt.Sprintf("d%d", i), MsgID: "m1", TaskID: "t1", AppID: appID, Region: "sg",
			DeviceID: "dev" + strconv.Itoa(i), Channel: "mipush", Token: "reg" + strconv.Itoa(i), Title: "Hi", Body: "there", ExpireAt: exp}
		batch = append(batch, kafka.Message{Value: mustJSON(t, d)})
	}
	start := time.Now()
	res, err := h.HandleBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("HandleBatch took %s; it must not wait past the validity (1s)", took)
	}
	acked, retried, sent := 0, 0, 0
	for _, r := range res {
		for _, o := range r.Outputs {
			if _, ok := retryTierOf(o.Topic, "sg"); ok {
				retried++
			}
			switch o.Topic {
			case pipeline.EventsTopic("sg"):
				if bytes.Contains(o.Value, []byte(`"event":"acked"`)) {
					acked++
				}
				if bytes.Contains(o.Value, []byte(`"event":"sent"`)) {
					sent++
				}
			}
		}
	}
	if acked+retried != len(batch) || acked < 15 || acked > 25 {
		t.Fatalf("acked %d, retried %d of %d; want about 20 acked (1s at 20/s) and the rest retried", acked, retried, len(batch))
	}
	if sent != acked {
		t.Fatalf("%d sent events for %d acked deliveries; a delivery kept back by the limiter made no vendor call", sent, acked)
	}
	if n := len(sim.Requests("mipush", "sg")); n == 0 {
		t.Fatal("no vendor call")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
