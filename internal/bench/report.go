package bench

import (
	"bufio"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ratioPair compares a figure with the ceiling that bounds it.
type ratioPair struct{ figure, ceiling string }

// Names of the ceiling figures.
const (
	figProduceCeiling = "kafka_produce_ceiling_msgs_per_s"
	figConsumeCeiling = "kafka_consume_ceiling_msgs_per_s"
	figInsertCeiling  = "clickhouse_insert_ceiling_rows_per_s"
)

// ratioPairs lists which figure is compared with which ceiling: a
// throughput that writes every unit to Kafka against the produce ceiling,
// one that reads them against the consume ceiling, one that inserts rows
// against the ClickHouse insert ceiling. The analytics insert is not
// compared: its batches of 250,000 rows are not the ceiling's shape.
func ratioPairs() []ratioPair {
	pairs := []ratioPair{
		{"e2e_broadcast_deliveries_per_s", figProduceCeiling},
		{"e2e_broadcast_deliveries_per_s", figConsumeCeiling},
		{"e2e_broadcast_events_per_s", figInsertCeiling},
		{"fanout_broadcast_deliveries_per_s", figProduceCeiling},
		{"eventsink_events_per_s", figInsertCeiling},
		{"eventsink_events_per_s", figConsumeCeiling},
		{"receipts_per_s", figProduceCeiling},
	}
	for _, v := range senderVendors {
		pairs = append(pairs, ratioPair{"sender_deliveries_per_s_" + v, figConsumeCeiling})
	}
	return pairs
}

// ratioName is the name of the figure f divided by ceiling c, e.g.
// e2e_broadcast_deliveries_per_s_ratio_to_kafka_produce_ceiling.
func ratioName(f, c string) string {
	c = strings.TrimSuffix(strings.TrimSuffix(c, "_msgs_per_s"), "_rows_per_s")
	return f + "_ratio_to_" + c
}

// ratios returns, for every pair of ratioPairs whose both figures are in
// figs, the figure as a fraction of its ceiling.
func ratios(figs []Figure) []Figure {
	byName := map[string]float64{}
	for _, f := range figs {
		byName[f.Name] = f.Value
	}
	var out []Figure
	for _, p := range ratioPairs() {
		v, okF := byName[p.figure]
		c, okC := byName[p.ceiling]
		if okF && okC && c > 0 {
			out = append(out, Figure{ratioName(p.figure, p.ceiling), round(v/c, 3), "ratio"})
		}
	}
	return out
}

// goal is a target the report states as met or not.
type goal struct {
	figure string
	atMost bool // the figure must be <= target; otherwise >=
	target float64
	what   string
}

// goals are the targets of issue 8 on a 2-core machine with everything
// co-located.
var goals = []goal{
	{"e2e_broadcast_deliveries_per_s", false, 50_000, "deliveries/s end to end, broadcast to 1,000,000 devices"},
	{"unicast_p99_ms_at_2000rps", true, 20, "ms p99 unicast latency at 2,000 requests/s"},
}

// verdict says whether the goal holds for value.
func (g goal) verdict(value float64) string {
	if (g.atMost && value <= g.target) || (!g.atMost && value >= g.target) {
		return "met"
	}
	return "not met"
}

// reportMeta describes the run a report is about.
type reportMeta struct {
	Start, End          time.Time
	LoadStart, LoadEnd  string
	Options             Options
	StageBatchSize      int
	StageBatchWait      time.Duration
	UnicastMiPushBudget float64
}

// figureGroups orders the report's tables; a figure goes to the first
// group that matches it.
var figureGroups = []struct {
	title string
	match func(name string) bool
}{
	{"Ratios to the ceilings", func(n string) bool { return strings.Contains(n, "_ratio_to_") }},
	{"Ceilings (raw infrastructure, same run)", func(n string) bool {
		return strings.HasPrefix(n, "kafka_") || strings.HasPrefix(n, "clickhouse_")
	}},
	{"Unicast latency (request on Kafka → vendor call at the simulator)", func(n string) bool { return strings.HasPrefix(n, "unicast_") }},
	{"End-to-end broadcast (fanout + sender + eventsink + retry)", func(n string) bool { return strings.HasPrefix(n, "e2e_") }},
	{"Peak RSS of the worker processes", func(n string) bool { return strings.Contains(n, "peak_rss_mb") }},
	{"Per-stage throughput (each stage alone)", func(n string) bool {
		return strings.HasPrefix(n, "fanout_") || strings.HasPrefix(n, "sender_") || strings.HasPrefix(n, "eventsink_") ||
			strings.HasPrefix(n, "receipts_") || strings.HasPrefix(n, "receipt_")
	}},
	{"Vendor calls", func(n string) bool { return strings.HasPrefix(n, "vendor_call_") }},
	{"Analytics queries", func(n string) bool {
		return strings.HasPrefix(n, "stats_") || strings.HasPrefix(n, "funnel_") || strings.HasPrefix(n, "analytics_")
	}},
	{"Other", func(string) bool { return true }},
}

// renderReport returns the Markdown report of figs.
func renderReport(figs []Figure, m reportMeta) string {
	var b strings.Builder
	byName := map[string]Figure{}
	for _, f := range figs {
		byName[f.Name] = f
	}
	fmt.Fprintf(&b, "# pushpipe benchmark report\n\n")
	fmt.Fprintf(&b, "Run on %s UTC, %s long, by `pushpipe bench` (`make bench`) on the embedded stack:\n", m.Start.UTC().Format("2006-01-02 15:04"),
		m.End.Sub(m.Start).Round(time.Second))
	fmt.Fprintf(&b, "the embedded Kafka-protocol broker, embedded ClickHouse, the vendor simulator and every worker\nprocess share one machine.\n\n")
	fmt.Fprintf(&b, "| machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPUs | %d (%s) |\n", runtime.NumCPU(), cpuModel())
	fmt.Fprintf(&b, "| Go | %s %s/%s |\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "| load average (1, 5, 15 min) at start | %s |\n| load average at end | %s |\n\n", m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "![throughput against the ceilings, and unicast latency](report.svg)\n\n")

	fmt.Fprintf(&b, "## Goals\n\n| goal | figure | measured | |\n|---|---|---|---|\n")
	for _, g := range goals {
		op := ">="
		if g.atMost {
			op = "<="
		}
		f, ok := byName[g.figure]
		if !ok {
			fmt.Fprintf(&b, "| %s %s %s | `%s` | not measured in this run | |\n", op, fmtValue(g.target), g.what, g.figure)
			continue
		}
		fmt.Fprintf(&b, "| %s %s %s | `%s` | %s %s | %s |\n", op, fmtValue(g.target), g.what, g.figure, fmtValue(f.Value), f.Unit, g.verdict(f.Value))
	}

	fmt.Fprintf(&b, "\n## Configuration\n\n")
	fmt.Fprintf(&b, "- Topics have %d partitions; one process per worker kind.\n", stackPartitions)
	fmt.Fprintf(&b, "- Unicast and end-to-end workers run the shipped defaults except `stage.batchSize: %d` (so one sender batch fills MiPush calls of 1000 regIds): `stage.batchWait: %s`, `sender.concurrency: 8`, the vendors' default rate limits.\n",
		m.StageBatchSize, m.StageBatchWait)
	fmt.Fprintf(&b, "- Unicast: every request is its own MiPush call, so the bench app's MiPush budget is raised to %g calls/s (default 1000); the latency runs from the start of the request's Produce call (acks=all) to the simulator receiving the call.\n",
		m.UnicastMiPushBudget)
	fmt.Fprintf(&b, "- Ceilings: %d-byte records, %d writers of %d records a call through `pipeline.Producer`; a kafka-go Reader in a consumer group set up like the stages'; ClickHouse inserts of %d event rows from %d inserters; each at most %s.\n",
		ceilingRecordBytes, ceilingWriters, ceilingProduceChunk, stackBatchSize, ceilingInserters, ceilingBudget)
	fmt.Fprintf(&b, "- Counts: ceilings %d records, unicast %s a rate, end-to-end broadcast %d devices, eventsink alone %d events, fan-out broadcast %d devices, sender %d deliveries a vendor.\n",
		m.Options.CeilingRecords, m.Options.UnicastDuration, m.Options.E2EDevices, m.Options.EventsinkEvents, m.Options.BroadcastDevices, m.Options.SenderDeliveries)

	grouped := make([][]Figure, len(figureGroups))
	for _, f := range figs {
		for i, g := range figureGroups {
			if g.match(f.Name) {
				grouped[i] = append(grouped[i], f)
				break
			}
		}
	}
	for i, g := range figureGroups {
		if len(grouped[i]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n| figure | value | unit |\n|---|---:|---|\n", g.title)
		for _, f := range grouped[i] {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, fmtValue(f.Value), f.Unit)
		}
	}
	fmt.Fprintf(&b, "\nEvery figure of this run is also a line `figure_name: value unit` of `latest.txt` beside this report,\nwhich keeps the figures of earlier runs that this one did not measure.\n")
	return b.String()
}

// fmtValue prints v with thousands separators and at most 3 decimals.
func fmtValue(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if math.Abs(v) >= 100 {
		s = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var out []byte
	for i := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	r := string(out)
	if neg {
		r = "-" + r
	}
	if frac != "" {
		r += "." + frac
	}
	return r
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown model".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

// loadAverage is the 1, 5 and 15 minute load average of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// throughputUnits are the units of the figures the chart draws as
// throughput bars.
var throughputUnits = map[string]bool{"msgs/s": true, "rows/s": true, "deliveries/s": true, "events/s": true, "receipts/s": true}

// renderChart returns an SVG with two panels: every throughput figure as a
// horizontal bar on a logarithmic scale, ceilings in their own colour; and
// the unicast latency percentiles on a linear scale with the 20 ms goal.
func renderChart(figs []Figure) string {
	var thr, lat []Figure
	for _, f := range figs {
		switch {
		case throughputUnits[f.Unit] && f.Value > 0:
			thr = append(thr, f)
		case strings.HasPrefix(f.Name, "unicast_p") && f.Unit == "ms":
			lat = append(lat, f)
		}
	}
	const width, labelW, barW, rowH, top = 1100, 400, 500, 20, 40
	h1 := top + rowH*len(thr) + 30
	h2 := top + rowH*len(lat) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, h1+h2)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, h1+h2)

	// Throughput panel, log10 scale from 10^lo to 10^hi.
	lo, hi := 3.0, 4.0
	for _, f := range thr {
		lo = math.Min(lo, math.Floor(math.Log10(f.Value)))
		hi = math.Max(hi, math.Ceil(math.Log10(f.Value)))
	}
	x := func(v float64) float64 { return labelW + barW*(math.Log10(max(v, 1))-lo)/(hi-lo) }
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">Throughput (per second, log scale); ceilings in grey</text>`+"\n")
	for e := lo; e <= hi; e++ {
		px := x(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle" fill="#666">%s</text>`+"\n",
			px, top-5, px, top+rowH*len(thr), px, top+rowH*len(thr)+15, fmtValue(math.Pow(10, e)))
	}
	for i, f := range thr {
		y := top + i*rowH
		color := "#4477aa"
		if strings.Contains(f.Name, "_ceiling_") {
			color = "#999999"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+14, html.EscapeString(f.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+3, x(f.Value)-labelW, rowH-6, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s %s</text>`+"\n", x(f.Value)+4, y+14, fmtValue(f.Value), html.EscapeString(f.Unit))
	}

	// Latency panel, linear scale.
	y0 := h1
	maxMS := 20.0
	for _, f := range lat {
		maxMS = math.Max(maxMS, f.Value)
	}
	maxMS *= 1.1
	lx := func(v float64) float64 { return labelW + barW*v/maxMS }
	fmt.Fprintf(&b, `<text x="10" y="%d" font-size="14" font-weight="bold">Unicast latency, request on Kafka to vendor call (ms); goal p99 &lt;= 20 ms at 2,000 req/s</text>`+"\n", y0+20)
	for i, f := range lat {
		y := y0 + top + i*rowH
		color := "#228833"
		if f.Value > 20 {
			color = "#cc6677"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+14, html.EscapeString(f.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+3, lx(f.Value)-labelW, rowH-6, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s ms</text>`+"\n", lx(f.Value)+4, y+14, fmtValue(f.Value))
	}
	if len(lat) > 0 {
		gx := lx(20)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#cc3311" stroke-dasharray="4 3"/><text x="%.1f" y="%d" fill="#cc3311">20 ms</text>`+"\n",
			gx, y0+top-5, gx, y0+top+rowH*len(lat), gx+3, y0+top+rowH*len(lat)+15)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// writeReport writes report.md and report.svg of figs into dir.
func writeReport(dir string, figs []Figure, m reportMeta) error {
	for name, body := range map[string]string{"report.md": renderReport(figs, m), "report.svg": renderChart(figs)} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
