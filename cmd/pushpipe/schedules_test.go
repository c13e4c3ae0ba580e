package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func TestSchedulesCommandsAreListed(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scheduler", "schedules"} {
		if !strings.Contains(out.String(), "\n  "+name+" ") {
			t.Errorf("--help does not list %q", name)
		}
	}
}

// TestSchedulesListAndCancel lists a loop push from a real broker,
// cancels one occurrence and then the whole schedule.
func TestSchedulesListAndCancel(t *testing.T) {
	broker := testinfra.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, []string{broker}, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 2); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: []string{broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prod.Close() }()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	req := &schema.Request{Type: schema.PushSimple, Region: "sg", AppID: "app", WorkspaceID: "ws", TaskName: "daily",
		DeliverType: schema.DeliverAndroid, TargetMsgkey: schema.StringMap{"d1": "m1"}, Title: "T", Content: "C", ExpiredSeconds: 60,
		StrategyType: schema.StrategyLoop, StrategyContent: &schema.StrategyContent{StartTime: day.UnixMilli(), EndTime: day.AddDate(0, 0, 2).UnixMilli(),
			CircleType: schema.CircleDaily, Time: "09:00:00"}}
	s := schema.NewSchedule(req, time.Now().UnixMilli())
	b, _ := json.Marshal(s)
	if err := prod.Produce(ctx, []pipeline.Output{{Topic: pipeline.SchedulesTopic("sg"), Key: []byte(s.ScheduleID), Value: b}}); err != nil {
		t.Fatal(err)
	}
	second := schema.OccurrenceID(s.ScheduleID, day.AddDate(0, 0, 1).Add(9*time.Hour), time.UTC)

	run := func(args ...string) (string, error) {
		t.Helper()
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append(args, "--region", "sg", "--brokers", broker))
		err := root.Execute()
		return out.String(), err
	}
	list := func() []scheduleView {
		t.Helper()
		out, err := run("schedules", "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var vs []scheduleView
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		return vs
	}
	for _, tc := range []struct {
		scenario   string
		args       []string
		wantOut    string
		wantErr    string
		wantStatus string   // of the schedule afterwards
		wantTasks  []string // statuses of its occurrences afterwards
	}{
		{"list", []string{"schedules", "list"}, "waiting", "", schema.ScheduleWaiting, []string{"pending", "pending", "pending"}},
		{"list another app", []string{"schedules", "list", "--app", "other"}, "no scheduled pushes match", "", schema.ScheduleWaiting, nil},
		{"cancel one occurrence", []string{"schedules", "cancel", "--id", second}, "cancelled occurrence " + second, "", schema.ScheduleWaiting, []string{"pending", "cancelled", "pending"}},
		{"cancel an unknown id", []string{"schedules", "cancel", "--id", "s000000000000000000000000"}, "", "no such scheduled push task", schema.ScheduleWaiting, nil},
		{"cancel the schedule", []string{"schedules", "cancel", "--id", s.ScheduleID, "--app", "app"}, "cancelled schedule " + s.ScheduleID, "", schema.ScheduleCancelled, []string{"cancelled", "cancelled", "cancelled"}},
		{"cancel it again", []string{"schedules", "cancel", "--id", s.ScheduleID}, "was already cancelled", "", schema.ScheduleCancelled, nil},
		{"list one occurrence", []string{"schedules", "list", "--id", second}, second, "", schema.ScheduleCancelled, nil},
		{"bad status filter", []string{"schedules", "list", "--status", "late"}, "", `--status "late"`, schema.ScheduleCancelled, nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out, err := run(tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Fatalf("output does not contain %q:\n%s", tc.wantOut, out)
			}
			vs := list()
			if len(vs) != 1 || vs[0].ScheduleID != s.ScheduleID || vs[0].Status != tc.wantStatus {
				t.Fatalf("schedules = %+v, want %s %s", vs, s.ScheduleID, tc.wantStatus)
			}
			if tc.wantTasks != nil {
				var got []string
				for _, task := range vs[0].Tasks {
					got = append(got, task.Status)
				}
				if strings.Join(got, ",") != strings.Join(tc.wantTasks, ",") {
					t.Fatalf("occurrence statuses %v, want %v", got, tc.wantTasks)
				}
			}
		})
	}
}
