package eventsink

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestDeadTokenReceiptsInvalidateTheToken resolves failed receipts through
// the delivery index on the real ClickHouse and checks that exactly those
// saying the token is dead publish an invalidate record naming the
// delivery's app, device, vendor and token.
func TestDeadTokenReceiptsInvalidateTheToken(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := schema.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Region: "sg",
		Insert:  func(ctx context.Context, evs []schema.Event) error { return schema.InsertEvents(ctx, conn, db, evs) },
		Resolve: ResolveConfig{Index: schema.NewDeliveryIndex(conn, db), Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	delivery := func(n, channel string) schema.Delivery {
		return schema.Delivery{DeliveryID: schema.NewDeliveryID("msg-"+n, "dev-"+n), MsgID: "msg-" + n, TaskID: "task-i", AppID: "app-i",
			WorkspaceID: "ws", Region: "sg", PushType: schema.PushSimple, Target: "dev-" + n, DeviceID: "dev-" + n, Platform: "android",
			Channel: channel, Token: "tok-" + n}
	}
	failed := func(d schema.Delivery, endpoint string, code int64, byToken bool) schema.Event {
		e := receipt(schema.EventFailed, d.DeliveryID, "", "", now)
		if byToken {
			e = receipt(schema.EventFailed, "", d.MsgID, d.Token, now)
		}
		e.Channel, e.StatusCode, e.StatusDesc = endpoint, code, "test receipt"
		return e
	}
	for _, tc := range []struct {
		scenario string
		delivery schema.Delivery
		receipt  func(d schema.Delivery) schema.Event
		dead     bool
	}{
		{"mipush type 16 by delivery id", delivery("1", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "mipush", 20301, false) }, true},
		{"mipush type 16 by msg id and regId", delivery("2", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "mipush", 20301, true) }, true},
		{"oppo regid_invalid", delivery("3", "oppo"), func(d schema.Delivery) schema.Event { return failed(d, "oppo", 10000, false) }, true},
		{"huawei BadDeviceToken", delivery("4", "hms"), func(d schema.Delivery) schema.Event { return failed(d, "hms", 2009, false) }, true},
		{"mipush push disabled is no dead token", delivery("5", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "mipush", 99999999, false) }, false},
		{"an arrival is no dead token", delivery("6", "mipush"), func(d schema.Delivery) schema.Event {
			return receipt(schema.EventArrived, d.DeliveryID, "", "", now)
		}, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			d := tc.delivery
			res, err := h.HandleBatch(ctx, []kafka.Message{record(t, d.EventFor(schema.EventValid, now-1000)), record(t, tc.receipt(d))})
			if err != nil {
				t.Fatal(err)
			}
			var got []schema.Binding
			for _, r := range res {
				if r.Reject != nil {
					t.Fatalf("rejected: %+v", r.Reject)
				}
				for _, o := range r.Outputs {
					if o.Topic != pipeline.BindingsTopic("sg") || string(o.Key) != d.DeviceID {
						t.Fatalf("output to %s key %s, want %s key %s", o.Topic, o.Key, pipeline.BindingsTopic("sg"), d.DeviceID)
					}
					var b schema.Binding
					if err := json.Unmarshal(o.Value, &b); err != nil {
						t.Fatal(err)
					}
					got = append(got, b)
				}
			}
			if !tc.dead {
				if len(got) != 0 {
					t.Fatalf("published %+v, want nothing", got)
				}
				return
			}
			want := schema.Binding{Op: schema.OpInvalidate, Region: "sg", AppID: "app-i", DeviceID: d.DeviceID, Vendor: d.Channel, VendorToken: d.Token, TS: now}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("published %+v, want [%+v]", got, want)
			}
		})
	}
}
