package registry

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
)

var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

func rec(b schema.Binding) kafka.Message {
	v, _ := json.Marshal(b)
	return kafka.Message{Value: v, Time: time.UnixMilli(b.TS)}
}

// TestRegistryAppliesRecordsToClickHouse runs batches of registry records
// against a real ClickHouse devices table and reads back the rows fanout
// would see.
func TestRegistryAppliesRecordsToClickHouse(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := schema.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	store := schema.NewDeviceStore(conn, db)
	h, err := New(Config{Region: "sg", Store: store})
	if err != nil {
		t.Fatal(err)
	}
	report := schema.Binding{Op: schema.OpReport, AppID: "app", DeviceID: "d1", Platform: "android", Vendor: "mipush", VendorToken: "tok-1", Model: "M1", TS: 1000}
	for _, tc := range []struct {
		scenario string
		batch    []schema.Binding
		check    func(t *testing.T, d schema.Device, ok bool)
	}{
		{"report creates the device", []schema.Binding{report}, func(t *testing.T, d schema.Device, ok bool) {
			if !ok || d.VendorToken != "tok-1" || d.Platform != "android" || d.Model != "M1" || !d.TokenValid {
				t.Fatalf("device = %+v (found %v)", d, ok)
			}
		}},
		{"bind keeps the token and sets the user", []schema.Binding{{Op: schema.OpBind, AppID: "app", DeviceID: "d1", UserID: "u1", TS: 2000}}, func(t *testing.T, d schema.Device, ok bool) {
			if d.UserID != "u1" || d.VendorToken != "tok-1" {
				t.Fatalf("device = %+v", d)
			}
		}},
		{"an older record replayed changes nothing", []schema.Binding{{Op: schema.OpUnbind, AppID: "app", DeviceID: "d1", TS: 1500}}, func(t *testing.T, d schema.Device, ok bool) {
			if d.UserID != "u1" {
				t.Fatalf("stale unbind applied: %+v", d)
			}
		}},
		{"report and unbind in one batch apply in order", []schema.Binding{
			{Op: schema.OpReport, AppID: "app", DeviceID: "d1", Platform: "android", Vendor: "mipush", VendorToken: "tok-2", TS: 3000},
			{Op: schema.OpUnbind, AppID: "app", DeviceID: "d1", TS: 3001},
		}, func(t *testing.T, d schema.Device, ok bool) {
			if d.VendorToken != "tok-2" || d.UserID != "" || d.Model != "M1" {
				t.Fatalf("device = %+v", d)
			}
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			msgs := make([]kafka.Message, len(tc.batch))
			for i, b := range tc.batch {
				msgs[i] = rec(b)
			}
			res, err := h.HandleBatch(ctx, msgs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Reject != nil {
					t.Fatalf("record %d rejected: %+v", i, r.Reject)
				}
			}
			got, err := store.Lookup(ctx, "app", []string{"d1"})
			if err != nil {
				t.Fatal(err)
			}
			d, ok := got["d1"]
			tc.check(t, d, ok)
		})
	}
}

func TestRegistryRejectsBadRecords(t *testing.T) {
	h, _ := New(Config{Region: "sg", Store: schema.NewDeviceStore(ch.Conn(t), "unused")})
	for _, tc := range []struct {
		scenario string
		value    string
		code     schema.ResultCode
	}{
		{"garbage", "{", schema.CodeInvalidParam},
		{"other region", `{"op":"report","region":"eu","appId":"a","deviceId":"d","platform":"android","vendorToken":"t"}`, schema.CodeInvalidParam},
		{"unknown platform", `{"op":"report","appId":"a","deviceId":"d","platform":"tizen","vendorToken":"t"}`, schema.CodeOSTypeNotSupported},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: []byte(tc.value)}})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Reject == nil || res[0].Reject.Code != int(tc.code) {
				t.Fatalf("result = %+v, want rejection %d", res[0], tc.code)
			}
		})
	}
}
