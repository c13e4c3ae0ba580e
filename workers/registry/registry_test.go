package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

// applyBatch has h apply batch as one Kafka batch, every record accepted.
func applyBatch(t *testing.T, h *Handler, batch []schema.Binding) {
	t.Helper()
	msgs := make([]kafka.Message, len(batch))
	for i, b := range batch {
		msgs[i] = rec(b)
	}
	res, err := h.HandleBatch(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Reject != nil {
			t.Fatalf("record %d rejected: %+v", i, r.Reject)
		}
	}
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
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	devices := store.NewDevices(conn, db)
	h, err := New(Config{Region: "sg", Store: devices})
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
		{"alias and account are set", []schema.Binding{
			{Op: schema.OpSetAlias, AppID: "app", DeviceID: "d1", Alias: "vip", TS: 2100},
			{Op: schema.OpSetAccount, AppID: "app", DeviceID: "d1", UserAccount: "acct", TS: 2101},
		}, func(t *testing.T, d schema.Device, ok bool) {
			if d.Alias != "vip" || d.UserAccount != "acct" || d.UserID != "u1" {
				t.Fatalf("device = %+v", d)
			}
		}},
		{"invalidation of another token is ignored", []schema.Binding{{Op: schema.OpInvalidate, AppID: "app", DeviceID: "d1", VendorToken: "old", TS: 2200}}, func(t *testing.T, d schema.Device, ok bool) {
			if !d.TokenValid {
				t.Fatalf("a stale invalidation killed the current token: %+v", d)
			}
		}},
		{"invalidation of the current token marks it dead", []schema.Binding{{Op: schema.OpInvalidate, AppID: "app", DeviceID: "d1", VendorToken: "tok-1", TS: 2300}}, func(t *testing.T, d schema.Device, ok bool) {
			if d.TokenValid {
				t.Fatalf("token still valid: %+v", d)
			}
		}},
		{"report and unbind in one batch apply in order", []schema.Binding{
			{Op: schema.OpReport, AppID: "app", DeviceID: "d1", Platform: "android", Vendor: "mipush", VendorToken: "tok-2", TS: 3000},
			{Op: schema.OpUnbind, AppID: "app", DeviceID: "d1", TS: 3001},
		}, func(t *testing.T, d schema.Device, ok bool) {
			if d.VendorToken != "tok-2" || d.UserID != "" || d.Model != "M1" || !d.TokenValid || d.Alias != "vip" {
				t.Fatalf("device = %+v", d)
			}
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			applyBatch(t, h, tc.batch)
			got, err := devices.Lookup(ctx, "app", []string{"d1"})
			if err != nil {
				t.Fatal(err)
			}
			d, ok := got["d1"]
			tc.check(t, d, ok)
		})
	}
}

func TestRegistryRejectsBadRecords(t *testing.T) {
	h, _ := New(Config{Region: "sg", Store: store.NewDevices(ch.Conn(t), "unused")})
	for _, tc := range []struct {
		scenario string
		value    string
		code     schema.ResultCode
	}{
		{"garbage", "{", schema.CodeInvalidParam},
		{"other region", `{"op":"report","region":"eu","appId":"a","deviceId":"d","platform":"android","vendorToken":"t"}`, schema.CodeInvalidParam},
		{"unknown platform", `{"op":"report","appId":"a","deviceId":"d","platform":"tizen","vendorToken":"t"}`, schema.CodeOSTypeNotSupported},
		{"set_phone without a user", `{"op":"set_phone","appId":"a","phone":"+6591234567"}`, schema.CodeNeedUserID},
		{"set_phone with a landline of +86", `{"op":"set_phone","appId":"a","userId":"u","phone":"+861012345678"}`, schema.CodeInvalidParam},
		{"set_phone without a country code", `{"op":"set_phone","appId":"a","userId":"u","phone":"91234567"}`, schema.CodeInvalidParam},
		{"unset_phone without a user", `{"op":"unset_phone","appId":"a"}`, schema.CodeNeedUserID},
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

func TestRegistryWritesTagMemberships(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	devices := store.NewDevices(conn, db)
	h, _ := New(Config{Region: "sg", Store: devices})
	batch := []schema.Binding{
		{Op: schema.OpReport, AppID: "app", DeviceID: "d1", Platform: "android", Vendor: "mipush", VendorToken: "t1", TS: 1},
		{Op: schema.OpReport, AppID: "app", DeviceID: "d2", Platform: "android", Vendor: "mipush", VendorToken: "t2", TS: 1},
		{Op: schema.OpBind, AppID: "app", DeviceID: "d1", UserID: "u1", TS: 2},
		{Op: schema.OpBind, AppID: "app", DeviceID: "d2", UserID: "u2", TS: 2},
		{Op: schema.OpTagAdd, AppID: "app", UserID: "u1", Tags: []string{"gold", "vip"}, TS: 3},
		{Op: schema.OpTagAdd, AppID: "app", UserID: "u2", Tags: []string{"gold"}, TS: 3},
		{Op: schema.OpTagRemove, AppID: "app", UserID: "u2", Tags: []string{"gold"}, TS: 4},
	}
	msgs := make([]kafka.Message, len(batch))
	for i, b := range batch {
		msgs[i] = rec(b)
	}
	if _, err := h.HandleBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario, tag string
		want          []string
	}{
		{"tag kept by one user", "gold", []string{"d1"}},
		{"second tag", "vip", []string{"d1"}},
		{"unknown tag", "none", nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var got []string
			if err := devices.Stream(ctx, store.Audience{AppID: "app", Tag: tc.tag}, func(d schema.Device) error {
				got = append(got, d.DeviceID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("devices of tag %s = %v, want %v", tc.tag, got, tc.want)
			}
		})
	}
}

// TestRegistryKeepsUsersPhoneNumbers applies set_phone and unset_phone
// records, in batches and replayed out of order, and reads back the
// numbers fan-out sends SMS supplements to.
func TestRegistryKeepsUsersPhoneNumbers(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	devices := store.NewDevices(conn, db)
	h, _ := New(Config{Region: "sg", Store: devices})
	for _, tc := range []struct {
		scenario string
		batch    []schema.Binding
		want     map[string]string
	}{
		{"E.164 and mainland numbers are stored in E.164", []schema.Binding{
			{Op: schema.OpSetPhone, AppID: "app", UserID: "u1", Phone: "+6591234567", TS: 10},
			{Op: schema.OpSetPhone, AppID: "app", UserID: "u2", Phone: "13800138000", TS: 10},
			{Op: schema.OpSetPhone, AppID: "other", UserID: "u3", Phone: "+6591234500", TS: 10},
		}, map[string]string{"u1": "+6591234567", "u2": "+8613800138000"}},
		{"a newer number replaces the old one", []schema.Binding{
			{Op: schema.OpSetPhone, AppID: "app", UserID: "u1", Phone: "+6598765432", TS: 20},
		}, map[string]string{"u1": "+6598765432", "u2": "+8613800138000"}},
		{"an older record replayed changes nothing", []schema.Binding{
			{Op: schema.OpSetPhone, AppID: "app", UserID: "u1", Phone: "+6591234567", TS: 10},
			{Op: schema.OpUnsetPhone, AppID: "app", UserID: "u2", TS: 5},
		}, map[string]string{"u1": "+6598765432", "u2": "+8613800138000"}},
		{"unset_phone removes the number", []schema.Binding{
			{Op: schema.OpUnsetPhone, AppID: "app", UserID: "u2", TS: 30},
		}, map[string]string{"u1": "+6598765432"}},
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
			got, err := devices.Phones(ctx, "app", []string{"u1", "u2", "u3"})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("phones = %v, want %v", got, tc.want)
			}
		})
	}
}
