package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestEveryVendorInOneRegion registers three devices on each of the nine
// channels (the HarmonyOS ones with platform harmony, pushed with
// deliverType 7), pushes to all of them, and finds an acked event per
// delivery per vendor and the simulator's per-vendor counts matching
// exactly.
func TestEveryVendorInOneRegion(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	vendors := []string{"mipush", "apns", "fcm", "hms", "honor", "harmonyos", "oppo", "vivo", "self"}
	var devs []schema.Binding
	android, ios, harmony := map[string]string{}, map[string]string{}, map[string]string{}
	for _, v := range vendors {
		for i := 1; i <= 3; i++ {
			id := fmt.Sprintf("%s-dev-%d", v, i)
			b := schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, DeviceID: id, Platform: schema.PlatformAndroid}
			switch v {
			case "self":
				b.SelfToken = "self-token-" + id
			case "apns":
				b.Platform, b.Vendor, b.VendorToken = schema.PlatformIOS, v, fmt.Sprintf("%062x%02d", i, i)
			case "harmonyos":
				b.Platform, b.Vendor, b.VendorToken = schema.PlatformHarmony, v, "token-"+id
			default:
				b.Vendor, b.VendorToken = v, "token-"+id
			}
			devs = append(devs, b)
			switch v {
			case "apns":
				ios[id] = "msg-" + id
			case "harmonyos":
				harmony[id] = "msg-" + id
			default:
				android[id] = "msg-" + id
			}
		}
	}
	e.registerDevices("sg", devs...)
	// SIMPLE takes at most 10 targets: one request per vendor.
	for _, v := range vendors {
		targets, deliverType := map[string]string{}, schema.DeliverAndroid
		src := android
		switch v {
		case "apns":
			src, deliverType = ios, schema.DeliverIOS
		case "harmonyos":
			src, deliverType = harmony, schema.DeliverHarmony
		}
		for id, m := range src {
			if strings.HasPrefix(id, v+"-") {
				targets[id] = m
			}
		}
		req := simpleRequest("sg", "task-"+v, targets)
		req["deliverType"] = deliverType
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-"+v, req))
	}
	for _, v := range vendors {
		t.Run(v, func(t *testing.T) {
			e.waitFor(v+" acked", time.Minute, func() (bool, string) {
				got := e.eventCounts("sg", "task_id = ? AND channel = ?", "task-"+v, v)
				return got["acked"] == 3 && got["sent"] == 3, fmt.Sprint(got)
			})
		})
	}
	st := e.sim.Stats()
	for _, v := range vendors {
		vs := st.Vendors[v]
		if vs == nil || vs.Regions["sg"] == nil || vs.Regions["sg"].Apps[testApp] == nil {
			t.Errorf("simulator saw nothing of %s in sg: %+v", v, vs)
			continue
		}
		a := vs.Regions["sg"].Apps[testApp]
		if a.Messages != 3 || len(a.Tokens) != 3 {
			t.Errorf("%s: simulator accepted %d messages for %d tokens, want 3 and 3", v, a.Messages, len(a.Tokens))
		}
		for tok, n := range a.Tokens {
			if n != 1 {
				t.Errorf("%s: token %s received %d times", v, tok, n)
			}
		}
	}
}
