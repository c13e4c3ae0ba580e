package gateway

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestDeviceStatusRoute queries devices by device id and by user id.
func TestDeviceStatusRoute(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	if err := store.NewDevices(e.conn, e.db).Insert(context.Background(), []schema.Device{
		{AppID: testApp, DeviceID: "ds-1", Platform: schema.PlatformAndroid, Vendor: "mipush", VendorToken: "tok-1", TokenValid: true,
			UserID: "alice", BoundAt: now, UpdatedAt: now, Model: "Redmi"},
		{AppID: testApp, DeviceID: "ds-2", Platform: schema.PlatformIOS, Vendor: "apns", VendorToken: "tok-2", TokenValid: false, UpdatedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario string
		body     map[string]any
		status   int
		want     schema.ResultCode
		devices  []string
	}{
		{scenario: "by device ids, unknown ids left out", body: app(map[string]any{"deviceIds": []string{"ds-2", "ds-1", "nobody"}}), devices: []string{"ds-1", "ds-2"}},
		{scenario: "by user id", body: app(map[string]any{"userIds": []string{"alice"}}), devices: []string{"ds-1"}},
		{scenario: "3028 without ids", body: app(nil), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 with both lists", body: app(map[string]any{"deviceIds": []string{"ds-1"}, "userIds": []string{"alice"}}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 with more than 100 ids", body: app(map[string]any{"deviceIds": make([]string, 101)}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3003 without appId", body: with(app(map[string]any{"deviceIds": []string{"ds-1"}}), map[string]any{"appId": nil}), status: 400, want: schema.CodeNeedAppIDWorkspaceID},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			resp := e.expect(t, "/v1/devices/status", tc.body, tc.status, tc.want)
			if tc.want != 0 {
				return
			}
			var got []DeviceStatus
			if err := json.Unmarshal(resp.ResultContent.Data, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.devices) {
				t.Fatalf("devices %+v, want %v", got, tc.devices)
			}
			for i, d := range got {
				if d.DeviceID != tc.devices[i] || d.SelfChannelStatus != "Unknown" {
					t.Fatalf("device %d = %+v, want %s", i, d, tc.devices[i])
				}
				if d.DeviceID == "ds-1" && (d.UserID != "alice" || d.Channel != "mipush" || !d.TokenValid || d.VendorToken != "tok-1" || d.Model != "Redmi") {
					t.Fatalf("ds-1 = %+v", d)
				}
				if d.DeviceID == "ds-2" && (d.TokenValid || d.Platform != schema.PlatformIOS) {
					t.Fatalf("ds-2 = %+v", d)
				}
			}
		})
	}
}
