package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin and Asia/Shanghai without system zone files
)

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ms(s string) int64 { return utc(s).UnixMilli() }

func fmtAll(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.DateTime)
	}
	return out
}

func TestPlanOccurrences(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	created := utc("2026-01-01 00:00:00")
	loop := func(start, end string, circle int, values []int, at string) StrategyContent {
		return StrategyContent{StartTime: ms(start), EndTime: ms(end), CircleType: circle, CircleValue: values, Time: at}
	}
	for _, tc := range []struct {
		scenario  string
		typ       int
		sc        StrategyContent
		notBefore time.Time
		loc       *time.Location
		want      []string // UTC
	}{
		{"fixed time, truncated to the second", StrategyFixedTime, StrategyContent{FixedTime: ms("2026-03-01 08:00:00") + 999}, created, nil,
			[]string{"2026-03-01 08:00:00"}},
		{"fixed time before creation has no occurrence", StrategyFixedTime, StrategyContent{FixedTime: ms("2025-12-31 23:59:59")}, created, nil,
			nil},
		{"daily: from 00:00 of the start date to 24:00 of the end date", StrategyLoop,
			loop("2026-03-01 13:00:00", "2026-03-04 01:00:00", CircleDaily, nil, "09:45:11"), created, nil,
			[]string{"2026-03-01 09:45:11", "2026-03-02 09:45:11", "2026-03-03 09:45:11", "2026-03-04 09:45:11"}},
		{"daily at 00:00:00 includes the start date's first second", StrategyLoop,
			loop("2026-03-01 00:00:00", "2026-03-02 00:00:00", CircleDaily, nil, "00:00:00"), created, nil,
			[]string{"2026-03-01 00:00:00", "2026-03-02 00:00:00"}},
		{"daily at 23:59:59 includes the end date's last second", StrategyLoop,
			loop("2026-03-01 00:00:00", "2026-03-02 00:00:00", CircleDaily, nil, "23:59:59"), created, nil,
			[]string{"2026-03-01 23:59:59", "2026-03-02 23:59:59"}},
		{"daily ignores circleValue", StrategyLoop,
			loop("2026-03-01 00:00:00", "2026-03-02 00:00:00", CircleDaily, []int{1, 7}, "12:00:00"), created, nil,
			[]string{"2026-03-01 12:00:00", "2026-03-02 12:00:00"}},
		{"daily starts after creation on the start date", StrategyLoop,
			loop("2026-03-01 00:00:00", "2026-03-03 00:00:00", CircleDaily, nil, "09:00:00"), utc("2026-03-01 09:00:01"), nil,
			[]string{"2026-03-02 09:00:00", "2026-03-03 09:00:00"}},
		{"daily at the creation instant fires", StrategyLoop,
			loop("2026-03-01 00:00:00", "2026-03-01 00:00:00", CircleDaily, nil, "09:00:00"), utc("2026-03-01 09:00:00"), nil,
			[]string{"2026-03-01 09:00:00"}},
		{"weekly on Monday and Wednesday", StrategyLoop,
			loop("2026-03-01 00:00:00", "2026-03-15 00:00:00", CircleWeekly, []int{1, 3}, "08:30:00"), created, nil,
			[]string{"2026-03-02 08:30:00", "2026-03-04 08:30:00", "2026-03-09 08:30:00", "2026-03-11 08:30:00"}},
		{"weekly on Sunday is 7, window ends on a Sunday", StrategyLoop,
			loop("2026-03-02 00:00:00", "2026-03-15 00:00:00", CircleWeekly, []int{7}, "20:00:00"), created, nil,
			[]string{"2026-03-08 20:00:00", "2026-03-15 20:00:00"}},
		{"monthly on the 31st skips months without it", StrategyLoop,
			loop("2026-01-01 00:00:00", "2026-06-30 00:00:00", CircleMonthly, []int{31}, "10:00:00"), created, nil,
			[]string{"2026-01-31 10:00:00", "2026-03-31 10:00:00", "2026-05-31 10:00:00"}},
		{"monthly on 1, 15 and 30: February has no 30th", StrategyLoop,
			loop("2026-01-20 00:00:00", "2026-03-01 00:00:00", CircleMonthly, []int{30, 1, 15, 15}, "06:00:00"), created, nil,
			[]string{"2026-01-30 06:00:00", "2026-02-01 06:00:00", "2026-02-15 06:00:00", "2026-03-01 06:00:00"}},
		{"monthly on the 29th in a leap year", StrategyLoop,
			loop("2028-02-01 00:00:00", "2028-03-31 00:00:00", CircleMonthly, []int{29}, "06:00:00"), created, nil,
			[]string{"2028-02-29 06:00:00", "2028-03-29 06:00:00"}},
		{"UTC ignores daylight saving: same UTC time across the EU change", StrategyLoop,
			loop("2026-03-28 00:00:00", "2026-03-30 00:00:00", CircleDaily, nil, "09:00:00"), created, nil,
			[]string{"2026-03-28 09:00:00", "2026-03-29 09:00:00", "2026-03-30 09:00:00"}},
		{"a zone with daylight saving keeps the wall-clock time", StrategyLoop,
			loop("2026-03-28 00:00:00", "2026-03-30 00:00:00", CircleDaily, nil, "09:00:00"), created, berlin,
			[]string{"2026-03-28 08:00:00", "2026-03-29 07:00:00", "2026-03-30 07:00:00"}},
		{"the window's dates are taken in the zone", StrategyLoop,
			// 2026-03-01 23:30 UTC is already 2 March in Berlin.
			loop("2026-03-01 23:30:00", "2026-03-02 23:30:00", CircleDaily, nil, "00:30:00"), created, berlin,
			[]string{"2026-03-01 23:30:00", "2026-03-02 23:30:00"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p, err := NewPlan(tc.typ, tc.sc, tc.notBefore, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			got := fmtAll(p.All())
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("occurrences = %v, want %v", got, tc.want)
			}
			// Next from just before each occurrence finds it again.
			for _, w := range tc.want {
				n, ok := p.Next(utc(w).Add(-time.Second))
				if !ok || n.UTC().Format(time.DateTime) != w {
					t.Errorf("Next(%s - 1s) = %v %v, want %s", w, n, ok, w)
				}
			}
		})
	}
}

func TestValidateStrategy(t *testing.T) {
	now := utc("2026-03-10 12:00:00")
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	loop := func(mut func(*StrategyContent)) *StrategyContent {
		sc := &StrategyContent{StartTime: ms("2026-03-10 00:00:00"), EndTime: ms("2026-04-10 00:00:00"), CircleType: CircleWeekly, CircleValue: []int{1, 5}, Time: "09:45:11"}
		if mut != nil {
			mut(sc)
		}
		return sc
	}
	for _, tc := range []struct {
		scenario string
		typ      int
		sc       *StrategyContent
		loc      *time.Location
		wantErr  string // "" means valid
	}{
		{"immediate ignores content", StrategyImmediate, &StrategyContent{FixedTime: 1}, nil, ""},
		{"unknown strategyType", 3, loop(nil), nil, "strategyType 3 is not 0"},
		{"scheduled without content", StrategyFixedTime, nil, nil, "StrategyContent is required when strategyType is 1"},
		{"loop without content", StrategyLoop, nil, nil, "StrategyContent is required when strategyType is 2"},
		{"scheduled without fixedTime", StrategyFixedTime, &StrategyContent{StartTime: 1}, nil, "fixedTime is required"},
		{"scheduled in the future", StrategyFixedTime, &StrategyContent{FixedTime: ms("2026-03-10 12:00:01")}, nil, ""},
		{"scheduled now, to the second", StrategyFixedTime, &StrategyContent{FixedTime: ms("2026-03-10 12:00:00")}, nil, ""},
		{"scheduled in the past", StrategyFixedTime, &StrategyContent{FixedTime: ms("2026-03-10 11:59:59")}, nil, "is in the past"},
		{"loop valid", StrategyLoop, loop(nil), nil, ""},
		{"loop without startTime", StrategyLoop, loop(func(s *StrategyContent) { s.StartTime = 0 }), nil, "startTime is required"},
		{"loop without endTime", StrategyLoop, loop(func(s *StrategyContent) { s.EndTime = 0 }), nil, "endTime is required"},
		{"loop without circleType", StrategyLoop, loop(func(s *StrategyContent) { s.CircleType = 0 }), nil, "circleType is required"},
		{"loop without time", StrategyLoop, loop(func(s *StrategyContent) { s.Time = "" }), nil, "time is required"},
		{"loop with a bad circleType", StrategyLoop, loop(func(s *StrategyContent) { s.CircleType = 4 }), nil, "circleType 4 is not 1"},
		{"loop time not HH:mm:ss", StrategyLoop, loop(func(s *StrategyContent) { s.Time = "9:45:11" }), nil, `time "9:45:11" is not`},
		{"loop time out of range", StrategyLoop, loop(func(s *StrategyContent) { s.Time = "24:00:00" }), nil, `time "24:00:00" is not`},
		{"weekly without circleValue", StrategyLoop, loop(func(s *StrategyContent) { s.CircleValue = nil }), nil, "circleValue is required for circleType 2"},
		{"weekly with day 8", StrategyLoop, loop(func(s *StrategyContent) { s.CircleValue = []int{8} }), nil, "circleValue 8 is out of range"},
		{"monthly without circleValue", StrategyLoop, loop(func(s *StrategyContent) { s.CircleType, s.CircleValue = CircleMonthly, nil }), nil, "circleValue is required for circleType 3"},
		{"monthly with day 32", StrategyLoop, loop(func(s *StrategyContent) { s.CircleType, s.CircleValue = CircleMonthly, []int{32} }), nil, "circleValue 32 is out of range"},
		{"monthly with day 0", StrategyLoop, loop(func(s *StrategyContent) { s.CircleType, s.CircleValue = CircleMonthly, []int{0} }), nil, "circleValue 0 is out of range"},
		{"daily without circleValue", StrategyLoop, loop(func(s *StrategyContent) { s.CircleType, s.CircleValue = CircleDaily, nil }), nil, ""},
		{"start at 00:00 today", StrategyLoop, loop(func(s *StrategyContent) { s.StartTime = ms("2026-03-10 00:00:00") }), nil, ""},
		{"start yesterday", StrategyLoop, loop(func(s *StrategyContent) { s.StartTime = ms("2026-03-09 23:59:59") }), nil, "before 00:00 of the current day (2026-03-10)"},
		{"start yesterday in UTC is today in Shanghai", StrategyLoop, loop(func(s *StrategyContent) { s.StartTime = ms("2026-03-09 17:00:00") }), shanghai, ""},
		{"end before start", StrategyLoop, loop(func(s *StrategyContent) {
			s.EndTime = ms("2026-03-11 00:00:00")
			s.StartTime = ms("2026-03-12 00:00:00")
		}), nil, "is before startTime"},
		{"end 180 days after today", StrategyLoop, loop(func(s *StrategyContent) { s.EndTime = ms("2026-09-06 23:00:00") }), nil, ""},
		{"end 181 days after today", StrategyLoop, loop(func(s *StrategyContent) { s.EndTime = ms("2026-09-07 00:00:00") }), nil, "more than 180 days after the current day: the loop may end on 2026-09-06"},
		{"loop with no day in its window", StrategyLoop, loop(func(s *StrategyContent) {
			s.StartTime, s.EndTime = ms("2026-03-10 00:00:00"), ms("2026-03-12 00:00:00") // Tue to Thu
		}), nil, "has no occurrence"},
		{"loop whose only occurrence passed today", StrategyLoop, loop(func(s *StrategyContent) {
			s.CircleType, s.EndTime, s.Time = CircleDaily, ms("2026-03-10 00:00:00"), "11:59:59"
		}), nil, "has no occurrence"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := ValidateStrategy(tc.typ, tc.sc, now, tc.loc)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != CodeInvalidParam {
				t.Fatalf("want *ValidationError 3028, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
		})
	}
}

func TestRequestValidateChecksStrategy(t *testing.T) {
	accepted := ms("2026-03-10 12:00:00")
	for _, tc := range []struct {
		scenario string
		mutate   func(r *Request)
		wantErr  string
	}{
		{"scheduled in the future", func(r *Request) {
			r.StrategyType, r.StrategyContent = StrategyFixedTime, &StrategyContent{FixedTime: accepted + 60_000}
		}, ""},
		{"scheduled before acceptance", func(r *Request) {
			r.StrategyType, r.StrategyContent = StrategyFixedTime, &StrategyContent{FixedTime: accepted - 60_000}
		}, "3028 INVALID_PARAM: StrategyContent.fixedTime"},
		{"loop without content", func(r *Request) { r.StrategyType = StrategyLoop }, "StrategyContent is required"},
		{"an occurrence is not checked again", func(r *Request) {
			r.StrategyType, r.StrategyContent, r.ScheduleID = StrategyFixedTime, &StrategyContent{FixedTime: accepted - 60_000}, "s1"
		}, ""},
		{"an occurrence with an unknown strategy", func(r *Request) { r.StrategyType, r.ScheduleID = 7, "s1" }, "strategyType 7"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := validSimple()
			r.AcceptedAt = accepted
			tc.mutate(r)
			err := r.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestScheduleIDIsStableAndDistinct(t *testing.T) {
	r := validSimple()
	r.StrategyType, r.StrategyContent = StrategyFixedTime, &StrategyContent{FixedTime: 1e12}
	a := NewScheduleID(r)
	if b := NewScheduleID(r); a != b || len(a) != 25 || a[0] != 's' {
		t.Fatalf("ids %q and %q: want the same 25-character id starting with s", a, b)
	}
	r2 := *r
	r2.StrategyContent = &StrategyContent{FixedTime: 2e12}
	if NewScheduleID(&r2) == a {
		t.Fatal("another fixedTime gives the same schedule id")
	}
	r3 := *r
	r3.TaskName = "other"
	if NewScheduleID(&r3) == a {
		t.Fatal("another task gives the same schedule id")
	}
}

func TestScheduleMergeIsOrderIndependent(t *testing.T) {
	req := validSimple()
	created := NewSchedule(req, 1000)
	admitted := Schedule{ScheduleID: created.ScheduleID, Admitted: true, TimeZone: "UTC", UpdatedAt: 2000}
	fired := Schedule{ScheduleID: created.ScheduleID, Through: 5000, Missed: []int64{4000}, Firing: &Firing{Occurrence: 5000}, UpdatedAt: 5000}
	firing := Schedule{ScheduleID: created.ScheduleID, Through: 5000, Firing: &Firing{Occurrence: 6000, Partition: 1, Offset: 7}, UpdatedAt: 5500}
	cancelled := created
	cancelled.Cancelled, cancelled.CancelledAt, cancelled.Skipped = true, 3000, []int64{9000}
	parts := []Schedule{created, admitted, fired, firing, cancelled}

	want := Schedule{}
	for _, p := range parts {
		want = want.Merge(p)
	}
	if !want.Admitted || !want.Cancelled || want.CancelledAt != 3000 || want.Through != 5000 || want.Request == nil ||
		want.Firing == nil || want.Firing.Occurrence != 6000 || !slices.Equal(want.Missed, []int64{4000}) || !slices.Equal(want.Skipped, []int64{9000}) {
		t.Fatalf("merged state is wrong: %+v", want)
	}
	// Every order and every regrouping gives the same state.
	for i := range parts {
		got := Schedule{}
		for j := range parts {
			got = got.Merge(parts[(i+j)%len(parts)])
		}
		if !got.SameState(want) {
			t.Errorf("order %d: %+v, want %+v", i, got, want)
		}
		if again := got.Merge(got); !again.SameState(got) {
			t.Errorf("merging a state with itself changed it")
		}
	}
	rev := Schedule{}
	for i := len(parts) - 1; i >= 0; i-- {
		rev = parts[i].Merge(rev)
	}
	if !rev.SameState(want) {
		t.Errorf("reverse merge: %+v, want %+v", rev, want)
	}
	// A firing that Through reached is dropped.
	done := want.Merge(Schedule{Through: 6000})
	if done.Firing != nil {
		t.Errorf("Firing %+v kept after Through reached it", done.Firing)
	}
	// The record survives JSON.
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSchedule(b)
	if err != nil || !back.SameState(want) || !reflect.DeepEqual(back.Request, want.Request) {
		t.Fatalf("JSON round trip: %v\n%+v\n%+v", err, back, want)
	}
}

func TestOccurrenceRequest(t *testing.T) {
	for _, tc := range []struct {
		scenario    string
		typ         int
		sc          StrategyContent
		at          string
		wantMsgKey  string
		wantTaskSfx string
	}{
		{"scheduled keeps its msgKeys", StrategyFixedTime, StrategyContent{FixedTime: ms("2026-03-10 09:00:00")}, "2026-03-10 09:00:00", "k1", "-20260310090000"},
		{"a loop occurrence is a message of its own", StrategyLoop,
			StrategyContent{StartTime: ms("2026-03-10 00:00:00"), EndTime: ms("2026-03-12 00:00:00"), CircleType: CircleDaily, Time: "09:00:00"},
			"2026-03-11 09:00:00", "k1-20260311090000", "-20260311090000"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := validSimple()
			r.StrategyType, r.StrategyContent = tc.typ, &tc.sc
			s := NewSchedule(r, ms("2026-03-10 00:00:00"))
			occ := s.OccurrenceRequest(utc(tc.at), time.UTC)
			if occ.TargetMsgkey["dev-1"] != tc.wantMsgKey {
				t.Errorf("msgKey = %q, want %q", occ.TargetMsgkey["dev-1"], tc.wantMsgKey)
			}
			if occ.TaskID != s.ScheduleID+tc.wantTaskSfx || occ.ScheduleID != s.ScheduleID || occ.AcceptedAt != ms(tc.at) {
				t.Errorf("occurrence ids: task %q schedule %q accepted %d", occ.TaskID, occ.ScheduleID, occ.AcceptedAt)
			}
			if occ.StrategyType != StrategyImmediate || occ.StrategyContent != nil || occ.IsScheduled() {
				t.Errorf("occurrence still carries its strategy: %d %+v", occ.StrategyType, occ.StrategyContent)
			}
			if err := occ.Validate(); err != nil {
				t.Errorf("occurrence request is invalid: %v", err)
			}
			if s.Request.TargetMsgkey["dev-1"] != "k1" {
				t.Errorf("building an occurrence changed the schedule's request")
			}
			id, stamp, ok := ParseOccurrenceID(occ.TaskID)
			if !ok || id != s.ScheduleID {
				t.Fatalf("ParseOccurrenceID(%q) = %q %q %v", occ.TaskID, id, stamp, ok)
			}
			if at, err := OccurrenceTime(stamp, time.UTC); err != nil || !at.Equal(utc(tc.at)) {
				t.Errorf("OccurrenceTime(%q) = %v %v", stamp, at, err)
			}
		})
	}
	if _, _, ok := ParseOccurrenceID("s0123456789abcdef01234567"); ok {
		t.Error("a schedule id parses as an occurrence id")
	}
}

func TestScheduleTasksAndStatus(t *testing.T) {
	r := validSimple()
	r.StrategyType = StrategyLoop
	r.StrategyContent = &StrategyContent{StartTime: ms("2026-03-01 00:00:00"), EndTime: ms("2026-03-06 00:00:00"), CircleType: CircleDaily, Time: "09:00:00"}
	s := NewSchedule(r, ms("2026-03-01 00:00:00"))
	p, err := s.Plan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(p); st != ScheduleWaiting {
		t.Fatalf("new schedule status %s, want waiting", st)
	}
	s.Admitted = true
	s.Through = ms("2026-03-02 09:00:00")
	s.Missed = []int64{ms("2026-03-01 09:00:00")}
	s.Skipped = []int64{ms("2026-03-03 09:00:00")}
	if st := s.Status(p); st != ScheduleActive || !s.Pending(p) {
		t.Fatalf("status %s, want active", st)
	}
	if next, _ := s.NextDue(p); !next.Equal(utc("2026-03-04 09:00:00")) {
		t.Fatalf("NextDue = %v, want the 4th (the 3rd is skipped)", next)
	}
	var got []string
	for _, task := range s.Tasks(p, 2) {
		got = append(got, task.UniqueID[len(s.ScheduleID)+1:]+" "+task.Status)
	}
	want := []string{"20260301090000 missed", "20260302090000 executed", "20260303090000 cancelled", "20260304090000 pending", "20260305090000 pending"}
	if !slices.Equal(got, want) {
		t.Fatalf("tasks = %v, want %v", got, want)
	}
	s.Through = ms("2026-03-06 09:00:00")
	if st := s.Status(p); st != ScheduleDone || s.Pending(p) {
		t.Fatalf("status %s, want done", st)
	}
	if at, ok := s.FinishedAt(p); !ok || !at.Equal(utc("2026-03-06 09:00:00")) {
		t.Fatalf("FinishedAt = %v %v", at, ok)
	}
}
