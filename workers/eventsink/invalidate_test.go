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
	"github.com/pushpipe/pushpipe/store"
)

// TestDeadTokenReceiptsInvalidateTheToken resolves failed receipts through
// the delivery index on the real ClickHouse and checks that exactly those
// saying the token is dead, coming through the delivery's channel and
// naming its token, publish an invalidate record naming the delivery's
// app, device, vendor and token; the others are stored and counted as
// token_mismatch.
func TestDeadTokenReceiptsInvalidateTheToken(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Region: "sg",
		Insert:  func(ctx context.Context, evs []schema.Event) error { return store.InsertEvents(ctx, conn, db, evs) },
		Resolve: ResolveConfig{Index: store.NewDeliveryIndex(conn, db), Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	delivery := func(n, channel string) schema.Delivery {
		return schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID("app-i", "msg-"+n, "dev-"+n), MsgID: "msg-" + n, TaskID: "task-i", AppID: "app-i",
			WorkspaceID: "ws", Region: "sg", PushType: schema.PushSimple, Target: "dev-" + n, DeviceID: "dev-" + n, Platform: "android",
			Channel: channel, Token: "tok-" + n}
	}
	failed := func(d schema.Delivery, endpoint string, code int64, byToken bool) schema.Event {
		e := receipt(schema.EventFailed, d.DeliveryID, "", d.Token, now)
		if byToken {
			e = receipt(schema.EventFailed, "", d.MsgID, d.Token, now)
		}
		e.Channel, e.StatusCode, e.StatusDesc, e.ReceiptAppID = endpoint, code, "test receipt", "app-i"
		return e
	}
	for _, tc := range []struct {
		scenario string
		delivery schema.Delivery
		receipt  func(d schema.Delivery) schema.Event
		dead     bool
		mismatch bool
	}{
		{"mipush type 16 by delivery id", delivery("1", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "mipush", 20301, false) }, true, false},
		{"mipush type 16 by msg id and regId", delivery("2", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "mipush", 20301, true) }, true, false},
		{"oppo regid_invalid", delivery("3", "oppo"), func(d schema.Delivery) schema.Event { return failed(d, "oppo", 10000, false) }, true, false},
		{"huawei BadDeviceToken", delivery("4", "hms"), func(d schema.Delivery) schema.Event { return failed(d, "hms", 2009, false) }, true, false},
		{"mipush push disabled is no dead token", delivery("5", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "mipush", 99999999, false) }, false, false},
		{"an arrival is no dead token", delivery("6", "mipush"), func(d schema.Delivery) schema.Event {
			return receipt(schema.EventArrived, d.DeliveryID, "", "", now)
		}, false, false},
		{"huawei status 5 for a mipush delivery kills nothing", delivery("7", "mipush"), func(d schema.Delivery) schema.Event { return failed(d, "hms", 2009, false) }, false, true},
		{"a dead-token receipt naming another token kills nothing", delivery("8", "mipush"), func(d schema.Delivery) schema.Event {
			e := failed(d, "mipush", 20301, false)
			e.Token = "another-regid"
			return e
		}, false, true},
		{"a dead-token receipt naming no token kills nothing", delivery("9", "oppo"), func(d schema.Delivery) schema.Event {
			e := failed(d, "oppo", 10000, false)
			e.Token = ""
			return e
		}, false, true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			d := tc.delivery
			mismatches := outcomeCount(t, h, outcomeMismatch)
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
					if o.Topic != pipeline.BindingsTopic("sg") || string(o.Key) != "app-i/"+d.DeviceID {
						t.Fatalf("output to %s key %s, want %s key app-i/%s", o.Topic, o.Key, pipeline.BindingsTopic("sg"), d.DeviceID)
					}
					var b schema.Binding
					if err := json.Unmarshal(o.Value, &b); err != nil {
						t.Fatal(err)
					}
					got = append(got, b)
				}
			}
			if got := outcomeCount(t, h, outcomeMismatch) - mismatches; got != map[bool]float64{true: 1}[tc.mismatch] {
				t.Fatalf("token_mismatch outcomes +%v, want mismatch %t", got, tc.mismatch)
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
