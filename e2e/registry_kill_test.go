package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestRegistrySIGKILLMidStream runs the registry as its own process while
// 6,000 devices report a first token and then a second one, kills it with
// SIGKILL mid-stream and starts it again: every device is in the devices
// table exactly once, with its second token, as if nothing had happened
// (the replayed reports are applied again in their order).
func TestRegistrySIGKILLMidStream(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		devices  int
		waves    int
	}{
		{scenario: "registry killed while reports stream in", devices: 6000, waves: 12},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			bin := buildBinary(t)
			e := newEnvWith(t, faultConfig, "sg")
			cfgPath, log := e.workerConfig(), logFile(t)
			first := e.startWorker(bin, app.Registry, cfgPath, log)
			e.waitReady(first)

			report := func(i int, token string) pipeline.Output {
				b := schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, WorkspaceID: "default", DeviceID: fmt.Sprintf("rk-%05d", i),
					Platform: schema.PlatformAndroid, Vendor: "mipush", VendorToken: token, TS: time.Now().UnixMilli()}
				return jsonOut(pipeline.BindingsTopic("sg"), b.DeviceID, b)
			}
			// Each wave reports new devices' first tokens and the previous
			// wave's devices' second tokens.
			per := tc.devices / tc.waves
			done := make(chan struct{})
			go func() {
				defer close(done)
				for w := 0; w <= tc.waves; w++ {
					var outs []pipeline.Output
					for i := w * per; i < (w+1)*per && i < tc.devices; i++ {
						outs = append(outs, report(i, fmt.Sprintf("first-%05d", i)))
					}
					for i := (w - 1) * per; w > 0 && i < w*per; i++ {
						outs = append(outs, report(i, fmt.Sprintf("second-%05d", i)))
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					if err := e.prod.Produce(ctx, outs); err != nil {
						t.Error(err)
					}
					cancel()
					time.Sleep(150 * time.Millisecond)
				}
			}()
			var committed, pending int64
			for deadline := time.Now().Add(time.Minute); committed == 0 || pending == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the registry never had work in flight: %d records committed, %d pending", committed, pending)
				}
				committed, pending = e.progress(app.Registry)
			}
			first.kill(t)
			select {
			case <-done:
				t.Fatal("the reports ended before the kill; the test proves nothing")
			default:
			}
			_, uncommitted := e.progress(app.Registry)
			second := e.startWorker(bin, app.Registry, cfgPath, log)
			t.Cleanup(second.stop)
			<-done

			q := "SELECT count(), uniqExact(device_id), countIf(vendor_token = concat('second-', substring(device_id, 4))) FROM " +
				e.db("sg") + ".devices FINAL WHERE app_id = ? AND startsWith(device_id, 'rk-')"
			var rows, distinct, second2 uint64
			e.waitFor("every device with its second token", 2*time.Minute, func() (bool, string) {
				if err := e.conn.QueryRow(context.Background(), q, testApp).Scan(&rows, &distinct, &second2); err != nil {
					return false, err.Error()
				}
				return second2 == uint64(tc.devices), fmt.Sprintf("%d rows, %d devices, %d with the second token", rows, distinct, second2)
			})
			if rows != uint64(tc.devices) || distinct != uint64(tc.devices) {
				t.Fatalf("%d rows for %d distinct devices, want %d of each", rows, distinct, tc.devices)
			}
			t.Logf("registry killed with %d of its records committed and %d not: all %d devices have their second token, one row each",
				committed, uncommitted, tc.devices)
		})
	}
}
