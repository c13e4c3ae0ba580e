package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// versionedEvents are the events of two tasks to devices reporting app
// versions 1.0 and 2.0, with every kind of ending, at base (valid and
// invalid devices), base+1m (endings), base+70m.. (receipts):
//
//	task T, 1.0 on MiPush: 6 deliveries (4 acked, 1 failed, 1 expired),
//	  2 devices with a dead token, 1 filtered; 3 arrived, 1 opened, 1 ignored.
//	task T, 2.0 on Huawei: 4 deliveries (3 acked, 1 revoked, and a
//	  superseded second ending of an acked one), 1 device with a dead token;
//	  2 arrived, both opened.
//	task T, a user target without any device (no app version).
//	task U at base+5m, 2.0 on Huawei: 2 deliveries, both acked.
//
// So pushed (valid + invalid_device) is 8 for 1.0 and 7 for 2.0, 16 in
// all; succeeded (acked) 4 and 5, 9 in all.
func versionedEvents(base time.Time) []schema.Event {
	var evs []schema.Event
	at := func(min int) int64 { return base.Add(time.Duration(min) * time.Minute).UnixMilli() }
	delivery := func(task, version, channel string, i int) schema.Delivery {
		dev := fmt.Sprintf("%s-%s-%d", task, version, i)
		return schema.Delivery{DeliveryID: "d-" + dev, MsgID: task + "-m", TaskID: task, AppID: "app", Region: "sg", PushType: schema.PushBroadcast,
			Target: dev, DeviceID: dev, Platform: schema.PlatformAndroid, Channel: channel, AppVersion: version, Model: "Pixel"}
	}
	deviceEvent := func(task, version string, i int, t schema.EventType, code int64) schema.Event {
		dev := fmt.Sprintf("%s-%s-x%d", task, version, i)
		return schema.Event{EventID: schema.NewEventID(t, task, task+"-m", dev, dev), TS: at(0), Region: "sg", AppID: "app", TaskID: task, MsgID: task + "-m",
			PushType: schema.PushBroadcast, Target: dev, DeviceID: dev, Platform: schema.PlatformAndroid, Event: t, StatusCode: code, AppVersion: version}
	}
	type step struct {
		t   schema.EventType
		min int
	}
	lives := []struct {
		task, version, channel string
		steps                  [][]step
	}{
		{"T", "1.0", "mipush", [][]step{
			{{schema.EventValid, 0}, {schema.EventAcked, 1}, {schema.EventArrived, 70}, {schema.EventOpened, 71}},
			{{schema.EventValid, 0}, {schema.EventAcked, 1}, {schema.EventArrived, 70}, {schema.EventIgnored, 72}},
			{{schema.EventValid, 0}, {schema.EventAcked, 1}, {schema.EventArrived, 70}},
			{{schema.EventValid, 0}, {schema.EventAcked, 1}},
			{{schema.EventValid, 0}, {schema.EventFailed, 1}},
			{{schema.EventValid, 0}, {schema.EventExpired, 1}},
		}},
		{"T", "2.0", "hms", [][]step{
			{{schema.EventValid, 0}, {schema.EventAcked, 1}, {schema.EventArrived, 70}, {schema.EventOpened, 71}},
			{{schema.EventValid, 0}, {schema.EventAcked, 1}, {schema.EventArrived, 70}, {schema.EventOpened, 71}},
			{{schema.EventValid, 0}, {schema.EventAcked, 1}, {schema.EventSuperseded, 2}},
			{{schema.EventValid, 0}, {schema.EventRevoked, 1}},
		}},
		{"U", "2.0", "hms", [][]step{
			{{schema.EventValid, 5}, {schema.EventAcked, 6}},
			{{schema.EventValid, 5}, {schema.EventAcked, 6}},
		}},
	}
	for _, l := range lives {
		for i, steps := range l.steps {
			d := delivery(l.task, l.version, l.channel, i)
			evs = append(evs, d.EventFor(schema.EventPlanned, at(steps[0].min)))
			for _, s := range steps {
				e := d.EventFor(s.t, at(s.min))
				if s.t == schema.EventSuperseded {
					e.EventID = schema.NewEventID(s.t, d.DeliveryID, "late expiry")
				}
				evs = append(evs, e)
			}
		}
	}
	evs = append(evs,
		deviceEvent("T", "1.0", 0, schema.EventInvalidDevice, schema.StatusBadDeviceToken),
		deviceEvent("T", "1.0", 1, schema.EventInvalidDevice, schema.StatusBadDeviceToken),
		deviceEvent("T", "1.0", 2, schema.EventFiltered, int64(schema.CodeInvalidParam)),
		deviceEvent("T", "2.0", 0, schema.EventInvalidDevice, schema.StatusBadDeviceToken),
		// A user target without a device: no platform, channel or version.
		schema.Event{EventID: schema.NewEventID(schema.EventInvalidDevice, "T", "T-m", "user-without-device"), TS: at(0), Region: "sg", AppID: "app",
			TaskID: "T", MsgID: "T-m", PushType: schema.PushBroadcast, Target: "user-without-device", Event: schema.EventInvalidDevice, StatusCode: schema.StatusNoBindInfo},
	)
	for _, a := range []struct {
		task, name string
		min        int
	}{{"T", "Spring sale", 0}, {"U", "Order shipped", 5}} {
		evs = append(evs, schema.Event{EventID: schema.NewEventID(schema.EventAccepted, a.task), TS: at(a.min), Region: "sg", AppID: "app",
			TaskID: a.task, PushType: schema.PushBroadcast, Event: schema.EventAccepted, TaskName: a.name})
	}
	return evs
}

// recordingConn remembers the queries run through it.
type recordingConn struct {
	driver.Conn
	queries []recordedQuery
}

type recordedQuery struct {
	sql  string
	args []any
}

func (c *recordingConn) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	c.queries = append(c.queries, recordedQuery{sql, args})
	return c.Conn.Query(ctx, sql, args...)
}

// TestStatsByAppVersion stores the events of versionedEvents, then again
// (a replay), and after each round reads every figure per app version, for
// both versions at once, for a version no device reported and without the
// filter, from the per-minute aggregates (90 days by day, one day by hour),
// and the task list per version.
func TestStatsByAppVersion(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	evs := versionedEvents(base)
	pt := func(pushed, succeeded, arrived, opened, ignored uint64) schema.StatsPoint {
		return schema.StatsPoint{Pushed: pushed, Succeeded: succeeded, Arrived: arrived, Opened: opened, Ignored: ignored}
	}
	statsCases := []struct {
		scenario string
		versions []string
		channel  string
		want     schema.StatsPoint
	}{
		{"version 1.0", []string{"1.0"}, "", pt(8, 4, 3, 1, 1)},
		{"version 2.0", []string{"2.0"}, "", pt(7, 5, 2, 2, 0)},
		{"both versions", []string{"1.0", "2.0"}, "", pt(15, 9, 5, 3, 1)},
		{"every version (and the target without a device)", nil, "", pt(16, 9, 5, 3, 1)},
		{"a version no device reported", []string{"9.9"}, "", pt(0, 0, 0, 0, 0)},
		{"version 1.0 on MiPush (invalid devices have no channel)", []string{"1.0"}, "mipush", pt(6, 4, 3, 1, 1)},
		{"version 1.0 on Huawei", []string{"1.0"}, "hms", pt(0, 0, 0, 0, 0)},
	}
	for round := 1; round <= 2; round++ { // the second round is a replay
		if err := store.InsertEvents(ctx, conn, db, evs); err != nil {
			t.Fatal(err)
		}
		for _, tc := range statsCases {
			for _, r := range []struct {
				granularity string
				from, to    time.Time
			}{
				{schema.GranularityDay, base.Add(-89 * 24 * time.Hour), base.Add(24 * time.Hour)},
				{schema.GranularityHour, base.Add(-time.Hour), base.Add(23 * time.Hour)},
			} {
				t.Run(fmt.Sprintf("round %d %s by %s", round, tc.scenario, r.granularity), func(t *testing.T) {
					rc := &recordingConn{Conn: conn}
					res, err := store.QueryStats(ctx, rc, db, schema.StatsQuery{AppID: "app", From: r.from, To: r.to, Granularity: r.granularity,
						Channel: tc.channel, AppVersions: tc.versions})
					if err != nil {
						t.Fatal(err)
					}
					want := tc.want
					ratio := func(a, b uint64) float64 {
						if b == 0 {
							return 0
						}
						return float64(a) / float64(b)
					}
					want.ArrivalRate, want.OpenRate, want.IgnoreRate = ratio(want.Arrived, want.Pushed), ratio(want.Opened, want.Arrived), ratio(want.Ignored, want.Arrived)
					if res.Total != want {
						t.Fatalf("total %+v\nwant  %+v", res.Total, want)
					}
					var sum schema.StatsPoint
					for _, p := range res.Series {
						sum.Pushed, sum.Succeeded, sum.Arrived, sum.Opened, sum.Ignored = sum.Pushed+p.Pushed, sum.Succeeded+p.Succeeded,
							sum.Arrived+p.Arrived, sum.Opened+p.Opened, sum.Ignored+p.Ignored
					}
					if sum != pt(want.Pushed, want.Succeeded, want.Arrived, want.Opened, want.Ignored) {
						t.Fatalf("the series adds up to %+v, want the total %+v", sum, want)
					}
					if r.granularity == schema.GranularityHour && want.Arrived > 0 && len(res.Series) != 2 {
						t.Fatalf("hour series %+v, want the push hour and the receipts hour", res.Series)
					}
					if len(rc.queries) != 1 {
						t.Fatalf("QueryStats ran %d queries, want 1", len(rc.queries))
					}
					readsOnly(t, conn, rc.queries[0], db+".events_minute")
				})
			}
		}
		for _, tc := range []struct {
			scenario string
			versions []string
			want     []schema.TaskSummary // TaskID, PushNum, PushSuccessNum, PushArrivalNum
		}{
			{"version 1.0", []string{"1.0"}, []schema.TaskSummary{{TaskID: "T", PushNum: 8, PushSuccessNum: 4, PushArrivalNum: 3}}},
			{"version 2.0", []string{"2.0"}, []schema.TaskSummary{{TaskID: "U", PushNum: 2, PushSuccessNum: 2}, {TaskID: "T", PushNum: 5, PushSuccessNum: 3, PushArrivalNum: 2}}},
			{"both versions", []string{"2.0", "1.0"}, []schema.TaskSummary{{TaskID: "U", PushNum: 2, PushSuccessNum: 2}, {TaskID: "T", PushNum: 13, PushSuccessNum: 7, PushArrivalNum: 5}}},
			{"every version", nil, []schema.TaskSummary{{TaskID: "U", PushNum: 2, PushSuccessNum: 2}, {TaskID: "T", PushNum: 14, PushSuccessNum: 7, PushArrivalNum: 5}}},
			{"a version no device reported", []string{"9.9"}, nil},
		} {
			t.Run(fmt.Sprintf("round %d tasks of %s", round, tc.scenario), func(t *testing.T) {
				got, err := store.ListTasks(ctx, conn, db, schema.TaskQuery{AppID: "app", From: base.Add(-time.Hour), To: base.Add(20 * time.Hour),
					AppVersions: tc.versions, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("tasks %+v, want %+v", got, tc.want)
				}
				for i, w := range tc.want {
					g := got[i]
					if g.TaskID != w.TaskID || g.PushNum != w.PushNum || g.PushSuccessNum != w.PushSuccessNum || g.PushArrivalNum != w.PushArrivalNum {
						t.Fatalf("task %d: %+v, want %+v", i, g, w)
					}
				}
				// The name and the span stay the task's own, whatever the
				// versions counted.
				if i := slices.IndexFunc(got, func(s schema.TaskSummary) bool { return s.TaskID == "T" }); i >= 0 &&
					(got[i].TaskName != "Spring sale" || got[i].Duration != 72*time.Minute) {
					t.Fatalf("task T: %+v, want its name and its 72 minutes", got[i])
				}
			})
		}
	}
}

// readsOnly explains q and fails unless the only table it reads is table.
func readsOnly(t *testing.T, conn driver.Conn, q recordedQuery, table string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN "+q.sql, q.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var reads []string
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
		if _, after, ok := strings.Cut(line, "ReadFromMergeTree ("); ok {
			reads = append(reads, strings.TrimSuffix(strings.TrimSpace(after), ")"))
		}
	}
	if len(reads) != 1 || reads[0] != table {
		t.Fatalf("the query reads %v, want %s only; plan:\n%s", reads, table, strings.Join(plan, "\n"))
	}
}
