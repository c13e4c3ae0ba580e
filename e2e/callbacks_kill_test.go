package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestCallbacksSIGKILLMidStream runs the callbacks worker as its own process
// while 3,000 acked deliveries with a callbackUrl stream in, kills it with
// SIGKILL mid-stream and starts it again: the business system gets at
// least one callback per delivery (callbacks are at least once; repeats
// are reported), and ClickHouse holds exactly one callback_sent event per
// delivery.
func TestCallbacksSIGKILLMidStream(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		deliveries int
		waves      int
	}{
		{scenario: "callbacks killed while outcomes stream in", deliveries: 3000, waves: 12},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			bin := buildBinary(t)
			e := newEnvWith(t, faultConfig, "sg")
			e.run([]string{"sg"}, app.Eventsink)

			var mu sync.Mutex
			posts := map[string]int{}
			biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var cb struct {
					MsgID string `json:"msgId"`
				}
				b, _ := io.ReadAll(r.Body)
				if json.Unmarshal(b, &cb) != nil || cb.MsgID == "" {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				mu.Lock()
				posts[cb.MsgID]++
				mu.Unlock()
			}))
			t.Cleanup(biz.Close)

			cfgPath, log := e.workerConfig(), logFile(t)
			first := e.startWorker(bin, app.Callbacks, cfgPath, log)
			e.waitReady(first)

			const task = "cbk-task"
			per := tc.deliveries / tc.waves
			done := make(chan struct{})
			go func() {
				defer close(done)
				for w := 0; w < tc.waves; w++ {
					var outs []pipeline.Output
					for i := w * per; i < (w+1)*per; i++ {
						msg, dev := fmt.Sprintf("cbk-m%05d", i), fmt.Sprintf("cbk-d%05d", i)
						d := schema.Delivery{DeliveryID: e.deliveryID(msg, dev), MsgID: msg, TaskID: task, AppID: testApp,
							Region: "sg", PushType: schema.PushSimple, Target: dev, DeviceID: dev, Platform: schema.PlatformAndroid,
							Channel: "mipush", Token: "tok-" + dev, CallbackURL: biz.URL}
						ev := d.EventFor(schema.EventAcked, time.Now().UnixMilli())
						ev.StatusCode, ev.StatusDesc = schema.StatusAcked, "Acked"
						outs = append(outs, jsonOut(pipeline.EventsTopic("sg"), ev.Key(), ev))
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					if err := e.prod.Produce(ctx, outs); err != nil {
						t.Error(err)
					}
					cancel()
					time.Sleep(200 * time.Millisecond)
				}
			}()
			var committed, pending int64
			for deadline := time.Now().Add(time.Minute); committed == 0 || pending == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the callbacks worker never had work in flight: %d records committed, %d pending", committed, pending)
				}
				committed, pending = e.progress(app.Callbacks)
			}
			first.kill(t)
			select {
			case <-done:
				t.Fatal("the outcomes ended before the kill; the test proves nothing")
			default:
			}
			_, uncommitted := e.progress(app.Callbacks)
			second := e.startWorker(bin, app.Callbacks, cfgPath, log)
			t.Cleanup(second.stop)
			<-done

			var c map[string]uint64
			e.waitFor("a callback_sent event per delivery", 2*time.Minute, func() (bool, string) {
				c = e.eventCounts("sg", "task_id = ?", task)
				return c["callback_sent"] >= uint64(tc.deliveries), fmt.Sprint(c)
			})
			if c["callback_sent"] != uint64(tc.deliveries) || c["acked"] != uint64(tc.deliveries) {
				t.Fatalf("events %v: want %d acked and %d callback_sent", c, tc.deliveries, tc.deliveries)
			}
			mu.Lock()
			defer mu.Unlock()
			total := 0
			for i := 0; i < tc.deliveries; i++ {
				n := posts[fmt.Sprintf("cbk-m%05d", i)]
				if n == 0 {
					t.Fatalf("delivery %d got no callback", i)
				}
				total += n
			}
			t.Logf("callbacks killed with %d of its records uncommitted: %d deliveries, %d callbacks posted (%d repeated), one callback_sent event each",
				uncommitted, tc.deliveries, total, total-tc.deliveries)
		})
	}
}
