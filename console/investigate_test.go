package console

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

func TestStopsOf(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ev := func(ms int, t schema.EventType, device string, code int64, desc string) store.TrailEvent {
		return store.TrailEvent{TS: t0.Add(time.Duration(ms) * time.Millisecond), Event: t, DeviceID: device, StatusCode: code, StatusDesc: desc}
	}
	type want struct {
		device   string
		event    schema.EventType
		inFlight bool
		reason   string
	}
	for _, tc := range []struct {
		name   string
		events []store.TrailEvent
		want   []want
	}{
		{"opened: the whole way", []store.TrailEvent{ev(0, schema.EventPlanned, "", 0, ""), ev(1, schema.EventValid, "d1", 0, ""), ev(2, schema.EventSent, "d1", 0, ""),
			ev(3, schema.EventAcked, "d1", 2, "ok"), ev(4, schema.EventArrived, "d1", 0, ""), ev(5, schema.EventOpened, "d1", 0, "")},
			[]want{{"d1", schema.EventOpened, false, "opened on the device (status 0)"}}},
		{"sent and waiting: still in flight", []store.TrailEvent{ev(0, schema.EventPlanned, "", 0, ""), ev(1, schema.EventValid, "d1", 0, ""), ev(2, schema.EventSent, "d1", 0, "")},
			[]want{{"d1", schema.EventSent, true, "still in flight (last step: sent)"}}},
		{"a retry waits: still in flight", []store.TrailEvent{ev(1, schema.EventValid, "d1", 0, ""), ev(2, schema.EventRetried, "d1", 503, "vendor 503")},
			[]want{{"d1", schema.EventRetried, true, "still in flight (last step: retried)"}}},
		{"an unregistered device: the target's invalid_device", []store.TrailEvent{ev(0, schema.EventPlanned, "", 0, ""), ev(1, schema.EventInvalidDevice, "", 1, "NoBindInfo: no device")},
			[]want{{"", schema.EventInvalidDevice, false, "not sent: the device could not be reached — NoBindInfo: no device (status 1)"}}},
		{"failed, then its callback: the failure stands", []store.TrailEvent{ev(1, schema.EventValid, "d1", 0, ""), ev(2, schema.EventFailed, "d1", 20003, "InvalidRegId"),
			ev(3, schema.EventCallbackSent, "d1", 200, ""), ev(4, schema.EventSuperseded, "d1", 2, "acked stands")},
			[]want{{"d1", schema.EventFailed, false, "failed — InvalidRegId (status 20003)"}}},
		{"same millisecond: the later step is last", []store.TrailEvent{ev(1, schema.EventArrived, "d1", 0, ""), ev(1, schema.EventAcked, "d1", 2, "")},
			[]want{{"d1", schema.EventArrived, false, "arrived on the device; not opened (yet) (status 0)"}}},
		{"a user's two devices, each its own stop", []store.TrailEvent{ev(0, schema.EventPlanned, "", 0, ""), ev(1, schema.EventValid, "d2", 0, ""),
			ev(1, schema.EventInvalidDevice, "d1", 2001, "BadDeviceToken"), ev(3, schema.EventAcked, "d2", 2, "")},
			[]want{{"d1", schema.EventInvalidDevice, false, "not sent: the device could not be reached — BadDeviceToken (status 2001)"},
				{"d2", schema.EventAcked, false, "accepted by the vendor; no arrival receipt yet (status 2)"}}},
		{"no events", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := stopsOf(tc.events)
			if len(got) != len(tc.want) {
				t.Fatalf("stops %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.DeviceID != w.device || g.Event != w.event || g.InFlight != w.inFlight || g.Reason != w.reason {
					t.Errorf("stop %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
