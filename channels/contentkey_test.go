package channels_test

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

func TestContentKey(t *testing.T) {
	base := channels.Message{DeliveryID: "d1", MsgID: "m1", TaskID: "t1", AppID: "app", DeviceID: "dev1", Token: "tok1",
		Title: "T", Body: "B", Payload: "p", ExpireAt: time.Unix(1_800_000_000, 0),
		Extras: map[string]string{"a": "1", "b": "2"}}
	tests := []struct {
		scenario string
		change   func(m *channels.Message)
		wantSame bool
	}{
		{"another token, delivery, task and device", func(m *channels.Message) {
			m.Token, m.DeliveryID, m.TaskID, m.DeviceID = "tok2", "d2", "t2", "dev2"
		}, true},
		{"extras built in another order", func(m *channels.Message) { m.Extras = map[string]string{"b": "2", "a": "1"} }, true},
		{"expiry within the same millisecond", func(m *channels.Message) { m.ExpireAt = m.ExpireAt.Add(time.Microsecond) }, true},
		{"another app", func(m *channels.Message) { m.AppID = "app2" }, false},
		{"another message", func(m *channels.Message) { m.MsgID = "m2" }, false},
		{"another title", func(m *channels.Message) { m.Title = "T2" }, false},
		{"text moved from title to body", func(m *channels.Message) { m.Title, m.Body = "", "TB" }, false},
		{"a length prefix spelled inside a field", func(m *channels.Message) { m.Title, m.Body = "T1:B", "" }, false},
		{"pass-through", func(m *channels.Message) { m.PassThrough = true }, false},
		{"no expiry", func(m *channels.Message) { m.ExpireAt = time.Time{} }, false},
		{"another extra value", func(m *channels.Message) { m.Extras = map[string]string{"a": "1", "b": "3"} }, false},
	}
	want := channels.ContentKey(base)
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			m := base
			tc.change(&m)
			if got := channels.ContentKey(m); (got == want) != tc.wantSame {
				t.Errorf("key %s, base key %s, want equal %t", got, want, tc.wantSame)
			}
		})
	}
}

// BenchmarkContentKey measures the key of a broadcast's message, which
// the sender computes two or three times a delivery (its grouping, the
// calls rate limit, the channel's own grouping).
func BenchmarkContentKey(b *testing.B) {
	m := channels.Message{DeliveryID: "d1", MsgID: "bench-e2e-msg", TaskID: "t1", AppID: "BENCH_APP", DeviceID: "dev1", Token: "tok1",
		Title: "Weekly digest", Body: "Here is what happened this week in your favourite topics, in one short summary.",
		ExpireAt: time.Unix(1_800_000_000, 0)}
	b.ReportAllocs()
	for b.Loop() {
		_ = channels.ContentKey(m)
	}
}
