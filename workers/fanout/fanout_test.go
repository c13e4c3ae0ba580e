package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// memDevices is an in-memory device table for unit tests of the fanout
// logic; integration tests use the ClickHouse store.
type memDevices struct {
	rows map[string]schema.Device
	err  error
	// activities are the Live Activity tokens bound per activity id.
	activities map[string][]store.ActivityToken
}

func (m memDevices) Lookup(_ context.Context, app string, ids []string) (map[string]schema.Device, error) {
	out := map[string]schema.Device{}
	for _, id := range ids {
		if d, ok := m.rows[id]; ok && d.AppID == app {
			out[id] = d
		}
	}
	return out, m.err
}

func (m memDevices) ByUser(_ context.Context, app string, users []string) (map[string]schema.Device, error) {
	out := map[string]schema.Device{}
	for _, d := range m.rows {
		for _, u := range users {
			if d.AppID == app && d.UserID == u {
				out[d.DeviceID] = d
			}
		}
	}
	return out, m.err
}

func (m memDevices) ByAlias(_ context.Context, app string, aliases []string) (map[string]schema.Device, error) {
	out := map[string]schema.Device{}
	for _, d := range m.rows {
		for _, a := range aliases {
			if d.AppID == app && d.Alias == a {
				out[a] = d
			}
		}
	}
	return out, m.err
}

func (m memDevices) ByAccount(_ context.Context, app string, accounts []string) (map[string][]schema.Device, error) {
	out := map[string][]schema.Device{}
	for _, d := range m.rows {
		for _, a := range accounts {
			if d.AppID == app && d.UserAccount == a {
				out[a] = append(out[a], d)
			}
		}
	}
	return out, m.err
}

func (m memDevices) Stream(_ context.Context, a store.Audience, fn func(schema.Device) error) error {
	for _, d := range m.rows {
		if d.AppID == a.AppID && (len(a.Platforms) == 0 || d.Platform == a.Platforms[0]) {
			if err := fn(d); err != nil {
				return err
			}
		}
	}
	return m.err
}

type memTemplates map[string]schema.Template

func (m memTemplates) Get(_ context.Context, app, name string) (schema.Template, bool, error) {
	t, ok := m[name]
	return t, ok && t.AppID == app, nil
}

// newHandler builds a handler over in-memory devices and templates; emitted
// (streamed) outputs are appended to *emitted.
func newHandler(t *testing.T, d memDevices, emitted *[]pipeline.Output, now func() time.Time) *Handler {
	t.Helper()
	var mu sync.Mutex
	h, err := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: d, Now: now, Chunk: 2,
		Templates: memTemplates{"promo": {AppID: "app", Name: "promo", Title: "Hi #name#", Content: "You won #amount#"}},
		Emit: func(_ context.Context, outs []pipeline.Output) error {
			mu.Lock()
			defer mu.Unlock()
			if emitted == nil {
				t.Fatal("unexpected streamed output")
			}
			*emitted = append(*emitted, outs...)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func devices() memDevices {
	return memDevices{rows: map[string]schema.Device{
		"a1":   {AppID: "app", DeviceID: "a1", Platform: "android", Vendor: "mipush", VendorToken: "r1", TokenValid: true, UserID: "u1"},
		"a2":   {AppID: "app", DeviceID: "a2", Platform: "android", Vendor: "mipush", VendorToken: "r2", TokenValid: true, UserID: "u1"},
		"a3":   {AppID: "app", DeviceID: "a3", Platform: "android", SelfToken: "s3", TokenValid: true},
		"dead": {AppID: "app", DeviceID: "dead", Platform: "android", Vendor: "mipush", VendorToken: "r9", TokenValid: false},
		"i1":   {AppID: "app", DeviceID: "i1", Platform: "ios", Vendor: "apns", VendorToken: "apns1", TokenValid: true},
	}}
}

func request(mut func(r map[string]any)) kafka.Message {
	r := map[string]any{
		"type": "SIMPLE", "region": "sg", "appId": "app", "workspaceId": "ws", "taskId": "t1", "taskName": "n",
		"deliverType": 1, "targetMsgkey": map[string]string{"a1": "m1"}, "title": "T", "content": "C",
		"expiredSeconds": 60, "acceptedAt": 1000,
	}
	if mut != nil {
		mut(r)
	}
	if r["type"] != "SIMPLE" {
		// The template types take their content from the template.
		delete(r, "title")
		delete(r, "content")
	}
	b, _ := json.Marshal(r)
	return kafka.Message{Topic: "push.requests.sg", Value: b, Time: time.UnixMilli(5000)}
}

type summary struct {
	events     map[schema.EventType]int
	deliveries []schema.Delivery
	statuses   map[schema.EventType][]int64
	taskName   string // of the accepted event
}

func summarize(t *testing.T, outs []pipeline.Output) summary {
	t.Helper()
	s := summary{events: map[schema.EventType]int{}, statuses: map[schema.EventType][]int64{}}
	for _, o := range outs {
		switch o.Topic {
		case pipeline.EventsTopic("sg"):
			var e schema.Event
			if err := json.Unmarshal(o.Value, &e); err != nil {
				t.Fatal(err)
			}
			if string(o.Key) != e.Key() {
				t.Fatalf("event keyed %q, want %q", o.Key, e.Key())
			}
			s.events[e.Event]++
			s.statuses[e.Event] = append(s.statuses[e.Event], e.StatusCode)
			if e.Event == schema.EventAccepted {
				s.taskName = e.TaskName
			}
		case pipeline.DeliveriesTopic("sg"):
			var d schema.Delivery
			if err := json.Unmarshal(o.Value, &d); err != nil {
				t.Fatal(err)
			}
			if string(o.Key) != d.AppID+"/"+d.DeviceID {
				t.Fatalf("delivery keyed %q, want <app id>/<device id> %q", o.Key, d.AppID+"/"+d.DeviceID)
			}
			s.deliveries = append(s.deliveries, d)
		default:
			t.Fatalf("output to unexpected topic %s", o.Topic)
		}
	}
	return s
}

// fanOutOne hands msg to h as a batch of one. With wantCode set it checks
// the rejection with that code and returns false; otherwise it checks the
// counts of wantEvents and returns the outputs' summary.
func fanOutOne(t *testing.T, h *Handler, msg kafka.Message, wantCode int, wantEvents map[schema.EventType]int) (summary, bool) {
	t.Helper()
	res, err := h.HandleBatch(context.Background(), []kafka.Message{msg})
	if err != nil {
		t.Fatal(err)
	}
	if wantCode != 0 {
		if res[0].Reject == nil || res[0].Reject.Code != wantCode {
			t.Fatalf("want rejection %d, got %+v", wantCode, res[0])
		}
		return summary{}, false
	}
	if res[0].Reject != nil {
		t.Fatalf("unexpected rejection %+v", res[0].Reject)
	}
	s := summarize(t, res[0].Outputs)
	for ev, n := range wantEvents {
		if s.events[ev] != n {
			t.Errorf("%s events = %d, want %d (all: %v)", ev, s.events[ev], n, s.events)
		}
	}
	return s, true
}

func TestFanOut(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		msg        kafka.Message
		wantEvents map[schema.EventType]int
		wantChans  []string
		wantCode   int // rejection code, 0 = accepted
	}{
		{
			scenario: "three known devices and one unknown",
			msg: request(func(r map[string]any) {
				r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2", "a3": "m3", "zz": "m4"}
			}),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 4, "invalid_device": 1, "valid": 3},
			wantChans:  []string{"mipush", "mipush", "self"},
		},
		{
			scenario:   "user id resolves to every bound device",
			msg:        request(func(r map[string]any) { r["deliverType"] = 3; r["targetMsgkey"] = map[string]string{"u1": "m1"} }),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "valid": 2},
			wantChans:  []string{"mipush", "mipush"},
		},
		{
			scenario:   "transparent pins the self-built channel, which a vendor-only device lacks",
			msg:        request(func(r map[string]any) { r["notifyType"] = "transparent" }),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "invalid_device": 1},
		},
		{
			scenario:   "known-dead token is an invalid device",
			msg:        request(func(r map[string]any) { r["targetMsgkey"] = map[string]string{"dead": "m1"} }),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "invalid_device": 1},
		},
		{
			scenario:   "iOS device under deliverType 1",
			msg:        request(func(r map[string]any) { r["targetMsgkey"] = map[string]string{"i1": "m1"} }),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "invalid_device": 1},
		},
		{scenario: "malformed JSON", msg: kafka.Message{Value: []byte("{nope")}, wantCode: int(schema.CodeInvalidParam)},
		{scenario: "missing task name", msg: request(func(r map[string]any) { r["taskName"] = "" }), wantCode: int(schema.CodeTaskNameNull)},
		{scenario: "other region", msg: request(func(r map[string]any) { r["region"] = "eu" }), wantCode: int(schema.CodeInvalidParam)},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			s, ok := fanOutOne(t, newHandler(t, devices(), nil, nil), tc.msg, tc.wantCode, tc.wantEvents)
			if !ok {
				return
			}
			if s.taskName != "n" {
				t.Errorf("accepted event names task %q, want the request's taskName %q", s.taskName, "n")
			}
			if len(s.deliveries) != len(tc.wantChans) {
				t.Fatalf("deliveries = %d, want %d", len(s.deliveries), len(tc.wantChans))
			}
			for i, d := range s.deliveries {
				if d.Channel != tc.wantChans[i] {
					t.Errorf("delivery %d channel = %s, want %s", i, d.Channel, tc.wantChans[i])
				}
				if d.ExpireAt != 1000+60_000 || d.TaskID != "t1" || d.Title != "T" || d.Body != "C" {
					t.Errorf("delivery %d fields wrong: %+v", i, d)
				}
			}
		})
	}
}

func TestUnknownDeviceHasNoBindInfoStatus(t *testing.T) {
	h := newHandler(t, devices(), nil, nil)
	res, _ := h.HandleBatch(context.Background(), []kafka.Message{request(func(r map[string]any) {
		r["targetMsgkey"] = map[string]string{"ghost": "m1"}
	})})
	s := summarize(t, res[0].Outputs)
	if got := s.statuses[schema.EventInvalidDevice]; len(got) != 1 || got[0] != schema.StatusNoBindInfo {
		t.Fatalf("invalid_device statuses = %v, want [1]", got)
	}
}

func TestReplayGivesIdenticalOutputs(t *testing.T) {
	h := newHandler(t, devices(), nil, func() time.Time { return time.UnixMilli(7) })
	m := request(func(r map[string]any) {
		delete(r, "taskId")
		r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2"}
	})
	a, _ := h.HandleBatch(context.Background(), []kafka.Message{m})
	b, _ := h.HandleBatch(context.Background(), []kafka.Message{m})
	if len(a[0].Outputs) != len(b[0].Outputs) {
		t.Fatal("replay produced a different number of outputs")
	}
	for i := range a[0].Outputs {
		if string(a[0].Outputs[i].Value) != string(b[0].Outputs[i].Value) {
			t.Fatalf("output %d differs on replay:\n%s\n%s", i, a[0].Outputs[i].Value, b[0].Outputs[i].Value)
		}
	}
}

func TestLookupFailureFailsTheBatch(t *testing.T) {
	d := devices()
	d.err = errors.New("clickhouse down")
	h := newHandler(t, d, nil, nil)
	if _, err := h.HandleBatch(context.Background(), []kafka.Message{request(nil)}); err == nil {
		t.Fatal("want the batch to fail so the runtime retries it")
	}
}

// TestTagTargetWithoutDevices: a tag that reaches no device still ends its
// target: planned, then invalid_device with status 1 NoBindInfo, so no
// planned target vanishes from the funnel.
func TestTagTargetWithoutDevices(t *testing.T) {
	var emitted []pipeline.Output
	h := newHandler(t, devices(), &emitted, nil)
	res, err := h.HandleBatch(context.Background(), []kafka.Message{request(func(r map[string]any) {
		r["appId"], r["deliverType"], r["targetMsgkey"] = "app-without-devices", schema.DeliverTag, map[string]string{"nobody": "m1"}
	})})
	if err != nil || res[0].Reject != nil {
		t.Fatalf("handled: %v, %+v", err, res[0].Reject)
	}
	s := summarize(t, append(emitted, res[0].Outputs...))
	if s.events["planned"] != 1 || s.events["invalid_device"] != 1 || len(s.deliveries) != 0 {
		t.Fatalf("events %v, deliveries %d; want planned 1 and invalid_device 1", s.events, len(s.deliveries))
	}
	if got := s.statuses["invalid_device"]; len(got) != 1 || got[0] != schema.StatusNoBindInfo {
		t.Fatalf("invalid_device statuses %v, want [1]", got)
	}
}

// poisonDevices fails every lookup of one app with a ClickHouse error
// that retrying cannot cure.
type poisonDevices struct {
	memDevices
	app string
}

func (p poisonDevices) Lookup(ctx context.Context, app string, ids []string) (map[string]schema.Device, error) {
	if app == p.app {
		return nil, fmt.Errorf("looking up devices: %w", &clickhouse.Exception{Code: 62, Message: "Max query size exceeded"})
	}
	return p.memDevices.Lookup(ctx, app, ids)
}

// TestPermanentQueryErrorRejectsOnlyItsRequest: a batch whose device
// lookup fails with a query error that retrying cannot cure is handled
// again request by request: the request that causes it is rejected with
// 9000, the others are fanned out, and the batch does not fail (so the
// partition is not stuck retrying it).
func TestPermanentQueryErrorRejectsOnlyItsRequest(t *testing.T) {
	h, err := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: poisonDevices{devices(), "poison"}, Templates: memTemplates{},
		Emit: func(context.Context, []pipeline.Output) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.HandleBatch(context.Background(), []kafka.Message{
		request(func(r map[string]any) { r["appId"], r["taskId"] = "poison", "t-poison" }),
		request(nil),
	})
	if err != nil {
		t.Fatalf("the batch failed: %v", err)
	}
	if res[0].Reject == nil || res[0].Reject.Code != int(schema.CodeSystemError) || res[0].Reject.Event.TaskID != "t-poison" {
		t.Fatalf("poisoned request: %+v, want a 9000 rejection of t-poison", res[0])
	}
	if res[1].Reject != nil || len(summarize(t, res[1].Outputs).deliveries) != 1 {
		t.Fatalf("honest request: %+v, want one delivery", res[1])
	}
	// A lookup that fails for another reason still fails the batch.
	h2, _ := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: memDevices{rows: devices().rows, err: errors.New("connection refused")}, Templates: memTemplates{},
		Emit: func(context.Context, []pipeline.Output) error { return nil }})
	if _, err := h2.HandleBatch(context.Background(), []kafka.Message{request(nil)}); err == nil {
		t.Fatal("a transient lookup failure did not fail the batch")
	}
}
