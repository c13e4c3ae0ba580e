package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestStatsByAppVersionMatchTheSimulatedReceipts broadcasts one task to
// 600 Android devices reporting two app versions — 1.0 on MiPush, 2.0 on
// Huawei and FCM, 200 devices each — while the simulator posts receipts to
// the region's receipts worker (90% of the messages arrive, 30% of the
// arrivals are opened and half of the rest ignored). Ten MiPush and ten
// Huawei devices have a token the vendor called dead, so they get no
// delivery. Once every receipt the simulator decided on was acknowledged,
// the statistics per version (Go API over the task's minutes and over 90
// days, the task list and the gateway's /v1/stats) count as pushed every
// device of the version, as succeeded its live devices, and exactly the
// arrivals, opens and ignores the simulator acknowledged for the vendors
// that version's devices use; both versions, and no filter, give the
// sums; a version no device reported gives zeros.
func TestStatsByAppVersionMatchTheSimulatedReceipts(t *testing.T) {
	const perVendor, deadPerVendor = 200, 10
	e := newStatsEnv(t)
	ctx := context.Background()

	// Each version's devices use vendors of their own, so that the
	// simulator's per-vendor receipt counters are per-version counters.
	versionVendors := map[string][]string{"1.0": {"mipush"}, "2.0": {"hms", "fcm"}}
	var devs, dead []schema.Binding
	for _, version := range []string{"1.0", "2.0"} {
		for _, vendor := range versionVendors[version] {
			for i := range perVendor {
				id := fmt.Sprintf("sv-%s-%03d", vendor, i)
				d := schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, WorkspaceID: "default", DeviceID: id,
					Platform: schema.PlatformAndroid, Vendor: vendor, VendorToken: "token-" + id, AppVersion: version, Model: "Pixel"}
				devs = append(devs, d)
				if vendor != "fcm" && i < deadPerVendor {
					dead = append(dead, d)
				}
			}
		}
	}
	e.registerDevices("sg", devs...)
	var outs []pipeline.Output
	deadIDs := make([]string, len(dead))
	for i, d := range dead {
		d.Op, d.TS = schema.OpInvalidate, time.Now().UnixMilli()
		outs, deadIDs[i] = append(outs, jsonOut(pipeline.BindingsTopic("sg"), d.DeviceID, d)), d.DeviceID
	}
	e.publish(outs...)
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("the dead tokens marked", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(ctx, testApp, deadIDs)
		n := 0
		for _, d := range got {
			if !d.TokenValid {
				n++
			}
		}
		return err == nil && n == len(dead), fmt.Sprintf("%d of %d marked, err %v", n, len(dead), err)
	})

	const task = "task-stats-version"
	live := uint64(len(devs) - len(dead))
	start := time.Now().Truncate(time.Minute)
	e.broadcastNews(task)
	e.waitFor("every live device acked", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["acked"] == live && got["invalid_device"] == uint64(len(dead)), fmt.Sprint(got)
	})

	e.flushSimReceipts()
	// What the simulator acknowledged, per version.
	rs := e.sim.ReceiptStats()
	type figures struct{ pushed, succeeded, arrived, opened, ignored uint64 }
	want := map[string]figures{}
	var all figures
	for version, vendors := range versionVendors {
		var f figures
		for _, vendor := range vendors {
			c := rs.App(vendor, "sg", testApp)
			requireReceiptsAcked(t, "simulator "+vendor, c)
			f.arrived, f.opened, f.ignored = f.arrived+uint64(c.Arrivals.Acked), f.opened+uint64(c.Opens.Acked), f.ignored+uint64(c.Ignores.Acked)
			f.pushed += perVendor
			f.succeeded += perVendor
			if vendor != "fcm" {
				f.succeeded -= deadPerVendor
			}
		}
		want[version] = f
		all = figures{all.pushed + f.pushed, all.succeeded + f.succeeded, all.arrived + f.arrived, all.opened + f.opened, all.ignored + f.ignored}
		t.Logf("version %s: simulator acked %d arrivals, %d opens, %d ignores of %d live devices", version, f.arrived, f.opened, f.ignored, f.succeeded)
	}
	e.waitFor("every receipt in ClickHouse", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["arrived"] == all.arrived && got["opened"] == all.opened && got["ignored"] == all.ignored, fmt.Sprint(got)
	})

	point := func(f figures) schema.StatsPoint {
		ratio := func(a, b uint64) float64 {
			if b == 0 {
				return 0
			}
			return float64(a) / float64(b)
		}
		return schema.StatsPoint{Pushed: f.pushed, Succeeded: f.succeeded, Arrived: f.arrived, Opened: f.opened, Ignored: f.ignored,
			ArrivalRate: ratio(f.arrived, f.pushed), OpenRate: ratio(f.opened, f.arrived), IgnoreRate: ratio(f.ignored, f.arrived)}
	}
	end := time.Now().Add(time.Minute)
	c := e.startGateway("sg")
	for _, tc := range []struct {
		scenario string
		versions []string
		want     figures
	}{
		{"version 1.0", []string{"1.0"}, want["1.0"]},
		{"version 2.0", []string{"2.0"}, want["2.0"]},
		{"both versions", []string{"1.0", "2.0"}, all},
		{"every version", nil, all},
		{"a version no device reported", []string{"9.9"}, figures{}},
	} {
		wantPoint := point(tc.want)
		t.Run(tc.scenario, func(t *testing.T) {
			for _, q := range []schema.StatsQuery{
				{AppID: testApp, From: start, To: end, Granularity: schema.GranularityMinute, TaskID: task, AppVersions: tc.versions},
				{AppID: testApp, From: end.Add(-schema.MaxStatsRange), To: end, Granularity: schema.GranularityDay, AppVersions: tc.versions},
			} {
				res, err := store.QueryStats(ctx, e.conn, e.db("sg"), q)
				if err != nil {
					t.Fatal(err)
				}
				got := res.Total
				got.Time = wantPoint.Time
				if got != wantPoint {
					t.Fatalf("%s statistics: total %+v\nwant %+v", q.Granularity, got, wantPoint)
				}
			}
			tasks, err := store.ListTasks(ctx, e.conn, e.db("sg"), schema.TaskQuery{AppID: testApp, From: start, To: end, AppVersions: tc.versions, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == (figures{}) {
				if len(tasks) != 0 {
					t.Fatalf("tasks %+v, want none", tasks)
				}
			} else if len(tasks) != 1 || tasks[0].TaskID != task || tasks[0].PushNum != tc.want.pushed || tasks[0].PushSuccessNum != tc.want.succeeded ||
				tasks[0].PushArrivalNum != tc.want.arrived {
				t.Fatalf("tasks %+v, want %s with %+v", tasks, task, tc.want)
			}
			body := map[string]any{"appId": testApp, "workspaceId": "default", "granularity": "day",
				"startTime": end.Add(-schema.MaxStatsRange).UnixMilli(), "endTime": end.UnixMilli()}
			if tc.versions != nil {
				body["appVersion"] = strings.Join(tc.versions, ",")
			}
			var gs gateway.Stats
			if err := c.Query(ctx, "/v1/stats", body, &gs); err != nil {
				t.Fatal(err)
			}
			if gs.PushTotalNum != wantPoint.Pushed || gs.PushNum != wantPoint.Succeeded || gs.ArrivalNum != wantPoint.Arrived ||
				gs.OpenNum != wantPoint.Opened || gs.IgnoreNum != wantPoint.Ignored || gs.ArrivalRate != wantPoint.ArrivalRate ||
				gs.OpenRate != wantPoint.OpenRate || gs.IgnoreRate != wantPoint.IgnoreRate {
				t.Fatalf("gateway stats %+v\nwant %+v", gs, wantPoint)
			}
		})
	}
}
