package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// receiptDevices are the devices of TestVendorReceiptsReachTheirDeliveries
// and their msgKeys; the three dev-multi devices share one msgKey, so the
// MiPush channel sends them in one call for three regIds.
var receiptDevices = map[string]string{
	"dev-hms": "msg-hms", "dev-honor": "msg-honor", "dev-harmony": "msg-harmony", "dev-mi": "msg-mi",
	"dev-oppo": "msg-oppo", "dev-vivo": "msg-vivo", "dev-client": "msg-client",
	"dev-multi-1": "msg-multi", "dev-multi-2": "msg-multi", "dev-multi-3": "msg-multi",
}

func regID(dev string) string { return "regid-" + dev }

// TestVendorReceiptsReachTheirDeliveries pushes one SIMPLE request to ten
// devices through the whole chain (MiPush against the simulator), then
// posts every vendor's §7.2.10 receipt sample carrying our correlation
// values (tagged where the vendor echoes a callback parameter), and client
// SDK events, to the receipts worker, each with the proof its vendor
// adds. Each becomes an event in ClickHouse with the task, msg, device and
// channel of its delivery; replaying every receipt changes no count;
// garbled bodies get 4xx and are counted. Last, the receipt endpoint's
// latency is measured.
func TestVendorReceiptsReachTheirDeliveries(t *testing.T) {
	e := newEnv(t, "sg")
	deliveryOf := func(dev string) string { return e.deliveryID(receiptDevices[dev], dev) }
	e.run([]string{"sg"}, app.Kinds()...)
	rs := e.startReceipts("sg")
	var devs []schema.Binding
	for _, d := range slices.Sorted(maps.Keys(receiptDevices)) {
		devs = append(devs, device("sg", d, regID(d)))
	}
	e.registerDevices("sg", devs...)
	const task = "task-receipts"
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, simpleRequest("sg", task, receiptDevices)))
	e.waitFor("the push acked for every device", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["acked"] == 10, fmt.Sprint(got)
	})
	// The sender correlated as the receipts expect: one MiPush call per
	// single device carrying its delivery id, one call for the three
	// dev-multi regIds carrying the msg id.
	params := map[string][]string{}
	for _, r := range e.sim.Requests("mipush", "sg") {
		params[r.Form.Get("extra.callback.param")] = r.RegIDs
	}
	if got := params[e.param("mipush", deliveryOf("dev-mi"))]; len(got) != 1 || got[0] != regID("dev-mi") {
		t.Fatalf("MiPush call with callback.param = tagged delivery id of dev-mi: regIds %v (calls by param: %v)", got, params)
	}
	if got := params[e.param("mipush", "msg-multi")]; len(got) != 3 {
		// The sender may split them over batches; receipts by msg id and
		// regId resolve either way.
		t.Logf("no single MiPush call carried the 3 dev-multi regIds (calls by param: %v)", params)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	post := func(t *testing.T, path, ct, body string) (int, string) {
		t.Helper()
		return e.postReceipt(t, client, rs.URL(), strings.TrimPrefix(path, "/receipts/"), ct, body)
	}
	multi := []string{regID("dev-multi-1"), regID("dev-multi-2"), regID("dev-multi-3")}
	type want struct {
		dev  string
		ev   schema.EventType
		code int64
	}
	scenarios := []struct {
		scenario string
		path, ct string
		body     string
		wantBody string
		want     []want
	}{
		{"huawei sample (status 0)", "/receipts/hms", ctJSON,
			ourSample(sampleHMS, deliveryOf("dev-hms"), []string{regID("dev-hms")}),
			`{"code":"0","message":"success"}`, []want{{"dev-hms", schema.EventArrived, 2}}},
		{"honor sample, delivered (status 0)", "/receipts/honor", ctJSON,
			ourSample(sampleHonor, deliveryOf("dev-honor"), []string{regID("dev-honor")}, `"status": 40000002`, `"status": 0`),
			`{"code":"0","message":"success"}`, []want{{"dev-honor", schema.EventArrived, 2}}},
		{"honor sample as published (status 40000002)", "/receipts/honor", ctJSON,
			ourSample(sampleHonor, deliveryOf("dev-honor"), []string{regID("dev-honor")}),
			`{"code":"0","message":"success"}`, []want{{"dev-honor", schema.EventFailed, 40000002}}},
		{"harmonyos sample, delivered (result 0)", "/receipts/harmonyos", ctJSON,
			ourSample(sampleHarmonyOS, deliveryOf("dev-harmony"), []string{regID("dev-harmony")}, `"result": 5`, `"result": 0`),
			`{"code":"0","message":"success"}`, []want{{"dev-harmony", schema.EventArrived, 2}}},
		{"harmonyos sample as published (result 5)", "/receipts/harmonyos", ctJSON,
			ourSample(sampleHarmonyOS, deliveryOf("dev-harmony"), []string{regID("dev-harmony")}),
			`{"code":"0","message":"success"}`, []want{{"dev-harmony", schema.EventFailed, 5}}},
		{"xiaomi sample, call for one regId: param is the delivery id", "/receipts/mipush", ctForm,
			miPushForm(ourSample(sampleMiPushData, e.param("mipush", deliveryOf("dev-mi")), []string{regID("dev-mi")})),
			`SUCCESS`, []want{{"dev-mi", schema.EventArrived, 2}}},
		{"xiaomi sample, call for three regIds: param is the msg id", "/receipts/mipush", ctForm,
			miPushForm(ourSample(sampleMiPushData, e.param("mipush", "msg-multi"), multi)),
			`SUCCESS`, []want{{"dev-multi-1", schema.EventArrived, 2}, {"dev-multi-2", schema.EventArrived, 2}, {"dev-multi-3", schema.EventArrived, 2}}},
		{"xiaomi click (type 2)", "/receipts/mipush", ctForm,
			miPushForm(ourSample(sampleMiPushData, e.param("mipush", deliveryOf("dev-mi")), []string{regID("dev-mi")}, `"type": 1`, `"type": 2`)),
			`SUCCESS`, []want{{"dev-mi", schema.EventOpened, 2}}},
		{"oppo sample (push_arrive)", "/receipts/oppo", ctJSON,
			ourSample(sampleOPPO, e.param("oppo", deliveryOf("dev-oppo")), []string{regID("dev-oppo")}),
			`{"returnCode":100,"returnReason":"SUCCESS"}`, []want{{"dev-oppo", schema.EventArrived, 2}}},
		{"vivo sample (ackType 0)", "/receipts/vivo", ctJSON,
			ourSample(sampleVivo, e.param("vivo", deliveryOf("dev-vivo")), []string{regID("dev-vivo")}),
			`{"returnCode":100,"returnReason":"SUCCESS"}`, []want{{"dev-vivo", schema.EventArrived, 2}}},
		{"client events: arrival by msg and device id, open by delivery id, ignore, and an arrival the vendor reported too", "/receipts/client", ctJSON,
			fmt.Sprintf(`{"events":[{"msgId":"msg-client","deviceId":"dev-client","event":"arrival","ts":%d,"appVersion":"2.1"},`+
				`{"deliveryId":%q,"event":"open"},{"deliveryId":%q,"event":"ignore"},{"deliveryId":%q,"event":"arrival"}]}`,
				time.Now().UnixMilli(), deliveryOf("dev-client"), deliveryOf("dev-oppo"), deliveryOf("dev-hms")),
			`{"returnCode":100,"returnReason":"SUCCESS"}`,
			[]want{{"dev-client", schema.EventArrived, 2}, {"dev-client", schema.EventOpened, 2}, {"dev-oppo", schema.EventIgnored, 2}, {"dev-hms", schema.EventArrived, 2}}},
	}
	type row struct {
		Task, Msg, Device, Channel, Delivery, Model string
		Code                                        int64
	}
	find := func(w want) (row, bool) {
		var r row
		err := e.conn.QueryRow(context.Background(), "SELECT task_id, msg_id, device_id, channel, delivery_id, model, status_code FROM "+e.db("sg")+
			".events FINAL WHERE event_id = ?", schema.ReceiptEventID(w.ev, deliveryOf(w.dev))).
			Scan(&r.Task, &r.Msg, &r.Device, &r.Channel, &r.Delivery, &r.Model, &r.Code)
		return r, err == nil
	}
	for _, sc := range scenarios {
		t.Run(sc.scenario, func(t *testing.T) {
			code, body := post(t, sc.path, sc.ct, sc.body)
			if code != http.StatusOK || body != sc.wantBody {
				t.Fatalf("answer %d %s, want 200 %s", code, body, sc.wantBody)
			}
			for _, w := range sc.want {
				e.waitFor(fmt.Sprintf("%s of %s in ClickHouse", w.ev, w.dev), time.Minute, func() (bool, string) {
					r, ok := find(w)
					return ok, fmt.Sprintf("%+v %v", r, ok)
				})
				r, _ := find(w)
				if r.Task != task || r.Msg != receiptDevices[w.dev] || r.Device != w.dev || r.Channel != "mipush" ||
					r.Delivery != deliveryOf(w.dev) || r.Model != "Redmi" || r.Code != w.code {
					t.Fatalf("%s of %s stored as %+v, want task %s msg %s channel mipush code %d", w.ev, w.dev, r, task, receiptDevices[w.dev], w.code)
				}
			}
		})
	}
	wantCounts := map[string]uint64{"accepted": 1, "planned": 10, "valid": 10, "sent": 10, "acked": 10,
		"arrived": 10, "opened": 2, "ignored": 1, "failed": 2}
	if got := e.eventCounts("sg", "task_id = ?", task); !equalCounts(got, wantCounts) {
		t.Fatalf("task events %v, want %v", got, wantCounts)
	}

	t.Run("replaying every receipt changes no count", func(t *testing.T) {
		since := time.Now()
		time.Sleep(10 * time.Millisecond)
		replayed := 0
		for _, sc := range scenarios {
			if code, body := post(t, sc.path, sc.ct, sc.body); code != http.StatusOK {
				t.Fatalf("%s: answer %d %s", sc.scenario, code, body)
			}
			replayed += len(sc.want)
		}
		// The event sink has handled every replayed receipt once its
		// group committed push.events.sg up to where it ends now.
		caught, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pipeline.WaitCaughtUp(caught, e.brokers, pipeline.KafkaSecurity{}, "pushpipe.eventsink.sg", pipeline.EventsTopic("sg"), 100*time.Millisecond); err != nil {
			t.Fatalf("the event sink did not catch up with the replayed receipts: %v", err)
		}
		// Wait until the sink stored every replayed event again (the
		// newest insert of a row wins in the ReplacingMergeTree).
		e.waitFor("the replayed events stored", time.Minute, func() (bool, string) {
			var n uint64
			err := e.conn.QueryRow(context.Background(), "SELECT uniqExact(event_id) FROM "+e.db("sg")+".events WHERE task_id = ? AND inserted_at > fromUnixTimestamp64Milli(?) AND event IN ('arrived','opened','ignored','failed')",
				task, since.UnixMilli()).Scan(&n)
			if err == nil && n >= uint64(replayed)-1 { // the client's dev-hms arrival is the vendor's
				return true, ""
			}
			var rows uint64
			var newest time.Time
			_ = e.conn.QueryRow(context.Background(), "SELECT count(), max(inserted_at) FROM "+e.db("sg")+".events WHERE task_id = ? AND event IN ('arrived','opened','ignored','failed')", task).Scan(&rows, &newest)
			return false, fmt.Sprintf("%d of %d (err %v); the task has %d receipt rows, the newest inserted at %s, the replay began at %s",
				n, replayed-1, err, rows, newest.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
		})
		if got := e.eventCounts("sg", "task_id = ?", task); !equalCounts(got, wantCounts) {
			t.Fatalf("task events after replay %v, want %v", got, wantCounts)
		}
		f, err := store.QueryFunnel(context.Background(), e.conn, e.db("sg"), testApp, task, "")
		if err != nil || f.Valid != 10 || f.Arrived != 10 || f.Opened != 2 {
			t.Fatalf("funnel after replay %+v (%v), want 10 valid, 10 arrived, 2 opened", f, err)
		}
		agg := e.settledMinuteCounts("sg", "task_id = ?", func(c map[string]uint64) bool { return c["arrived"] >= 10 }, task)
		if agg["arrived"] != 10 {
			t.Fatalf("per-minute aggregate of arrivals %d (all: %v), want 10", agg["arrived"], agg)
		}
	})

	t.Run("garbled bodies get 4xx and are counted", func(t *testing.T) {
		for _, g := range []struct {
			scenario, path, ct, body string
			status                   int
			reason                   string
		}{
			{"huawei: truncated JSON", "/receipts/hms", ctJSON, `{"statuses":[{"biTag":`, 400, `reason="malformed_json",region="sg",vendor="hms"`},
			{"xiaomi: JSON instead of a form", "/receipts/mipush", ctJSON, `{"data":{}}`, 400, `reason="no_data",region="sg",vendor="mipush"`},
			{"oppo: an object", "/receipts/oppo", ctJSON, `{"eventType":"push_arrive"}`, 400, `reason="malformed_json",region="sg",vendor="oppo"`},
			{"vivo: larger than 1 MiB", "/receipts/vivo", ctJSON, `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, 413, `reason="too_large",region="sg",vendor="vivo"`},
			{"client: unknown event", "/receipts/client", ctJSON, `{"events":[{"deliveryId":"` + deliveryOf("dev-hms") + `","event":"swipe"}]}`, 400, `reason="invalid_event",region="sg",vendor="client"`},
			{"no such vendor", "/receipts/blackberry", ctJSON, `{}`, 404, `reason="unknown_vendor",region="sg",vendor="unknown"`},
		} {
			code, body := post(t, g.path, g.ct, g.body)
			if code != g.status {
				t.Errorf("%s: answer %d %s, want %d", g.scenario, code, body, g.status)
			}
			if metrics := httpGet(t, e.internalURL(rs.Addr())+"/metrics"); !strings.Contains(metrics, "pushpipe_receipts_rejected_total{"+g.reason+"} 1") {
				t.Errorf("%s: /metrics lacks pushpipe_receipts_rejected_total{%s} 1", g.scenario, g.reason)
			}
		}
		if body := httpGet(t, e.internalURL(rs.Addr())+"/healthz"); body != "ok\n" {
			t.Fatalf("the worker is not healthy after garbled bodies: %q", body)
		}
	})

	t.Run("latency of the receipt endpoint", func(t *testing.T) {
		body := ourSample(sampleHMS, deliveryOf("dev-hms"), []string{regID("dev-hms")})
		creds := e.receiptCredentials()
		measure := func(n, workers int) []time.Duration {
			lat := make([]time.Duration, n)
			var wg sync.WaitGroup
			next := make(chan int)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						start := time.Now()
						resp, err := client.Do(receiptRequest(testApp, creds, rs.URL(), "hms", ctJSON, body))
						if err != nil {
							t.Error(err)
							continue
						}
						_ = resp.Body.Close()
						lat[i] = time.Since(start)
						if resp.StatusCode != http.StatusOK {
							t.Errorf("answer %d", resp.StatusCode)
						}
					}
				}()
			}
			for i := 0; i < n; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			return lat
		}
		pct := func(lat []time.Duration, p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		for _, run := range []struct{ n, workers int }{{2000, 1}, {2000, 8}} {
			start := time.Now()
			lat := measure(run.n, run.workers)
			took := time.Since(start)
			t.Logf("POST /receipts/hms, %d requests from %d client(s), each answered after Kafka acknowledged its event: p50 %s  p99 %s  max %s  (%.0f requests/s)",
				run.n, run.workers, pct(lat, 0.5).Round(time.Microsecond), pct(lat, 0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond),
				float64(run.n)/took.Seconds())
		}
	})
}
