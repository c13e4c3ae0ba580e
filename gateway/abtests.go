package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

// ErrABTestNotFound marks a test id that names no A/B test of the app in
// the region. Test with errors.Is.
var ErrABTestNotFound = errors.New("no such A/B test")

// ABTestPart is one part of an A/B test: a variant or the rest, its copy,
// the number of targets the split gave it and its statistics now.
type ABTestPart struct {
	Part    string `json:"part"`
	TaskID  string `json:"taskId"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Targets int    `json:"targets"`
	schema.StatsPoint
}

// ABTest is an A/B test as /v1/abtests/{taskId}, `pushpipe abtest show`
// and the console show it: the test, each variant's figures now (over
// the same range the decision reads, so before the decision they are the
// figures it will compare), the rest of the audience, and the recorded
// decision with the numbers it was made on.
type ABTest struct {
	TestID        string             `json:"taskId"`
	TaskName      string             `json:"taskName"`
	ScheduleID    string             `json:"scheduleId"`
	Status        string             `json:"status"`
	Metric        string             `json:"metric"`
	SamplePercent int                `json:"samplePercent"`
	AcceptedAt    int64              `json:"acceptedAt"`
	DecisionAt    int64              `json:"decisionAt"`
	Targets       int                `json:"targets"`
	Variants      []ABTestPart       `json:"variants"`
	Rest          ABTestPart         `json:"rest"`
	Decision      *schema.ABDecision `json:"decision,omitempty"`
}

// LoadABTest reads the A/B test testID of app in region: its schedule
// from push.schedules.<region> (brokers, sec) and its parts' statistics
// from ClickHouse (conn, db) over [its acceptance minute, the minute
// after now). An unknown test is ErrABTestNotFound; other errors say what
// was being read.
func LoadABTest(ctx context.Context, conn driver.Conn, db string, brokers []string, sec pipeline.KafkaSecurity, region, appID, testID string, now time.Time) (*ABTest, error) {
	all, err := scheduler.ReadSchedules(ctx, brokers, sec, region)
	if err != nil {
		return nil, fmt.Errorf("reading A/B test %s: %w", testID, err)
	}
	id := schema.ABTestScheduleID(appID, testID)
	for _, sc := range all {
		if sc.ScheduleID == id && sc.AppID == appID && sc.IsABTest() {
			return abTestOf(ctx, conn, db, sc, now)
		}
	}
	return nil, fmt.Errorf("A/B test %q of app %s in region %s: %w", testID, appID, region, ErrABTestNotFound)
}

// ListABTests returns the A/B tests of app in region, newest first, with
// their figures (LoadABTest).
func ListABTests(ctx context.Context, conn driver.Conn, db string, brokers []string, sec pipeline.KafkaSecurity, region, appID string, now time.Time) ([]ABTest, error) {
	all, err := scheduler.ReadSchedules(ctx, brokers, sec, region)
	if err != nil {
		return nil, fmt.Errorf("listing A/B tests: %w", err)
	}
	var out []ABTest
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].AppID != appID || !all[i].IsABTest() {
			continue
		}
		t, err := abTestOf(ctx, conn, db, all[i], now)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// abTestOf builds the view of the A/B test schedule sc.
func abTestOf(ctx context.Context, conn driver.Conn, db string, sc schema.Schedule, now time.Time) (*ABTest, error) {
	req := sc.Request
	test := req.ABTest
	testID := req.DeriveTaskID()
	split := test.Split(testID, req.TargetMsgkey.SortedKeys())
	counts := map[string]int{}
	for _, p := range split {
		counts[p]++
	}
	t := &ABTest{TestID: testID, TaskName: req.TaskName, ScheduleID: sc.ScheduleID, Status: sc.ABTestStatus(), Metric: test.MetricName(),
		SamplePercent: test.SamplePercent, AcceptedAt: sc.CreatedAt, DecisionAt: sc.Strategy.FixedTime, Targets: len(split), Decision: sc.ABDecision}
	ids := []string{}
	for i, v := range test.Variants {
		p := schema.ABVariantName(i)
		t.Variants = append(t.Variants, ABTestPart{Part: p, TaskID: schema.ABPartTaskID(testID, p), Title: v.Title, Content: v.Content, Targets: counts[p]})
		ids = append(ids, schema.ABPartTaskID(testID, p))
	}
	t.Rest = ABTestPart{Part: schema.ABRestPart, TaskID: schema.ABPartTaskID(testID, schema.ABRestPart), Targets: counts[schema.ABRestPart]}
	if sc.ABDecision != nil {
		w := *test
		w.Part, w.Winner = schema.ABRestPart, sc.ABDecision.Winner
		if v, ok := w.Copy(); ok {
			t.Rest.Title, t.Rest.Content = v.Title, v.Content
		}
	}
	ids = append(ids, t.Rest.TaskID)
	from, to := scheduler.ABTestRange(sc.CreatedAt, now)
	stats, err := store.TaskStats(ctx, conn, db, sc.AppID, ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("reading the statistics of A/B test %s: %w", testID, err)
	}
	for i := range t.Variants {
		t.Variants[i].StatsPoint = stats[t.Variants[i].TaskID]
	}
	t.Rest.StatsPoint = stats[t.Rest.TaskID]
	return t, nil
}

// abTest serves /v1/abtests/{taskId}: the A/B test started by the push
// whose task id it is (see ABTest).
func (s *Server) abTest(ctx context.Context, c *call) reply {
	var b appRef
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	t, err := LoadABTest(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Region, b.AppID, c.taskID, c.now)
	if errors.Is(err, ErrABTestNotFound) {
		return refuse(http.StatusNotFound, schema.CodeInvalidParam, fmt.Sprintf("task %q of app %s started no A/B test in region %s", c.taskID, b.AppID, s.cfg.Region))
	}
	if err != nil {
		return failed("reading A/B test "+c.taskID, err)
	}
	return ok(t)
}

// abTests serves /v1/abtests: the app's A/B tests, newest first.
func (s *Server) abTests(ctx context.Context, c *call) reply {
	var b appRef
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	list, err := ListABTests(ctx, s.cfg.ClickHouse, s.cfg.Database, s.cfg.Brokers, s.cfg.KafkaSecurity, s.cfg.Region, b.AppID, c.now)
	if err != nil {
		return failed("listing A/B tests", err)
	}
	if list == nil {
		list = []ABTest{}
	}
	return ok(list)
}
