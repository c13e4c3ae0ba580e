package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestRecallSIGKILLMidStream sends 60 tasks of 10 deliveries, then runs the
// recall worker as its own process while revokes of the 60 tasks stream
// in, kills it with SIGKILL mid-stream and starts it again: every acked
// delivery ends with exactly one recalled event confirmed by the vendor,
// and the vendor's repeated recalls are reported.
func TestRecallSIGKILLMidStream(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		devices  int
	}{
		{scenario: "recall killed while revokes stream in", devices: 600},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			bin := buildBinary(t)
			e := newEnvWith(t, faultConfig, "sg")
			e.run([]string{"sg"}, app.Fanout, app.Sender, app.Retry, app.Eventsink)
			p := faultPlan{prefix: "rck", devices: tc.devices}
			e.plant(p)
			e.publish(p.requests()...)
			e.waitFor("every delivery acked", 2*time.Minute, func() (bool, string) {
				c := e.eventCounts("sg", p.where())
				return c["acked"] == uint64(tc.devices), fmt.Sprint(c)
			})

			// The worker process reads its settle time from its own
			// configuration file: a short one, so the revokes are carried
			// out while they stream in.
			cfgPath := e.workerConfig()
			appendYAML(t, cfgPath, "recall: {settle: 200ms}\n")
			log := logFile(t)
			first := e.startWorker(bin, app.Recall, cfgPath, log)
			e.waitReady(first)

			tasks := tc.devices / 10
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < tasks; i++ {
					c := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: testApp, TaskID: fmt.Sprintf("rck-%04d", i), TS: time.Now().UnixMilli()}
					e.publish(jsonOut(pipeline.ControlTopic("sg"), c.ControlKey(), c))
					time.Sleep(100 * time.Millisecond)
				}
			}()
			var committed, pending int64
			for deadline := time.Now().Add(time.Minute); committed == 0 || pending == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the recall worker never had work in flight: %d records committed, %d pending", committed, pending)
				}
				committed, pending = e.progress(app.Recall)
			}
			first.kill(t)
			select {
			case <-done:
				t.Fatal("the revokes ended before the kill; the test proves nothing")
			default:
			}
			_, uncommitted := e.progress(app.Recall)
			second := e.startWorker(bin, app.Recall, cfgPath, log)
			t.Cleanup(second.stop)
			<-done

			var c map[string]uint64
			e.waitFor("a recalled event per acked delivery", 2*time.Minute, func() (bool, string) {
				c = e.eventCounts("sg", p.where()+" AND event = 'recalled' AND status_code = 2")
				return c["recalled"] >= uint64(tc.devices), fmt.Sprint(c)
			})
			if all := e.eventCounts("sg", p.where()); all["recalled"] != uint64(tc.devices) {
				t.Fatalf("events %v: want exactly %d recalled, all confirmed", all, tc.devices)
			}
			var recalls int64
			for _, n := range e.sim.Recalls(vendorsim.VendorMiPush, "sg", testApp) {
				recalls += n
			}
			if recalls < int64(tc.devices) {
				t.Fatalf("the vendor recalled %d deliveries, want at least %d", recalls, tc.devices)
			}
			t.Logf("recall killed with %d revokes uncommitted: %d deliveries recalled once each in the events, the vendor saw %d recalls (%d repeated)",
				uncommitted, tc.devices, recalls, recalls-int64(tc.devices))
		})
	}
}

// appendYAML adds top-level keys to the configuration file at path.
func appendYAML(t *testing.T, path, yaml string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}
