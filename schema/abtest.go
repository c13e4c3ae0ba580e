package schema

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// A/B copy test limits (MiPush §5.1.3: 2–5 copies).
const (
	MinABVariants = 2
	MaxABVariants = 5
	// MaxABSamplePercent is the largest sample share: at least half of
	// the audience is left for the winner.
	MaxABSamplePercent = 50
	// MaxABTestTargets is the most targets (targetMsgkey entries) of an
	// A/B test; a plain SIMPLE push takes MaxSimpleTargets.
	MaxABTestTargets = 10000
	// MinABDecisionSeconds and MaxABDecisionSeconds bound the decision
	// time; DefaultABDecisionSeconds (MiPush's 15 minutes) applies when
	// decisionSeconds is left out.
	MinABDecisionSeconds     = 10
	MaxABDecisionSeconds     = 7 * 24 * 3600
	DefaultABDecisionSeconds = 900
)

// A/B test metrics: the rate the winner is chosen by, as the statistics
// (StatsPoint) compute it.
const (
	// ABMetricOpenRate is opened / arrived (MiPush's click rate), the
	// default.
	ABMetricOpenRate = "open_rate"
	// ABMetricArrivalRate is arrived / pushed.
	ABMetricArrivalRate = "arrival_rate"
)

// ABRestPart is the part of an A/B test that reaches the rest of the
// audience with the winner's copy; the variants' parts are "a" to "e".
const ABRestPart = "rest"

// ABVariant is one copy of an A/B test.
type ABVariant struct {
	Title   string `json:"title"`
	Content string `json:"content"`
}

// ABTest is the A/B copy test of a SIMPLE push to a target list (request
// field abTest, MiPush §5.1.3): 2–5 copies, each sent to an equal share of
// a sample of the audience; at the decision time the copy with the best
// rate goes to the rest of the audience.
//
// Producers set Variants, SamplePercent, Metric and DecisionSeconds. Part,
// TestID and Winner are set by the pipeline on the requests the test sends
// (fanout's variant requests, the scheduler's rest request) and refused
// from producers (producer.Validate).
type ABTest struct {
	Variants []ABVariant `json:"variants"`
	// SamplePercent is the share of the targets that is sampled, 1–50;
	// the sample is split evenly between the variants.
	SamplePercent int `json:"samplePercent"`
	// Metric is ABMetricOpenRate (default) or ABMetricArrivalRate.
	Metric string `json:"metric,omitempty"`
	// DecisionSeconds is the time from acceptance to the decision,
	// MinABDecisionSeconds..MaxABDecisionSeconds; 0 means
	// DefaultABDecisionSeconds.
	DecisionSeconds int64 `json:"decisionSeconds,omitempty"`

	// Part is the part of the test this request sends: a variant ("a",
	// "b", …) or ABRestPart; empty on the request that starts the test.
	Part string `json:"part,omitempty"`
	// TestID is the task id of the request that started the test.
	TestID string `json:"testId,omitempty"`
	// Winner is the winning variant, on the rest part only.
	Winner string `json:"winner,omitempty"`
}

// ABVariantName is the part name of variant i (0-based): "a", "b", ….
func ABVariantName(i int) string { return string(rune('a' + i)) }

// ABPartTaskID is the task id of one part of the test testID:
// "<testID>-a" … "<testID>-e", "<testID>-rest".
func ABPartTaskID(testID, part string) string { return testID + "-" + part }

// ABTestScheduleID is the id of the schedule that holds the decision of
// the A/B test testID of app: "ab" and 24 hex digits.
func ABTestScheduleID(appID, testID string) string {
	return "ab" + hashID("abtest", appID, testID)[:24]
}

// IsABTest reports whether the request starts an A/B test (abTest set,
// not one of the parts the test sends).
func (r *Request) IsABTest() bool { return r.ABTest != nil && r.ABTest.Part == "" }

// MetricName is Metric, or ABMetricOpenRate when empty.
func (a *ABTest) MetricName() string {
	if a.Metric == "" {
		return ABMetricOpenRate
	}
	return a.Metric
}

// Decision returns the decision time of a test accepted at acceptedAt
// (Unix ms), in Unix ms.
func (a *ABTest) Decision(acceptedAt int64) int64 {
	s := a.DecisionSeconds
	if s == 0 {
		s = DefaultABDecisionSeconds
	}
	return acceptedAt + s*1000
}

// variantIndex returns the index of variant part p, or -1.
func (a *ABTest) variantIndex(p string) int {
	for i := range a.Variants {
		if ABVariantName(i) == p {
			return i
		}
	}
	return -1
}

// Copy returns the title and content the part sends: its variant's, or
// the winner's for the rest; ok is false for an unknown part.
func (a *ABTest) Copy() (v ABVariant, ok bool) {
	p := a.Part
	if p == ABRestPart {
		p = a.Winner
	}
	i := a.variantIndex(p)
	if i < 0 {
		return ABVariant{}, false
	}
	return a.Variants[i], true
}

// ABSampleSize is the number of sampled targets of an audience of n
// targets: n·percent/100, rounded down.
func ABSampleSize(n, percent int) int { return n * percent / 100 }

// Split assigns every target of the test testID a part: the audience is
// ordered by a hash of (testID, target), the first ABSampleSize targets
// form the sample and go to the variants in turn (so variant counts differ
// by at most one), the others to ABRestPart. It depends on testID and the
// set of targets only, so a replay or a restart splits the same way.
func (a *ABTest) Split(testID string, targets []string) map[string]string {
	type ranked struct {
		target string
		h      uint64
	}
	rs := make([]ranked, len(targets))
	for i, t := range targets {
		sum := sha256.Sum256([]byte(testID + "\x00" + t))
		rs[i] = ranked{t, binary.BigEndian.Uint64(sum[:8])}
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].h != rs[j].h {
			return rs[i].h < rs[j].h
		}
		return rs[i].target < rs[j].target
	})
	sample := ABSampleSize(len(targets), a.SamplePercent)
	out := make(map[string]string, len(targets))
	for i, r := range rs {
		if i < sample {
			out[r.target] = ABVariantName(i % len(a.Variants))
		} else {
			out[r.target] = ABRestPart
		}
	}
	return out
}

// PartTargets returns the targets of r's part, sorted: the targets Split
// gives that part. Nil when r is no part of a test.
func (r *Request) PartTargets() []string {
	if r.ABTest == nil || r.ABTest.Part == "" {
		return nil
	}
	split := r.ABTest.Split(r.ABTest.TestID, r.TargetMsgkey.SortedKeys())
	var out []string
	for _, t := range r.TargetMsgkey.SortedKeys() {
		if split[t] == r.ABTest.Part {
			out = append(out, t)
		}
	}
	return out
}

// ABPartRequest returns the request that sends one part of the test r
// starts (r.IsABTest): task id "<testID>-<part>", the same targets, copy
// and acceptance time; the part's targets and copy follow from Split and
// winner (the winning variant, for ABRestPart only).
func (r *Request) ABPartRequest(part, winner string) *Request {
	out := *r
	t := *r.ABTest
	t.Variants = slices.Clone(t.Variants)
	t.TestID = r.DeriveTaskID()
	t.Part, t.Winner = part, winner
	out.ABTest = &t
	out.TaskID = ABPartTaskID(t.TestID, part)
	return &out
}

// validateABTest checks the abTest field (see ABTest). Every refusal is
// 3028 INVALID_PARAM but for too many targets (3029) and a variant
// without title or content (3024).
func (r *Request) validateABTest() error {
	a := r.ABTest
	if a == nil {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return invalid(CodeInvalidParam, "abTest: "+format, args...)
	}
	if r.Type != PushSimple {
		return refuse("a %s push cannot be an A/B test: only SIMPLE pushes to a target list test copies (the variants give title and content; a broadcast is not supported, as in MiPush)", r.Type)
	}
	switch r.DeliverType {
	case DeliverAndroid, DeliverIOS, DeliverHarmony, DeliverUser, DeliverAlias, DeliverUserAccount:
	default:
		return refuse("deliverType %d cannot be tested: the audience must be a list of devices (1, 2, 7), users (3), aliases (10) or user accounts (11); tags and Live Activities are not supported", r.DeliverType)
	}
	switch {
	case r.Title != "" || r.Content != "":
		return refuse("leave title and content out: each variant gives its own")
	case r.StrategyType != StrategyImmediate:
		return refuse("strategyType %d: an A/B test starts when it is accepted; scheduled and loop tests are not supported", r.StrategyType)
	case r.SmsStrategy != SMSStrategyNone:
		return refuse("smsStrategy %d: an A/B test sends no SMS supplement", r.SmsStrategy)
	case len(a.Variants) < MinABVariants || len(a.Variants) > MaxABVariants:
		return refuse("%d variants: give %d to %d", len(a.Variants), MinABVariants, MaxABVariants)
	case a.SamplePercent < 1 || a.SamplePercent > MaxABSamplePercent:
		return refuse("samplePercent %d is not within 1..%d (the share of the targets sampled)", a.SamplePercent, MaxABSamplePercent)
	case a.Metric != "" && a.Metric != ABMetricOpenRate && a.Metric != ABMetricArrivalRate:
		return refuse("metric %q is not %s or %s", a.Metric, ABMetricOpenRate, ABMetricArrivalRate)
	case a.DecisionSeconds != 0 && (a.DecisionSeconds < MinABDecisionSeconds || a.DecisionSeconds > MaxABDecisionSeconds):
		return refuse("decisionSeconds %d is not within %d..%d (7 days)", a.DecisionSeconds, MinABDecisionSeconds, MaxABDecisionSeconds)
	}
	for i, v := range a.Variants {
		if v.Title == "" || v.Content == "" {
			return invalid(CodePayloadNotEnough, "abTest: variant %s has no title or no content: both are required", ABVariantName(i))
		}
		c := *r
		c.Title, c.Content = v.Title, v.Content
		if err := c.validateContent(v.Content); err != nil {
			return fmt.Errorf("abTest: variant %s: %w", ABVariantName(i), err)
		}
	}
	n := len(r.TargetMsgkey)
	if s := ABSampleSize(n, a.SamplePercent); n > 0 && s < len(a.Variants) {
		return refuse("a sample of %d%% of %d targets is %d, too few for %d variants: give more targets or a larger samplePercent", a.SamplePercent, n, s, len(a.Variants))
	}
	switch {
	case a.Part == "":
		if a.TestID != "" || a.Winner != "" {
			return refuse("testId and winner are set on the parts of a test only")
		}
	case a.Part == ABRestPart:
		if a.variantIndex(a.Winner) < 0 {
			return refuse("the rest part names winner %q, which is no variant", a.Winner)
		}
	case a.variantIndex(a.Part) < 0:
		return refuse("part %q is not a variant (a–%s) nor %q", a.Part, ABVariantName(len(a.Variants)-1), ABRestPart)
	}
	if a.Part != "" && (a.TestID == "" || r.TaskID != ABPartTaskID(a.TestID, a.Part)) {
		return refuse("part %q of test %q must have task id %q, not %q", a.Part, a.TestID, ABPartTaskID(a.TestID, a.Part), r.TaskID)
	}
	return nil
}

// ABPipelineFieldsSet names the abTest fields set by the pipeline (part,
// testId, winner) that r carries, "" when none: producers may not set them.
func (r *Request) ABPipelineFieldsSet() string {
	if r.ABTest == nil {
		return ""
	}
	var set []string
	for _, f := range []struct {
		name string
		v    string
	}{{"part", r.ABTest.Part}, {"testId", r.ABTest.TestID}, {"winner", r.ABTest.Winner}} {
		if f.v != "" {
			set = append(set, "abTest."+f.name)
		}
	}
	return strings.Join(set, ", ")
}

// ABVariantStats are the figures of one part of an A/B test, as the
// statistics (StatsQuery of its task id) give them.
type ABVariantStats struct {
	Part   string `json:"part"`
	TaskID string `json:"taskId"`
	// Targets is the number of targets Split gave the part.
	Targets int `json:"targets"`
	StatsPoint
	// Rate is the metric's rate (OpenRate or ArrivalRate).
	Rate float64 `json:"rate"`
}

// ABDecision is the outcome of an A/B test, with the numbers it was made
// on: recorded on the test's schedule before the rest is sent.
type ABDecision struct {
	Winner    string           `json:"winner"`
	Metric    string           `json:"metric"`
	DecidedAt int64            `json:"decidedAt"`
	Variants  []ABVariantStats `json:"variants"`
	Reason    string           `json:"reason"`
}

// DecideABTest chooses the winner of test a from the statistics of its
// variants (in variant order): the highest rate of the metric; a tie goes
// to the variant with more of the metric's numerator (opens, arrivals),
// then to the earlier variant. decidedAt is Unix ms.
func DecideABTest(a *ABTest, stats []ABVariantStats, decidedAt int64) ABDecision {
	d := ABDecision{Metric: a.MetricName(), DecidedAt: decidedAt, Variants: slices.Clone(stats)}
	best := -1
	num := func(s ABVariantStats) uint64 {
		if d.Metric == ABMetricArrivalRate {
			return s.Arrived
		}
		return s.Opened
	}
	for i := range d.Variants {
		s := &d.Variants[i]
		s.Rate = s.OpenRate
		if d.Metric == ABMetricArrivalRate {
			s.Rate = s.ArrivalRate
		}
		if best < 0 || s.Rate > d.Variants[best].Rate || (s.Rate == d.Variants[best].Rate && num(*s) > num(d.Variants[best])) {
			best = i
		}
	}
	if best >= 0 {
		w := d.Variants[best]
		d.Winner = w.Part
		d.Reason = fmt.Sprintf("variant %s has the highest %s, %.4f (%d of %d); ties go to more %s, then to the earlier variant",
			strings.ToUpper(w.Part), d.Metric, w.Rate, num(w), denominator(d.Metric, w), map[string]string{ABMetricOpenRate: "opens", ABMetricArrivalRate: "arrivals"}[d.Metric])
	}
	return d
}

func denominator(metric string, s ABVariantStats) uint64 {
	if metric == ABMetricArrivalRate {
		return s.Pushed
	}
	return s.Arrived
}

// NewABTestSchedule returns the schedule record of the A/B test r starts
// (r.IsABTest), accepted at acceptedAt (Unix ms): one fixed-time
// occurrence at the decision time (rounded up to the second), which the scheduler fires as the rest
// part once it has recorded the decision (ABRestRequest).
func NewABTestSchedule(r *Request, acceptedAt int64) Schedule {
	req := *r
	req.AcceptedAt = acceptedAt
	req.TaskID = r.DeriveTaskID()
	return Schedule{
		ScheduleID: ABTestScheduleID(r.AppID, req.TaskID), Region: r.Region, AppID: r.AppID, WorkspaceID: r.WorkspaceID,
		// Whole seconds, as the scheduler's timetable counts them.
		StrategyType: StrategyFixedTime, Strategy: StrategyContent{FixedTime: (r.ABTest.Decision(acceptedAt) + 999) / 1000 * 1000},
		CreatedAt: acceptedAt, Request: &req, UpdatedAt: acceptedAt,
	}
}

// IsABTest reports whether the schedule holds the decision of an A/B
// test rather than a scheduled or loop push.
func (s *Schedule) IsABTest() bool { return s.Request != nil && s.Request.IsABTest() }

// OccurrenceTaskID is the task id of the request an occurrence sends:
// OccurrenceID, or for an A/B test the rest part's "<testId>-rest".
func (s *Schedule) OccurrenceTaskID(at time.Time, loc *time.Location) string {
	if s.IsABTest() {
		return ABPartTaskID(s.Request.DeriveTaskID(), ABRestPart)
	}
	return OccurrenceID(s.ScheduleID, at, loc)
}

// abRestRequest is the rest part of the A/B test s decides, or nil while
// no decision is recorded. Its acceptance time is the decision time, so
// the same decision always yields the same request.
func (s *Schedule) abRestRequest() *Request {
	if s.ABDecision == nil {
		return nil
	}
	r := s.Request.ABPartRequest(ABRestPart, s.ABDecision.Winner)
	r.AcceptedAt = s.Strategy.FixedTime
	return r
}

// ABTestStatus is the state of an A/B test: "testing" until the
// decision, "decided" once it is recorded, "sent" once the rest part was
// published, "cancelled" when its schedule was cancelled before.
func (s *Schedule) ABTestStatus() string {
	switch {
	case s.Through >= s.Strategy.FixedTime && s.ABDecision != nil:
		return "sent"
	case s.Cancelled:
		return "cancelled"
	case s.ABDecision != nil:
		return "decided"
	}
	return "testing"
}

// maxTargets is the most targetMsgkey entries r may have: MaxABTestTargets
// for an A/B test and its parts, else MaxSimpleTargets.
func (r *Request) maxTargets() int {
	if r.ABTest != nil && r.Type == PushSimple {
		return MaxABTestTargets
	}
	return MaxSimpleTargets
}

// mergeABDecision keeps the decision either record holds; of two, the
// earlier (then the one naming the earlier winner), so Merge stays
// commutative. Only one scheduler decides at a time, so two differ only
// after an owner lost its partition while deciding.
func mergeABDecision(a, b *ABDecision) *ABDecision {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.DecidedAt < a.DecidedAt || (b.DecidedAt == a.DecidedAt && b.Winner < a.Winner):
		return b
	}
	return a
}

func sameABDecision(a, b *ABDecision) bool {
	return (a == nil) == (b == nil) && (a == nil || (a.DecidedAt == b.DecidedAt && a.Winner == b.Winner))
}
