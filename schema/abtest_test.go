package schema

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func abRequest(n int, mod func(*Request)) *Request {
	t := StringMap{}
	for i := range n {
		t[fmt.Sprintf("dev-%03d", i)] = fmt.Sprintf("msg-%03d", i)
	}
	r := &Request{Type: PushSimple, Region: "sg", AppID: "app", WorkspaceID: "default", TaskName: "ab", DeliverType: DeliverAndroid,
		ExpiredSeconds: 300, TargetMsgkey: t, ABTest: &ABTest{SamplePercent: 10, Metric: ABMetricOpenRate, DecisionSeconds: 30,
			Variants: []ABVariant{{"Title A", "Content A"}, {"Title B", "Content B"}, {"Title C", "Content C"}}}}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestABTestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		mod  func(*Request)
		code ResultCode
		msg  string
	}{
		{"valid", 300, nil, 0, ""},
		{"one variant", 300, func(r *Request) { r.ABTest.Variants = r.ABTest.Variants[:1] }, CodeInvalidParam, "1 variants: give 2 to 5"},
		{"six variants", 300, func(r *Request) {
			r.ABTest.Variants = append(r.ABTest.Variants, r.ABTest.Variants...)
		}, CodeInvalidParam, "6 variants"},
		{"share zero", 300, func(r *Request) { r.ABTest.SamplePercent = 0 }, CodeInvalidParam, "samplePercent 0"},
		{"share 51", 300, func(r *Request) { r.ABTest.SamplePercent = 51 }, CodeInvalidParam, "samplePercent 51"},
		{"title set", 300, func(r *Request) { r.Title = "x" }, CodeInvalidParam, "leave title and content out"},
		{"template", 300, func(r *Request) { r.Type = PushTemplate; r.TemplateName = "t" }, CodeInvalidParam, "TEMPLATE push cannot be an A/B test"},
		{"broadcast", 300, func(r *Request) { r.Type = PushBroadcast; r.TargetMsgkey = nil; r.MsgKey = "m" }, CodeInvalidParam, "BROADCAST push cannot be an A/B test"},
		{"tag target", 300, func(r *Request) { r.DeliverType = DeliverTag }, CodeInvalidParam, "deliverType 12 cannot be tested"},
		{"unknown metric", 300, func(r *Request) { r.ABTest.Metric = "click_rate" }, CodeInvalidParam, `metric "click_rate"`},
		{"decision too soon", 300, func(r *Request) { r.ABTest.DecisionSeconds = 5 }, CodeInvalidParam, "decisionSeconds 5"},
		{"variant without content", 300, func(r *Request) { r.ABTest.Variants[1].Content = "" }, CodePayloadNotEnough, "variant b"},
		{"sample too small", 20, nil, CodeInvalidParam, "too few for 3 variants"},
		{"too many targets", MaxABTestTargets + 1, nil, CodeSinglePushTargetTooMuch, "at most 10000"},
		{"scheduled", 300, func(r *Request) {
			r.StrategyType, r.StrategyContent = StrategyFixedTime, &StrategyContent{FixedTime: 4102444800000}
		}, CodeInvalidParam, "strategyType 1"},
		{"sms", 300, func(r *Request) { r.SmsStrategy = 2 }, CodeInvalidParam, "smsStrategy"},
		{"part with wrong task id", 300, func(r *Request) { *r = *r.ABPartRequest("b", ""); r.TaskID = "x" }, CodeInvalidParam, "must have task id"},
		{"rest without winner", 300, func(r *Request) { *r = *r.ABPartRequest(ABRestPart, "") }, CodeInvalidParam, "winner"},
		{"unknown part", 300, func(r *Request) { *r = *r.ABPartRequest("d", "") }, CodeInvalidParam, `part "d"`},
		{"rest part", 300, func(r *Request) { *r = *r.ABPartRequest(ABRestPart, "c") }, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := abRequest(tc.n, tc.mod).Validate()
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want code %d with %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestABTestSplit(t *testing.T) {
	for _, tc := range []struct{ n, pct, variants int }{{300, 10, 3}, {301, 10, 3}, {1000, 7, 5}, {40, 50, 2}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			r := abRequest(tc.n, func(r *Request) {
				r.ABTest.SamplePercent = tc.pct
				for len(r.ABTest.Variants) < tc.variants {
					r.ABTest.Variants = append(r.ABTest.Variants, ABVariant{"T", "C"})
				}
				r.ABTest.Variants = r.ABTest.Variants[:tc.variants]
			})
			targets := r.TargetMsgkey.SortedKeys()
			split := r.ABTest.Split("task-1", targets)
			counts := map[string]int{}
			for _, p := range split {
				counts[p]++
			}
			sample := tc.n * tc.pct / 100
			if counts[ABRestPart] != tc.n-sample {
				t.Fatalf("rest has %d targets, want %d", counts[ABRestPart], tc.n-sample)
			}
			lo, hi := sample/tc.variants, (sample+tc.variants-1)/tc.variants
			for i := range tc.variants {
				if c := counts[ABVariantName(i)]; c < lo || c > hi {
					t.Fatalf("variant %s has %d targets, want %d..%d (counts %v)", ABVariantName(i), c, lo, hi, counts)
				}
			}
			// Deterministic: the same split whatever the order of the targets.
			rev := make([]string, len(targets))
			for i, x := range targets {
				rev[len(targets)-1-i] = x
			}
			for tg, p := range r.ABTest.Split("task-1", rev) {
				if split[tg] != p {
					t.Fatalf("target %s: %s, then %s", tg, split[tg], p)
				}
			}
			// The parts' targets are disjoint and cover the audience.
			seen := map[string]string{}
			for _, p := range append([]string{ABRestPart}, "a", "b") {
				part := r.ABPartRequest(p, "a")
				part.ABTest.TestID = "task-1"
				for _, tg := range part.PartTargets() {
					if q, dup := seen[tg]; dup {
						t.Fatalf("target %s in parts %s and %s", tg, q, p)
					}
					seen[tg] = p
				}
			}
		})
	}
}

func TestDecideABTest(t *testing.T) {
	st := func(part string, pushed, arrived, opened uint64) ABVariantStats {
		s := ABVariantStats{Part: part, StatsPoint: StatsPoint{Pushed: pushed, Arrived: arrived, Opened: opened}}
		s.SetRates()
		return s
	}
	for _, tc := range []struct {
		name, metric, want string
		stats              []ABVariantStats
	}{
		{"open rate", ABMetricOpenRate, "b", []ABVariantStats{st("a", 10, 10, 2), st("b", 10, 10, 8), st("c", 10, 10, 5)}},
		{"arrival rate", ABMetricArrivalRate, "c", []ABVariantStats{st("a", 10, 5, 5), st("b", 10, 6, 6), st("c", 10, 9, 0)}},
		{"tie to more opens", ABMetricOpenRate, "b", []ABVariantStats{st("a", 10, 2, 1), st("b", 10, 4, 2)}},
		{"full tie to the earlier", ABMetricOpenRate, "a", []ABVariantStats{st("a", 10, 4, 2), st("b", 10, 4, 2)}},
		{"no figures", ABMetricOpenRate, "a", []ABVariantStats{st("a", 0, 0, 0), st("b", 0, 0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideABTest(&ABTest{Metric: tc.metric}, tc.stats, 1)
			if d.Winner != tc.want || len(d.Variants) != len(tc.stats) || d.Reason == "" {
				t.Fatalf("decision %+v, want winner %s", d, tc.want)
			}
		})
	}
}

func TestABDecisionMerge(t *testing.T) {
	a := Schedule{ScheduleID: "ab1", ABDecision: &ABDecision{Winner: "b", DecidedAt: 2}}
	b := Schedule{ScheduleID: "ab1", ABDecision: &ABDecision{Winner: "a", DecidedAt: 3}}
	none := Schedule{ScheduleID: "ab1"}
	for _, m := range []Schedule{a.Merge(b), b.Merge(a), none.Merge(a), a.Merge(none)} {
		if m.ABDecision == nil || m.ABDecision.Winner != "b" {
			t.Fatalf("merged decision %+v, want the earlier (b)", m.ABDecision)
		}
	}
	if a.SameState(none) || !a.SameState(a.Merge(b)) {
		t.Fatal("SameState does not compare the decision")
	}
}
