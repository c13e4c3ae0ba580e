package fanout

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func TestScheduledRequestsBecomeScheduleRecords(t *testing.T) {
	loop := map[string]any{"startTime": 1, "endTime": 2, "circleType": 1, "time": "09:00:00"}
	for _, tc := range []struct {
		scenario     string
		mutate       func(r map[string]any)
		wantCode     int   // rejection code; 0 = accepted
		wantSchedule bool  // a schedule record instead of deliveries
		wantCreated  int64 // schedule's CreatedAt
	}{
		{"scheduled push", func(r map[string]any) {
			r["strategyType"], r["StrategyContent"] = 1, map[string]any{"fixedTime": 60_000}
		}, 0, true, 1000},
		{"scheduled push with StrategyContent as a JSON string, as mPaaS sends it", func(r map[string]any) {
			r["strategyType"], r["StrategyContent"] = 1, `{"fixedTime":60000}`
		}, 0, true, 1000},
		{"loop push", func(r map[string]any) {
			// 1970-01-01 is "today" at acceptedAt 1000.
			r["strategyType"], r["StrategyContent"] = 2, loop
		}, 0, true, 1000},
		{"scheduled push in the past", func(r map[string]any) {
			r["strategyType"], r["StrategyContent"] = 1, map[string]any{"fixedTime": 500}
		}, int(schema.CodeInvalidParam), false, 0},
		{"without acceptedAt the record time is the acceptance time", func(r map[string]any) {
			delete(r, "acceptedAt")
			r["strategyType"], r["StrategyContent"] = 1, map[string]any{"fixedTime": 6000}
		}, 0, true, 5000},
		{"without acceptedAt a fixedTime before the record time is in the past", func(r map[string]any) {
			delete(r, "acceptedAt")
			r["strategyType"], r["StrategyContent"] = 1, map[string]any{"fixedTime": 4000}
		}, int(schema.CodeInvalidParam), false, 0},
		{"loop without circleType", func(r map[string]any) {
			r["strategyType"], r["StrategyContent"] = 2, map[string]any{"startTime": 1, "endTime": 2, "time": "09:00:00"}
		}, int(schema.CodeInvalidParam), false, 0},
		{"an occurrence is fanned out at once", func(r map[string]any) {
			r["scheduleId"], r["taskId"] = "s1", "s1-19700101000001"
		}, 0, false, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h := newHandler(t, devices(), nil, nil)
			m := request(tc.mutate)
			res, err := h.HandleBatch(context.Background(), []kafka.Message{m})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != 0 {
				if res[0].Reject == nil || res[0].Reject.Code != tc.wantCode {
					t.Fatalf("want rejection %d, got %+v", tc.wantCode, res[0])
				}
				return
			}
			if res[0].Reject != nil {
				t.Fatalf("unexpected rejection %+v", res[0].Reject)
			}
			if !tc.wantSchedule {
				s := summarize(t, res[0].Outputs)
				if len(s.deliveries) != 1 || s.deliveries[0].TaskID != "s1-19700101000001" {
					t.Fatalf("occurrence deliveries = %+v, want one for its task", s.deliveries)
				}
				return
			}
			outs := res[0].Outputs
			if len(outs) != 2 || outs[0].Topic != pipeline.SchedulesTopic("sg") || outs[1].Topic != pipeline.EventsTopic("sg") {
				t.Fatalf("outputs = %v, want a schedule record and an event", topics(outs))
			}
			sched, err := schema.DecodeSchedule(outs[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := schema.DecodeRequest(m.Value)
			if string(outs[0].Key) != sched.ScheduleID || sched.ScheduleID != schema.NewScheduleID(req) {
				t.Errorf("record keyed %q with id %q, want the schedule id %q", outs[0].Key, sched.ScheduleID, schema.NewScheduleID(req))
			}
			if sched.CreatedAt != tc.wantCreated || sched.Request == nil || sched.Request.AcceptedAt != tc.wantCreated || sched.AppID != "app" || sched.Region != "sg" {
				t.Errorf("schedule record = %+v", sched)
			}
			var ev schema.Event
			if err := json.Unmarshal(outs[1].Value, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Event != schema.EventAccepted || ev.TaskID != sched.ScheduleID || ev.StatusCode != int64(schema.CodeSuccess) {
				t.Errorf("event = %+v, want accepted for task %s", ev, sched.ScheduleID)
			}
			// A replay writes the same record and event again.
			again, _ := h.HandleBatch(context.Background(), []kafka.Message{m})
			for i := range outs {
				if string(outs[i].Value) != string(again[0].Outputs[i].Value) {
					t.Errorf("replay changed output %d:\n%s\n%s", i, outs[i].Value, again[0].Outputs[i].Value)
				}
			}
		})
	}
}

func topics(outs []pipeline.Output) []string {
	var ts []string
	for _, o := range outs {
		ts = append(ts, o.Topic)
	}
	return ts
}
