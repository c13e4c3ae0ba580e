package registry

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestRegistryLiveActivityTokens runs batches of Live Activity token
// records against a real ClickHouse and reads back what fanout would
// target: the devices of an activity id (deliverType 6) and of a token
// (deliverType 5).
func TestRegistryLiveActivityTokens(t *testing.T) {
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
	// Times are recent: the table forgets rows a week old.
	base := time.Now().Add(-time.Hour).UnixMilli()
	bindToken := func(device, token string, ts int64) schema.Binding {
		return schema.Binding{Op: schema.OpActivityToken, AppID: "app", DeviceID: device, ActivityID: "order-42", ActivityToken: token, TS: base + ts}
	}
	// targets prints device:platform:vendor:token:appVersion of each device.
	targets := func(devs []schema.Device) string {
		var out []string
		for _, d := range devs {
			out = append(out, strings.Join([]string{d.DeviceID, d.Platform, d.Vendor, d.VendorToken, d.AppVersion, fmt.Sprint(d.TokenValid)}, ":"))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		scenario     string
		batch        []schema.Binding
		wantActivity string            // targets of activity order-42
		wantTokens   map[string]string // token -> its target ("" = none)
	}{
		{"tokens of a reported and an unreported device",
			[]schema.Binding{
				{Op: schema.OpReport, AppID: "app", DeviceID: "d1", Platform: "ios", Vendor: "apns", VendorToken: "dev-tok-1", AppVersion: "2.0", TS: base + 1000},
				bindToken("d1", "la-1", 1100), bindToken("d2", "la-2", 1100),
			},
			"d1:ios:apns:la-1:2.0:true d2:ios:apns:la-2::true",
			map[string]string{"la-1": "d1:ios:apns:la-1:2.0:true", "la-2": "d2:ios:apns:la-2::true", "dev-tok-1": ""}},
		{"a new token of the activity replaces the device's old one",
			[]schema.Binding{bindToken("d1", "la-3", 2000)},
			"d1:ios:apns:la-3:2.0:true d2:ios:apns:la-2::true",
			map[string]string{"la-1": "", "la-3": "d1:ios:apns:la-3:2.0:true"}},
		{"an older record replayed changes nothing",
			[]schema.Binding{bindToken("d1", "la-1", 1100)},
			"d1:ios:apns:la-3:2.0:true d2:ios:apns:la-2::true",
			map[string]string{"la-1": "", "la-3": "d1:ios:apns:la-3:2.0:true"}},
		{"removal when the activity ended",
			[]schema.Binding{{Op: schema.OpActivityTokenRemove, AppID: "app", DeviceID: "d2", ActivityID: "order-42", TS: base + 3000}},
			"d1:ios:apns:la-3:2.0:true",
			map[string]string{"la-2": ""}},
		{"an invalidation of another device's token is ignored",
			[]schema.Binding{{Op: schema.OpInvalidate, AppID: "app", DeviceID: "d2", VendorToken: "la-3", TS: base + 3500}},
			"d1:ios:apns:la-3:2.0:true",
			map[string]string{"la-3": "d1:ios:apns:la-3:2.0:true"}},
		{"APNs calling the token dead removes it",
			[]schema.Binding{{Op: schema.OpInvalidate, AppID: "app", DeviceID: "d1", VendorToken: "la-3", TS: base + 4000}},
			"",
			map[string]string{"la-3": ""}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			applyBatch(t, h, tc.batch)
			byActivity, err := devices.ByActivity(ctx, "app", []string{"order-42", "order-0"})
			if err != nil {
				t.Fatal(err)
			}
			if got := targets(byActivity["order-42"]); got != tc.wantActivity {
				t.Errorf("targets of order-42 = %q, want %q", got, tc.wantActivity)
			}
			if len(byActivity["order-0"]) != 0 {
				t.Errorf("unknown activity has targets %v", byActivity["order-0"])
			}
			tokens := make([]string, 0, len(tc.wantTokens))
			for tok := range tc.wantTokens {
				tokens = append(tokens, tok)
			}
			sort.Strings(tokens)
			byToken, err := devices.ByActivityToken(ctx, "app", tokens)
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range tokens {
				got := ""
				if d, ok := byToken[tok]; ok {
					got = targets([]schema.Device{d})
				}
				if got != tc.wantTokens[tok] {
					t.Errorf("target of token %s = %q, want %q", tok, got, tc.wantTokens[tok])
				}
			}
		})
	}
	// The device's own APNs token was never touched by its activities.
	got, err := devices.Lookup(ctx, "app", []string{"d1"})
	if err != nil || got["d1"].VendorToken != "dev-tok-1" || !got["d1"].TokenValid {
		t.Fatalf("device d1 = %+v (%v), want its own valid token dev-tok-1", got["d1"], err)
	}
}
