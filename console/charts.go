package console

import (
	"fmt"
	"html"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// maxBuckets bounds the periods of a trend chart (a day by minute is
// 1,440).
const maxBuckets = 2_000

// step is the length of one period of a granularity.
func step(gran string) time.Duration {
	switch gran {
	case schema.GranularityMinute:
		return time.Minute
	case schema.GranularityHour:
		return time.Hour
	}
	return 24 * time.Hour
}

// fillSeries returns the series with a zero point for every period of
// [from, to) that has none, in time order, so that a chart's x axis is
// time. Points that fall between the periods (a ClickHouse server in
// another time zone starts its days elsewhere) are kept.
func fillSeries(series []schema.StatsPoint, from, to time.Time, gran string) []schema.StatsPoint {
	st := step(gran)
	have := make(map[int64]bool, len(series))
	out := append([]schema.StatsPoint(nil), series...)
	for _, p := range series {
		have[p.Time.Unix()] = true
	}
	for t := from.UTC().Truncate(st); t.Before(to) && len(out) < maxBuckets; t = t.Add(st) {
		if !have[t.Unix()] {
			out = append(out, schema.StatsPoint{Time: t})
		}
	}
	slices.SortFunc(out, func(a, b schema.StatsPoint) int { return a.Time.Compare(b.Time) })
	return out
}

// trendSeries are the lines of the trend chart: label, CSS class, value.
var trendSeries = []struct {
	label, class string
	value        func(schema.StatsPoint) uint64
}{
	{"pushed", "s-pushed", func(p schema.StatsPoint) uint64 { return p.Pushed }},
	{"succeeded", "s-succeeded", func(p schema.StatsPoint) uint64 { return p.Succeeded }},
	{"arrived", "s-arrived", func(p schema.StatsPoint) uint64 { return p.Arrived }},
	{"opened", "s-opened", func(p schema.StatsPoint) uint64 { return p.Opened }},
	{"ignored", "s-ignored", func(p schema.StatsPoint) uint64 { return p.Ignored }},
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 760.0, 240.0
	padL, padR     = 56.0, 12.0
	padT, padB     = 12.0, 28.0
)

// trendChart draws the points as an inline SVG line chart, one line per
// metric; with few points each point has a dot whose tooltip tells its
// figures.
func trendChart(points []schema.StatsPoint) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="trend chart">`, chartW, chartH)
	var top uint64 = 1
	for _, p := range points {
		for _, s := range trendSeries {
			top = max(top, s.value(p))
		}
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(i int) float64 {
		if len(points) < 2 {
			return padL + plotW/2
		}
		return padL + plotW*float64(i)/float64(len(points)-1)
	}
	y := func(v uint64) float64 { return padT + plotH*(1-float64(v)/float64(top)) }
	// Axes and their labels: 0, half and the top; the first, middle and
	// last period.
	for _, v := range []uint64{0, top / 2, top} {
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			padL, y(v), chartW-padR, y(v), padL-6, y(v)+4, num(v))
	}
	if len(points) > 0 {
		span := points[len(points)-1].Time.Sub(points[0].Time)
		for _, i := range []int{0, len(points) / 2, len(points) - 1} {
			anchor := map[bool]string{true: "start", false: "middle"}[i == 0]
			if i == len(points)-1 && i != 0 {
				anchor = "end"
			}
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="%s">%s</text>`, x(i), chartH-8, anchor, html.EscapeString(periodLabel(points[i].Time, span)))
		}
	}
	for _, s := range trendSeries {
		var pts strings.Builder
		for i, p := range points {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(s.value(p)))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, s.class, strings.TrimSpace(pts.String()))
	}
	if len(points) <= 60 {
		for i, p := range points {
			fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3"><title>%s: pushed %d, succeeded %d, arrived %d, opened %d, ignored %d</title></circle>`,
				x(i), y(p.Pushed), html.EscapeString(p.Time.UTC().Format("2006-01-02 15:04 UTC")), p.Pushed, p.Succeeded, p.Arrived, p.Opened, p.Ignored)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text above is a number or an escaped date
}

// periodLabel writes a period's start as short as the chart's span allows.
func periodLabel(t time.Time, span time.Duration) string {
	t = t.UTC()
	switch {
	case span <= 24*time.Hour:
		return t.Format("15:04")
	case span <= 7*24*time.Hour:
		return t.Format("01-02 15:04")
	}
	return t.Format("2006-01-02")
}

// funnelStages are the bars of the funnel chart, in order.
var funnelStages = []struct {
	key, label string
	value      func(schema.Funnel) uint64
}{
	{"planned", "planned", func(f schema.Funnel) uint64 { return f.Planned }},
	{"invalidDevice", "invalid device", func(f schema.Funnel) uint64 { return f.InvalidDevice }},
	{"filtered", "filtered", func(f schema.Funnel) uint64 { return f.Filtered }},
	{"valid", "valid (sent on)", func(f schema.Funnel) uint64 { return f.Valid }},
	{"acked", "accepted by vendor", func(f schema.Funnel) uint64 { return f.Acked }},
	{"arrived", "arrived", func(f schema.Funnel) uint64 { return f.Arrived }},
	{"opened", "opened", func(f schema.Funnel) uint64 { return f.Opened }},
}

// funnelRow is one stage of a funnel as the task page's table shows it.
type funnelRow struct {
	Key, Label string
	Value      uint64
}

// funnelRows lists the stages of f in order.
func funnelRows(f schema.Funnel) []funnelRow {
	out := make([]funnelRow, len(funnelStages))
	for i, s := range funnelStages {
		out[i] = funnelRow{Key: s.key, Label: s.label, Value: s.value(f)}
	}
	return out
}

// funnelChart draws the funnel as horizontal bars scaled to the largest
// stage, each labelled with its count.
func funnelChart(f schema.Funnel) template.HTML {
	const rowH, labelW, barW = 30.0, 150.0, 520.0
	var top uint64 = 1
	for _, s := range funnelStages {
		top = max(top, s.value(f))
	}
	h := rowH*float64(len(funnelStages)) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart funnel" viewBox="0 0 %g %g" role="img" aria-label="funnel chart">`, labelW+barW+80, h)
	for i, s := range funnelStages {
		v := s.value(f)
		yy := 4 + rowH*float64(i)
		w := barW * float64(v) / float64(top)
		fmt.Fprintf(&b, `<text class="label" x="%g" y="%.1f" text-anchor="end">%s</text><rect class="bar f-%s" x="%g" y="%.1f" width="%.1f" height="%g"/><text class="count" x="%.1f" y="%.1f">%s</text>`,
			labelW-8, yy+rowH/2+4, html.EscapeString(s.label), s.key, labelW, yy+4, w, rowH-8, labelW+w+6, yy+rowH/2+4, num(v))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // labels are constants, counts numbers
}
