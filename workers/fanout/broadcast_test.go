package fanout

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// recordingDevices is memDevices remembering the audiences streamed.
type recordingDevices struct {
	memDevices
	audiences *[]store.Audience
}

func (r recordingDevices) Stream(ctx context.Context, a store.Audience, fn func(schema.Device) error) error {
	*r.audiences = append(*r.audiences, a)
	return r.memDevices.Stream(ctx, a, fn)
}

func broadcastRequest(mut func(r map[string]any)) kafka.Message {
	return request(func(r map[string]any) {
		delete(r, "targetMsgkey")
		r["type"], r["msgkey"], r["templateName"] = "BROADCAST", "bc-1", "promo"
		r["templateKeyValue"] = map[string]string{"name": "all", "amount": "1"}
		if mut != nil {
			mut(r)
		}
	})
}

// TestBroadcastAudience checks the audience a broadcast streams: its
// tags reach the device store untouched, beside the platform and
// bound/unbound selection of its deliverType and pushStatus.
func TestBroadcastAudience(t *testing.T) {
	for _, tc := range []struct {
		scenario       string
		mut            func(r map[string]any)
		tags           []string
		platform       string
		bound, unbound bool
	}{
		{"no tags: everyone bound", nil, nil, schema.PlatformAndroid, true, false},
		{"tags", func(r map[string]any) { r["tags"] = []string{"vip", "gold"} }, []string{"vip", "gold"}, schema.PlatformAndroid, true, false},
		{"tags to all users of iOS", func(r map[string]any) {
			r["tags"], r["deliverType"], r["pushStatus"], r["unBindPeriod"] = []string{"vip"}, 2, 1, 4
		}, []string{"vip"}, schema.PlatformIOS, true, true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var got []store.Audience
			var emitted []pipeline.Output
			h := newHandler(t, memDevices{}, &emitted, nil)
			h.cfg.Devices = recordingDevices{memDevices: devices(), audiences: &got}
			res, err := h.HandleBatch(context.Background(), []kafka.Message{broadcastRequest(tc.mut)})
			if err != nil || res[0].Reject != nil {
				t.Fatalf("broadcast refused: %v %+v", err, res[0].Reject)
			}
			if len(got) != 1 {
				t.Fatalf("streamed %d audiences, want 1", len(got))
			}
			a := got[0]
			if !slices.Equal(a.Tags, tc.tags) || !slices.Equal(a.Platforms, []string{tc.platform}) || a.Bound != tc.bound || a.Unbound != tc.unbound || a.AppID != "app" || a.Tag != "" {
				t.Fatalf("audience %+v, want tags %v, platform %s, bound %v, unbound %v", a, tc.tags, tc.platform, tc.bound, tc.unbound)
			}
		})
	}
}

// TestBroadcastAudienceEmpty checks the accepted event of a broadcast:
// "SUCCESS" when devices match; alone, and saying the audience was empty
// and which filters it had, when none does.
func TestBroadcastAudienceEmpty(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		devices   memDevices
		mut       func(r map[string]any)
		wantEmpty bool
		wantDesc  []string // parts of the accepted event's description
		wantValid int
	}{
		{"devices match", devices(), func(r map[string]any) { r["tags"] = []string{"vip"} }, false, []string{"SUCCESS"}, 3},
		{"no device at all", memDevices{}, func(r map[string]any) { r["tags"] = []string{"vip", "gold"} }, true,
			[]string{schema.AudienceEmptyDesc + ": no device matches", "deliverType 1 (android devices)", "pushStatus 0", "tags vip, gold"}, 0},
		{"no device of the platform", devices(), func(r map[string]any) {
			r["deliverType"], r["bindPeriod"], r["appVersions"] = 7, 1, []string{"3.0"}
		}, true, []string{"deliverType 7 (harmony devices)", "the bind/unbind period", "appVersions 3.0"}, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var emitted []pipeline.Output
			h := newHandler(t, tc.devices, &emitted, func() time.Time { return time.UnixMilli(1000) })
			res, err := h.HandleBatch(context.Background(), []kafka.Message{broadcastRequest(tc.mut)})
			if err != nil || res[0].Reject != nil {
				t.Fatalf("broadcast refused: %v %+v", err, res[0].Reject)
			}
			outs := append(emitted, res[0].Outputs...)
			// Chunks are written concurrently: find the accepted event.
			var acc schema.Event
			for _, o := range outs {
				var e schema.Event
				if o.Topic == pipeline.EventsTopic("sg") && json.Unmarshal(o.Value, &e) == nil && e.Event == schema.EventAccepted {
					acc = e
				}
			}
			if acc.StatusCode != int64(schema.CodeSuccess) {
				t.Fatalf("accepted status %d, want %d", acc.StatusCode, schema.CodeSuccess)
			}
			if got := strings.HasPrefix(acc.StatusDesc, schema.AudienceEmptyDesc); got != tc.wantEmpty {
				t.Fatalf("accepted desc %q: audience empty %v, want %v", acc.StatusDesc, got, tc.wantEmpty)
			}
			for _, part := range tc.wantDesc {
				if !strings.Contains(acc.StatusDesc, part) {
					t.Errorf("accepted desc %q lacks %q", acc.StatusDesc, part)
				}
			}
			if tc.wantEmpty && len(outs) != 1 {
				t.Fatalf("an empty broadcast wrote %d outputs, want only its accepted event", len(outs))
			}
			s := summarize(t, outs)
			if s.events[schema.EventAccepted] != 1 || s.events[schema.EventValid] != tc.wantValid || len(s.deliveries) != tc.wantValid {
				t.Fatalf("events %v and %d deliveries, want one accepted and %d valid", s.events, len(s.deliveries), tc.wantValid)
			}
		})
	}
}
