package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestStatsMatchTheSimulatedReceipts broadcasts one templated task to
// 1,000 Android devices (MiPush, Huawei and FCM, whose arrivals come as
// app SDK events) while the simulator posts receipts to the region's
// receipts worker: 90% of the messages arrive, 30% of the arrivals are
// opened and half of the rest ignored. Once every receipt the simulator
// decided on was acknowledged, the statistics of the task (Go API and the
// gateway's /v1/stats) count pushed 1,000 and exactly the arrivals, opens
// and ignores the simulator acknowledged, with the rates computed from
// them, and the funnel adds up.
func TestStatsMatchTheSimulatedReceipts(t *testing.T) {
	const devices = 1000
	e := newStatsEnv(t)
	ctx := context.Background()
	vendors := []string{"mipush", "hms", "fcm"}
	devs := make([]schema.Binding, devices)
	for i := range devs {
		id := fmt.Sprintf("st-%04d", i)
		devs[i] = schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, WorkspaceID: "default", DeviceID: id,
			Platform: schema.PlatformAndroid, Vendor: vendors[i%len(vendors)], VendorToken: "token-" + id, AppVersion: "2.0", Model: "Pixel"}
	}
	e.registerDevices("sg", devs...)

	const task = "task-stats"
	start := time.Now().Truncate(time.Minute)
	e.broadcastNews(task)
	e.waitFor("every device acked", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["acked"] == devices, fmt.Sprint(got)
	})

	e.flushSimReceipts()
	sim := e.sim.ReceiptStats().Total()
	requireReceiptsAcked(t, "simulator", sim)
	// 90% of 1,000 within five standard deviations: the rates reached
	// the simulator.
	if sim.Arrivals.Acked < 850 || sim.Arrivals.Acked > 950 {
		t.Fatalf("simulator acked %d arrivals of %d messages at arrival rate 0.9", sim.Arrivals.Acked, devices)
	}
	arrived, opened, ignored := uint64(sim.Arrivals.Acked), uint64(sim.Opens.Acked), uint64(sim.Ignores.Acked)
	t.Logf("simulator acked %d arrivals, %d opens, %d ignores of %d messages", arrived, opened, ignored, devices)
	e.waitFor("every receipt in ClickHouse", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["arrived"] == arrived && got["opened"] == opened && got["ignored"] == ignored, fmt.Sprint(got)
	})
	// One INSERT stores events and then their per-minute aggregates
	// (events_minute_mv), and is acknowledged after both: a reader can see
	// the last receipts in events an instant before their aggregates.
	e.waitFor("every receipt in the per-minute aggregates", time.Minute, func() (bool, string) {
		got, err := e.tryMinuteCounts("sg", "task_id = ?", task)
		if err != nil {
			return false, err.Error()
		}
		return got["arrived"] == arrived && got["opened"] == opened && got["ignored"] == ignored, fmt.Sprint(got)
	})

	want := schema.StatsPoint{Pushed: devices, Succeeded: devices, Arrived: arrived, Opened: opened, Ignored: ignored,
		ArrivalRate: float64(arrived) / devices, OpenRate: float64(opened) / float64(arrived), IgnoreRate: float64(ignored) / float64(arrived)}
	end := time.Now().Add(time.Minute)
	for _, g := range []string{schema.GranularityMinute, schema.GranularityHour} {
		t.Run("stats by "+g, func(t *testing.T) {
			res, err := store.QueryStats(ctx, e.conn, e.db("sg"), schema.StatsQuery{AppID: testApp, From: start, To: end, Granularity: g, TaskID: task})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Total
			got.Time = want.Time
			if got != want {
				t.Fatalf("total %+v\nwant  %+v", got, want)
			}
			var sum schema.StatsPoint
			for _, p := range res.Series {
				sum.Pushed, sum.Arrived, sum.Opened, sum.Ignored = sum.Pushed+p.Pushed, sum.Arrived+p.Arrived, sum.Opened+p.Opened, sum.Ignored+p.Ignored
			}
			if sum.Pushed != devices || sum.Arrived != arrived || sum.Opened != opened || sum.Ignored != ignored {
				t.Fatalf("series sum %+v, want the total %+v", sum, want)
			}
		})
	}
	t.Run("funnel", func(t *testing.T) {
		f, err := store.QueryFunnel(ctx, e.conn, e.db("sg"), testApp, task, "")
		if err != nil {
			t.Fatal(err)
		}
		if f.Planned != f.Valid+f.InvalidDevice+f.Filtered {
			t.Fatalf("funnel %+v: planned is not valid + invalid devices + filtered", f)
		}
		if want := (schema.Funnel{Planned: devices, Valid: devices, Acked: devices, Arrived: arrived, Opened: opened}); *f != want {
			t.Fatalf("funnel %+v, want %+v", *f, want)
		}
	})
	t.Run("gateway /v1/stats", func(t *testing.T) {
		c := e.startGateway("sg")
		var got gateway.Stats
		if err := c.Query(ctx, "/v1/stats", map[string]any{"appId": testApp, "workspaceId": "default", "granularity": "hour",
			"taskId": task, "startTime": start.UnixMilli(), "endTime": end.UnixMilli()}, &got); err != nil {
			t.Fatal(err)
		}
		if got.PushTotalNum != devices || got.PushNum != devices || got.ArrivalNum != arrived || got.OpenNum != opened || got.IgnoreNum != ignored ||
			got.ArrivalRate != want.ArrivalRate || got.OpenRate != want.OpenRate || got.IgnoreRate != want.IgnoreRate {
			t.Fatalf("gateway stats %+v, want %+v", got, want)
		}
	})
}

// newStatsEnv starts every worker of region sg with the simulator posting
// receipts to its receipts worker — 90% of the messages arrive, 30% of the
// arrivals are opened and half of the rest ignored — and stores the
// template "news" (content #text#) of testApp.
func newStatsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnvOpts(t, envOptions{simReceipts: &vendorsim.ReceiptsConfig{ArrivalRate: 0.9, OpenRate: 0.3, IgnoreRate: 0.5}}, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(context.Background(), schema.Template{AppID: testApp, Name: "news", Title: "News", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// broadcastNews publishes task: the template "news" broadcast to every
// Android device of testApp in sg, bound or not.
func (e *env) broadcastNews(task string) {
	e.t.Helper()
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, map[string]any{"type": "BROADCAST", "region": "sg", "appId": testApp,
		"workspaceId": "default", "taskId": task, "taskName": task, "deliverType": schema.DeliverAndroid, "msgkey": task + "-msg",
		"templateName": "news", "templateKeyValue": map[string]string{"text": "hello"}, "expiredSeconds": 3600,
		"pushStatus": schema.PushStatusAll, "bindPeriod": 4, "unBindPeriod": 4, "acceptedAt": time.Now().UnixMilli()}))
}

// flushSimReceipts returns once the simulator posted every receipt it
// decided on so far (acknowledged, given up or dropped: see
// requireReceiptsAcked), or fails the test after a minute.
func (e *env) flushSimReceipts() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.sim.FlushReceipts(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// requireReceiptsAcked fails the test unless the simulator's counters c
// (named what) decided on arrivals, opens and ignores and every receipt it
// decided on was acknowledged: none failed or dropped.
func requireReceiptsAcked(t *testing.T, what string, c vendorsim.ReceiptCounters) {
	t.Helper()
	for _, k := range []struct {
		name string
		c    vendorsim.ReceiptEventCounts
	}{{"arrivals", c.Arrivals}, {"opens", c.Opens}, {"ignores", c.Ignores}} {
		if k.c.Decided == 0 || k.c.Acked != k.c.Decided || k.c.Failed != 0 || k.c.Dropped != 0 {
			t.Fatalf("%s %s %+v: want every decided receipt acked", what, k.name, k.c)
		}
	}
}

// TestDeadTokenReceiptsInvalidateTokens pushes to a MiPush and a Huawei
// device, then posts the receipts saying their tokens are dead (MiPush
// type 16, Huawei status 5): each becomes a failed event and the registry
// marks the device's token invalid, as when a vendor's send API says so.
func TestDeadTokenReceiptsInvalidateTokens(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	rs := e.startReceipts("sg")
	mi := device("sg", "dt-mi", "regid-dt-mi")
	hms := device("sg", "dt-hms", "token-dt-hms")
	hms.Vendor = "hms"
	e.registerDevices("sg", mi, hms)
	const task = "task-dead-receipts"
	targets := map[string]string{"dt-mi": "msg-dt-mi", "dt-hms": "msg-dt-hms"}
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, simpleRequest("sg", task, targets)))
	e.waitFor("both pushes acked", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["acked"] == 2, fmt.Sprint(got)
	})

	client := &http.Client{Timeout: 10 * time.Second}
	for _, r := range []struct {
		scenario, vendor, contentType, body string
	}{
		{"mipush type 16", "mipush", ctForm,
			miPushForm(ourSample(sampleMiPushData, e.param("mipush", e.deliveryID("msg-dt-mi", "dt-mi")), []string{mi.VendorToken}, `"type": 1`, `"type": 16`))},
		{"huawei status 5", "hms", ctJSON,
			ourSample(sampleHMS, e.deliveryID("msg-dt-hms", "dt-hms"), []string{hms.VendorToken}, `"status": 0`, `"status": 5`)},
	} {
		if status, answer := e.postReceipt(t, client, rs.URL(), r.vendor, r.contentType, r.body); status != http.StatusOK {
			t.Fatalf("%s: receipt answered %d %s", r.scenario, status, answer)
		}
	}
	e.waitFor("the failed events", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ? AND event = 'failed' AND status_code IN (20301, 2009)", task)
		return got["failed"] == 2, fmt.Sprint(got)
	})
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("both tokens marked invalid", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(context.Background(), testApp, []string{"dt-mi", "dt-hms"})
		return err == nil && len(got) == 2 && !got["dt-mi"].TokenValid && !got["dt-hms"].TokenValid, fmt.Sprintf("%+v %v", got, err)
	})
}
