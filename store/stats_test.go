package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

// TestStatisticsFunnelAndTasks writes the events of two tasks (some of them
// twice, as a replay would), then reads statistics at each granularity,
// the funnel and the task list.
func TestStatisticsFunnelAndTasks(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	var evs []schema.Event
	add := func(task, channel string, minute int, t schema.EventType, n int) {
		for i := 0; i < n; i++ {
			d := schema.Delivery{DeliveryID: fmt.Sprintf("%s-d%d", task, i), MsgID: task + "-m", TaskID: task, AppID: "app",
				Region: "sg", PushType: schema.PushSimple, DeviceID: fmt.Sprintf("dev%d", i), Platform: "android", Channel: channel}
			evs = append(evs, d.EventFor(t, base.Add(time.Duration(minute)*time.Minute).UnixMilli()))
		}
	}
	// Task A on MiPush: 10 pushed, 9 acked, 8 arrived, 4 opened, 2 ignored.
	add("A", "mipush", 0, schema.EventPlanned, 11)
	add("A", "mipush", 0, schema.EventValid, 10)
	add("A", "mipush", 1, schema.EventAcked, 9)
	add("A", "mipush", 70, schema.EventArrived, 8)
	add("A", "mipush", 71, schema.EventOpened, 4)
	add("A", "mipush", 72, schema.EventIgnored, 2)
	// Task B on the self-built channel: 5 pushed and acked.
	add("B", "self", 5, schema.EventValid, 5)
	add("B", "self", 6, schema.EventAcked, 5)
	// Their accepted events carry the task names.
	for _, a := range []struct {
		task, name string
		minute     int
	}{{"A", "Spring sale", 0}, {"B", "Order shipped", 5}} {
		evs = append(evs, schema.Event{EventID: schema.NewEventID(schema.EventAccepted, a.task), TS: base.Add(time.Duration(a.minute) * time.Minute).UnixMilli(),
			Region: "sg", AppID: "app", TaskID: a.task, PushType: schema.PushSimple, Event: schema.EventAccepted, TaskName: a.name})
	}
	for i := range evs {
		if evs[i].TaskID == "B" && evs[i].Event == schema.EventAcked {
			evs[i].TS += 300 // 300ms into the second
		}
	}
	for round := 0; round < 2; round++ { // the second round is a replay
		if err := store.InsertEvents(ctx, conn, db, evs); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		scenario string
		q        schema.StatsQuery
		want     schema.StatsPoint
		points   int
	}{
		{"day, every channel", schema.StatsQuery{Granularity: "day"}, schema.StatsPoint{Pushed: 15, Succeeded: 14, Arrived: 8, Opened: 4, Ignored: 2}, -1},
		{"hour, mipush only", schema.StatsQuery{Granularity: "hour", Channel: "mipush"}, schema.StatsPoint{Pushed: 10, Succeeded: 9, Arrived: 8, Opened: 4, Ignored: 2}, 2},
		{"minute, task B", schema.StatsQuery{Granularity: "minute", TaskID: "B"}, schema.StatsPoint{Pushed: 5, Succeeded: 5}, 2},
		{"platform filter excludes all", schema.StatsQuery{Granularity: "hour", Platform: "ios"}, schema.StatsPoint{}, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			q := tc.q
			q.AppID, q.From, q.To = "app", base.Add(-time.Hour), base.Add(20*time.Hour)
			res, err := store.QueryStats(ctx, conn, db, q)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Total
			if got.Pushed != tc.want.Pushed || got.Succeeded != tc.want.Succeeded || got.Arrived != tc.want.Arrived || got.Opened != tc.want.Opened || got.Ignored != tc.want.Ignored {
				t.Fatalf("total = %+v, want %+v", got, tc.want)
			}
			if tc.points >= 0 && len(res.Series) != tc.points {
				t.Fatalf("series has %d points, want %d: %+v", len(res.Series), tc.points, res.Series)
			}
			if tc.want.Pushed > 0 && got.ArrivalRate != float64(tc.want.Arrived)/float64(tc.want.Pushed) {
				t.Fatalf("arrival rate %v", got.ArrivalRate)
			}
		})
	}
	f, err := store.QueryFunnel(ctx, conn, db, "app", "A", "")
	if err != nil {
		t.Fatal(err)
	}
	if *f != (schema.Funnel{Planned: 11, Valid: 10, Acked: 9, Arrived: 8, Opened: 4}) {
		t.Fatalf("funnel = %+v", *f)
	}
	span := schema.TaskQuery{AppID: "app", From: base.Add(-time.Hour), To: base.Add(20 * time.Hour), Limit: 10}
	tasks, err := store.ListTasks(ctx, conn, db, span)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].TaskID != "B" || tasks[0].TaskName != "Order shipped" || tasks[1].TaskName != "Spring sale" ||
		tasks[1].PushNum != 10 || tasks[1].PushSuccessNum != 9 || tasks[1].PushArrivalNum != 8 || tasks[1].Duration != 72*time.Minute {
		t.Fatalf("tasks = %+v", tasks)
	}
	for _, tc := range []struct {
		scenario, name string
		want           []string
	}{
		{"by exact name", "Spring sale", []string{"A"}},
		{"a name no task has", "Spring", nil},
	} {
		q := span
		q.TaskName = tc.name
		got, err := store.ListTasks(ctx, conn, db, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.TaskID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Fatalf("%s: tasks %v, want %v", tc.scenario, ids, tc.want)
		}
	}
	// The range bounds keep their milliseconds: an event 300ms into a
	// second is inside a range ending 1ms after it.
	last := tasks[0].End
	if got, err := store.ListTasks(ctx, conn, db, schema.TaskQuery{AppID: "app", From: base.Add(-time.Hour), To: last.Add(time.Millisecond), TaskID: "B", Limit: 10}); err != nil || len(got) != 1 || got[0].PushSuccessNum != 5 {
		t.Fatalf("tasks up to 1ms after the last event of B = %+v, %v; want task B with its 5 acked", got, err)
	}
	if got, err := store.ListTasks(ctx, conn, db, schema.TaskQuery{AppID: "app", From: base.Add(-time.Hour), To: last, TaskID: "B", Limit: 10}); err != nil || len(got) != 1 || got[0].PushSuccessNum != 0 {
		t.Fatalf("tasks before the last event of B = %+v, %v; want B without its acked events", got, err)
	}
}
