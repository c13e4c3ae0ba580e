package sender

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

const (
	appID  = "app-1"
	secret = "s3cret"
	pkg    = "com.example.app"
)

// newSender wires a sender to a MiPush channel pointed at a running vendor
// simulator, the way the sender worker runs.
func newSender(t *testing.T, now time.Time) (*Handler, *vendorsim.Server) {
	t.Helper()
	mp, sim := startMiPush(t)
	h, err := New(Config{Region: "sg", Channels: map[string]channels.Channel{"mipush": mp},
		Now: func() time.Time { return now }, BaseBackoff: time.Second, MaxBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return h, sim
}

func delivery(device, token, channel string, expireAt int64) kafka.Message {
	d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID(appID, "m-"+device, device), MsgID: "m-" + device, TaskID: "t1",
		AppID: appID, Region: "sg", PushType: schema.PushSimple, Target: device, DeviceID: device,
		Platform: "android", Channel: channel, Token: token, Title: "Hi", Body: "there", ExpireAt: expireAt, AcceptedAt: 1}
	b, _ := json.Marshal(d)
	return kafka.Message{Value: b}
}

type outcome struct {
	invalidated string
	events      []schema.EventType
	status      int64
	retries     []schema.Delivery
}

func outcomes(t *testing.T, res []pipeline.Result) []outcome {
	t.Helper()
	out := make([]outcome, len(res))
	for i, r := range res {
		for _, o := range r.Outputs {
			switch o.Topic {
			case pipeline.EventsTopic("sg"):
				var e schema.Event
				_ = json.Unmarshal(o.Value, &e)
				out[i].events = append(out[i].events, e.Event)
				out[i].status = e.StatusCode
			case pipeline.BindingsTopic("sg"):
				var b schema.Binding
				_ = json.Unmarshal(o.Value, &b)
				if b.Op == schema.OpInvalidate {
					out[i].invalidated = b.VendorToken
				}
			default:
				if _, ok := retryTierOf(o.Topic, "sg"); !ok {
					t.Fatalf("unexpected topic %s", o.Topic)
				}
				var d schema.Delivery
				_ = json.Unmarshal(o.Value, &d)
				out[i].retries = append(out[i].retries, d)
			}
		}
	}
	return out
}

func TestSenderOutcomes(t *testing.T) {
	now := time.Now()
	future := now.Add(time.Hour).UnixMilli()
	for _, tc := range []struct {
		scenario    string
		fail        *vendorsim.Failure
		msgs        []kafka.Message
		want        [][]schema.EventType
		wantRetries []int
		wantCalls   int
	}{
		{
			scenario:  "accepted by the vendor: sent then acked",
			msgs:      []kafka.Message{delivery("d1", "r1", "mipush", future), delivery("d2", "r2", "mipush", future)},
			want:      [][]schema.EventType{{"sent", "acked"}, {"sent", "acked"}},
			wantCalls: 2,
		},
		{
			scenario:  "token the vendor calls invalid: sent then failed",
			msgs:      []kafka.Message{delivery("d1", "bad-r1", "mipush", future)},
			want:      [][]schema.EventType{{"sent", "failed"}},
			wantCalls: 1,
		},
		{
			scenario:    "vendor 503: sent, then the next attempt goes to the retry topic",
			fail:        &vendorsim.Failure{Vendor: "mipush", Status: 503, Next: 1},
			msgs:        []kafka.Message{delivery("d1", "r1", "mipush", future)},
			want:        [][]schema.EventType{{"sent"}},
			wantRetries: []int{1},
			wantCalls:   1,
		},
		{
			scenario: "validity over before sending: expired, no vendor call",
			msgs:     []kafka.Message{delivery("d1", "r1", "mipush", now.Add(-time.Second).UnixMilli())},
			want:     [][]schema.EventType{{"expired"}},
		},
		{
			scenario: "channel without a client: failed, no vendor call",
			msgs:     []kafka.Message{delivery("d1", "tok", "hms", future)},
			want:     [][]schema.EventType{{"failed"}},
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h, sim := newSender(t, now)
			if tc.fail != nil {
				if err := sim.InjectFailures(*tc.fail); err != nil {
					t.Fatal(err)
				}
			}
			res, err := h.HandleBatch(context.Background(), tc.msgs)
			if err != nil {
				t.Fatal(err)
			}
			got := outcomes(t, res)
			for i := range tc.want {
				if len(got[i].events) != len(tc.want[i]) {
					t.Fatalf("record %d events = %v, want %v", i, got[i].events, tc.want[i])
				}
				for j := range tc.want[i] {
					if got[i].events[j] != tc.want[i][j] {
						t.Fatalf("record %d events = %v, want %v", i, got[i].events, tc.want[i])
					}
				}
			}
			for i, attempt := range tc.wantRetries {
				if len(got[i].retries) != 1 || got[i].retries[0].Attempt != attempt || got[i].retries[0].NotBefore < now.UnixMilli() {
					t.Fatalf("record %d retries = %+v, want one with attempt %d", i, got[i].retries, attempt)
				}
			}
			if n := len(sim.Requests("mipush", "sg")); n != tc.wantCalls {
				t.Fatalf("vendor calls = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestInvalidTokenIsReportedToTheRegistry(t *testing.T) {
	h, _ := newSender(t, time.Now())
	res, err := h.HandleBatch(context.Background(), []kafka.Message{
		delivery("d1", "bad-r1", "mipush", time.Now().Add(time.Hour).UnixMilli()),
		delivery("d2", "r2", "mipush", time.Now().Add(time.Hour).UnixMilli()),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(t, res)
	if got[0].invalidated != "bad-r1" || got[1].invalidated != "" {
		t.Fatalf("invalidations = %q, %q; want only bad-r1", got[0].invalidated, got[1].invalidated)
	}
}

func TestAckedCarriesAckedStatus(t *testing.T) {
	h, _ := newSender(t, time.Now())
	res, err := h.HandleBatch(context.Background(), []kafka.Message{delivery("d1", "r1", "mipush", time.Now().Add(time.Hour).UnixMilli())})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(t, res)[0]; got.status != schema.StatusAcked {
		t.Fatalf("acked status = %d, want %d", got.status, schema.StatusAcked)
	}
}

func TestUndecodableDeliveryIsRejected(t *testing.T) {
	h, _ := newSender(t, time.Now())
	res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: []byte("garbage")}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Reject == nil || res[0].Reject.Code != int(schema.CodeInvalidParam) {
		t.Fatalf("want rejection 3028, got %+v", res[0])
	}
}
