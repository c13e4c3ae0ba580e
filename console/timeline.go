package console

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// timelineSteps are the periods a task's timeline may be counted by,
// shortest first; the shortest giving at most maxTimelinePeriods periods
// over the task's span is used.
var timelineSteps = []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// maxTimelinePeriods bounds the periods of a timeline chart.
const maxTimelinePeriods = 120

// timelineStep is the step of a task whose events span from start to end.
func timelineStep(start, end time.Time) time.Duration {
	span := end.Sub(start)
	for _, st := range timelineSteps {
		if span/st < maxTimelinePeriods {
			return st
		}
	}
	return timelineSteps[len(timelineSteps)-1]
}

// timelineView is the timeline section of a task page: the task's events
// per period and event type (store.TaskTimeline), as a chart and a table
// whose totals are the funnel's figures.
type timelineView struct {
	Step string
	// Events are the event types the task has, in lifecycle order.
	Events []schema.EventType
	Rows   []timelineRow
	// Totals are the sums of each event type, in the order of Events.
	Totals []uint64
	Chart  template.HTML
}

// timelineRow is one period with events.
type timelineRow struct {
	Start  time.Time
	Counts []uint64
}

// taskTimeline reads the timeline of task id of app, whose events span
// start to end.
func (s *Server) taskTimeline(ctx context.Context, app, id string, start, end time.Time) (*timelineView, error) {
	step := timelineStep(start, end)
	counts, err := store.TaskTimeline(ctx, s.cfg.ClickHouse, s.cfg.Database, app, id, step)
	if err != nil {
		return nil, err
	}
	return buildTimeline(counts, step), nil
}

// buildTimeline arranges the counts as rows of periods and columns of
// event types, with their totals and chart.
func buildTimeline(counts []store.TimelineCount, step time.Duration) *timelineView {
	tv := &timelineView{Step: step.String()}
	present := map[schema.EventType]bool{}
	for _, c := range counts {
		present[c.Event] = true
	}
	col := map[schema.EventType]int{}
	for _, ev := range schema.AllEventTypes() {
		if present[ev] {
			col[ev] = len(tv.Events)
			tv.Events = append(tv.Events, ev)
		}
	}
	for _, c := range counts {
		if _, known := col[c.Event]; !known { // a type AllEventTypes lacks
			col[c.Event] = len(tv.Events)
			tv.Events = append(tv.Events, c.Event)
		}
	}
	tv.Totals = make([]uint64, len(tv.Events))
	for _, c := range counts {
		if n := len(tv.Rows); n == 0 || !tv.Rows[n-1].Start.Equal(c.Start) {
			tv.Rows = append(tv.Rows, timelineRow{Start: c.Start, Counts: make([]uint64, len(tv.Events))})
		}
		tv.Rows[len(tv.Rows)-1].Counts[col[c.Event]] += c.Count
		tv.Totals[col[c.Event]] += c.Count
	}
	tv.Chart = timelineChart(tv, step)
	return tv
}

// timelineChart draws one line per event type over every period from the
// first to the last with events (at most maxBuckets), periods without
// events at zero.
func timelineChart(tv *timelineView, step time.Duration) template.HTML {
	if len(tv.Rows) == 0 {
		return ""
	}
	first, last := tv.Rows[0].Start, tv.Rows[len(tv.Rows)-1].Start
	n := min(int(last.Sub(first)/step)+1, maxBuckets)
	series := make([][]uint64, len(tv.Events))
	for i := range series {
		series[i] = make([]uint64, n)
	}
	var top uint64 = 1
	for _, r := range tv.Rows {
		i := int(r.Start.Sub(first) / step)
		if i >= n {
			continue
		}
		for j, c := range r.Counts {
			series[j][i] += c
			top = max(top, series[j][i])
		}
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(i int) float64 {
		if n < 2 {
			return padL + plotW/2
		}
		return padL + plotW*float64(i)/float64(n-1)
	}
	y := func(v uint64) float64 { return padT + plotH*(1-float64(v)/float64(top)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart timeline" viewBox="0 0 %g %g" role="img" aria-label="timeline of the task's events">`, chartW, chartH)
	for _, v := range []uint64{0, top / 2, top} {
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			padL, y(v), chartW-padR, y(v), padL-6, y(v)+4, num(v))
	}
	label := func(t time.Time) string {
		if step < time.Minute {
			return t.UTC().Format("15:04:05")
		}
		return periodLabel(t, last.Sub(first))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%g" y="%g" text-anchor="start">%s</text>`, x(0), chartH-8, html.EscapeString(label(first)))
	if n > 1 {
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="end">%s</text>`, x(n-1), chartH-8, html.EscapeString(label(first.Add(time.Duration(n-1)*step))))
	}
	for j, ev := range tv.Events {
		var pts strings.Builder
		for i, v := range series[j] {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
		}
		fmt.Fprintf(&b, `<polyline class="line s-ev-%s" points="%s"><title>%s</title></polyline>`, html.EscapeString(string(ev)), strings.TrimSpace(pts.String()), html.EscapeString(string(ev)))
		for i, v := range series[j] {
			if v > 0 && n <= 60 {
				fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3"><title>%s: %d %s</title></circle>`, x(i), y(v),
					html.EscapeString(label(first.Add(time.Duration(i)*step))), v, html.EscapeString(string(ev)))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // event names escaped, the rest numbers and dates
}
