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

	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
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
// against the ClickHouse insert ceiling, and one that calls a vendor
// against the ceiling of the simulator's endpoint of that vendor (the
// end-to-end broadcast calls MiPush).
func ratioPairs() []ratioPair {
	pairs := []ratioPair{
		{"e2e_broadcast_deliveries_per_s", figProduceCeiling},
		{"e2e_broadcast_deliveries_per_s", figConsumeCeiling},
		{"e2e_broadcast_deliveries_per_s", endpointCeiling("mipush")},
		{"e2e_broadcast_events_per_s", figInsertCeiling},
		{"fanout_broadcast_deliveries_per_s", figProduceCeiling},
		{"eventsink_events_per_s", figInsertCeiling},
		{"eventsink_events_per_s", figConsumeCeiling},
		{"analytics_insert_events_per_s", figInsertCeiling},
		{"receipts_per_s", figProduceCeiling},
	}
	for _, v := range senderVendors {
		pairs = append(pairs, ratioPair{"sender_deliveries_per_s_" + v, figConsumeCeiling},
			ratioPair{"sender_deliveries_per_s_" + v, endpointCeiling(v)})
	}
	return pairs
}

// ratioName is the name of the figure f divided by ceiling c, e.g.
// e2e_broadcast_deliveries_per_s_ratio_to_kafka_produce_ceiling.
func ratioName(f, c string) string {
	for _, unit := range []string{"_msgs_per_s", "_rows_per_s", "_deliveries_per_s"} {
		c = strings.TrimSuffix(c, unit)
	}
	return f + "_ratio_to_" + c
}

// figCeilingViolations counts the figures above a ceiling they are
// compared with.
const figCeilingViolations = "ceiling_violations"

// ratios returns, for every pair of ratioPairs whose both figures are in
// figs, the figure as a fraction of its ceiling, and, if any ceiling was
// measured, figCeilingViolations.
func ratios(figs []Figure) []Figure {
	byName := map[string]float64{}
	for _, f := range figs {
		byName[f.Name] = f.Value
	}
	var out []Figure
	compared := false
	for _, p := range ratioPairs() {
		v, okF := byName[p.figure]
		c, okC := byName[p.ceiling]
		if okF && okC && c > 0 {
			out = append(out, Figure{ratioName(p.figure, p.ceiling), round(v/c, 3), "ratio"})
			compared = true
		}
	}
	if compared {
		out = append(out, Figure{figCeilingViolations, float64(len(ceilingViolations(figs))), "figures"})
	}
	return out
}

// violation is a figure above a ceiling it is compared with.
type violation struct {
	ratioPair
	value, limit float64
}

// ceilingViolations returns every pair of ratioPairs whose figure is above
// its (measured, non-zero) ceiling: a ceiling below a rate the same run
// reached is not a ceiling, and every ratio to it is wrong.
func ceilingViolations(figs []Figure) []violation {
	byName := map[string]float64{}
	for _, f := range figs {
		byName[f.Name] = f.Value
	}
	var out []violation
	for _, p := range ratioPairs() {
		v, okF := byName[p.figure]
		c, okC := byName[p.ceiling]
		if okF && okC && c > 0 && v > c {
			out = append(out, violation{p, v, c})
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
	// or, if set, is an alternative: the goal is met if either is.
	or *goal
}

// goals are the targets of issues 8 and 15 on a 2-core machine with
// everything co-located.
var goals = func() []goal {
	gs := []goal{
		{figure: "e2e_broadcast_deliveries_per_s", target: 50_000, what: "deliveries/s end to end, broadcast to 1,000,000 devices"},
		{figure: "unicast_p99_ms_at_2000rps", atMost: true, target: 20, what: "ms p99 unicast latency at 2,000 requests/s"},
		{figure: "unicast_p99_ms_at_5000rps_apns", atMost: true, target: 20, what: "ms p99 unicast latency at 5,000 requests/s to APNs (HTTP/2, TLS)"},
		{figure: "cpu_us_per_delivery", atMost: true, target: 100, what: "µs CPU a delivery, every process, until its events are stored"},
		{figure: "clickhouse_rows_read_per_delivery", atMost: true, target: 5, what: "ClickHouse rows read a delivery"},
		{figure: "eventsink_events_per_s", target: 200_000, what: "events/s through one eventsink"},
		{figure: "e2e_broadcast_stored_after_delivered_s", atMost: true, target: 30, what: "s from the last delivery to its events stored"},
	}
	for _, v := range []string{"apns", "fcm"} {
		gs = append(gs, goal{figure: "sender_deliveries_per_s_" + v, target: 30_000, what: "deliveries/s through one sender to " + v,
			or: &goal{figure: ratioName("sender_deliveries_per_s_"+v, endpointCeiling(v)), target: 0.8, what: "of the endpoint's ceiling"}})
	}
	for _, k := range e2eKinds {
		gs = append(gs, goal{figure: "peak_rss_mb_" + k, atMost: true, target: 300, what: "MB peak RSS of " + k + " in the end-to-end broadcast"})
	}
	return append(gs, goal{figure: figCeilingViolations, atMost: true, target: 0, what: "figures above a ceiling"})
}()

func (g goal) holds(value float64) bool {
	return (g.atMost && value <= g.target) || (!g.atMost && value >= g.target)
}

// op is the goal's comparison.
func (g goal) op() string {
	if g.atMost {
		return "<="
	}
	return ">="
}

// goalRow is the goal's row of the report's goal table, given the
// figures by name.
func (g goal) row(byName map[string]Figure) string {
	target := fmt.Sprintf("%s %s %s", g.op(), fmtValue(g.target), g.what)
	figure := "`" + g.figure + "`"
	f, ok := byName[g.figure]
	measured := ""
	met := ok && g.holds(f.Value)
	if ok {
		measured = fmtValue(f.Value) + " " + f.Unit
	}
	if g.or != nil {
		target += fmt.Sprintf(", or %s %s %s", g.or.op(), fmtValue(g.or.target), g.or.what)
		figure += " / `" + g.or.figure + "`"
		if of, ook := byName[g.or.figure]; ook {
			measured += " / " + fmtValue(of.Value) + " " + of.Unit
			met = met || g.or.holds(of.Value)
			ok = true
		}
	}
	if !ok {
		return fmt.Sprintf("| %s | %s | not measured in this run | |\n", target, figure)
	}
	verdict := "not met"
	if met {
		verdict = "met"
	}
	return fmt.Sprintf("| %s | %s | %s | %s |\n", target, figure, strings.TrimPrefix(measured, " / "), verdict)
}

// reportMeta describes the run a report is about.
type reportMeta struct {
	Start, End          time.Time
	LoadStart, LoadEnd  string
	Options             Options
	StageBatchSize      int
	StageBatchWait      time.Duration
	UnicastMiPushBudget float64
	// Notes say what could not be measured, and why.
	Notes []string
	// Profiles are the stretches whose CPU profiles' tops are beside the
	// report.
	Profiles []profileSet
}

// figureGroups orders the report's tables; a figure goes to the first
// group that matches it.
var figureGroups = []struct {
	title string
	match func(name string) bool
}{
	{"Cost of one delivery (CPU time of every process, ClickHouse rows)", func(n string) bool { return strings.Contains(n, "_per_delivery") }},
	{"Ratios to the ceilings", func(n string) bool { return strings.Contains(n, "_ratio_to_") || n == figCeilingViolations }},
	{"Ceilings (raw infrastructure and the vendor simulator's endpoints, same run)", func(n string) bool {
		return strings.HasPrefix(n, "kafka_") || strings.HasPrefix(n, "clickhouse_") || strings.HasPrefix(n, "vendorsim_")
	}},
	{"Unicast latency (request on Kafka → vendor call at the simulator)", func(n string) bool { return strings.HasPrefix(n, "unicast_") }},
	{"End-to-end broadcast (fanout + sender + eventsink + retry)", func(n string) bool { return strings.HasPrefix(n, "e2e_") }},
	{"Memory of the processes (RSS)", func(n string) bool { return strings.Contains(n, "rss_mb") }},
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
		b.WriteString(g.row(byName))
	}

	if vs := ceilingViolations(figs); len(vs) > 0 {
		fmt.Fprintf(&b, "\n## Ceiling check: %d figures above their ceiling\n\n", len(vs))
		fmt.Fprintf(&b, "A ceiling below a rate the same run reached is not a ceiling: these ratios are wrong, and the ceiling needs a better shape.\n\n")
		fmt.Fprintf(&b, "| figure | value | ceiling | value |\n|---|---:|---|---:|\n")
		for _, v := range vs {
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", v.figure, fmtValue(v.value), v.ceiling, fmtValue(v.limit))
		}
	} else if _, ok := byName[figCeilingViolations]; ok {
		fmt.Fprintf(&b, "\nCeiling check: no figure of this run is above a ceiling it is compared with.\n")
	}
	if len(m.Notes) > 0 {
		fmt.Fprintf(&b, "\n## Not measured\n\n")
		for _, n := range m.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}

	fmt.Fprintf(&b, "\n## Configuration\n\n")
	fmt.Fprintf(&b, "- Topics have %d partitions; one process per worker kind. The broker runs in a process of its own (`pushpipe bench broker`), its records %s, with the embedded broker's default retention (a day, no size bound). Every producer writes its record batches of more than %d records %s-compressed (the `kafka.compression` default), smaller ones uncompressed.\n",
		stackPartitions, map[bool]string{true: "in memory (`--broker-in-memory`)", false: "in segment files"}[m.Options.BrokerInMemory], pipeline.UncompressedRecords, pipeline.DefaultCompression)
	fmt.Fprintf(&b, "- Unicast and end-to-end workers run the shipped defaults except `stage.batchSize: %d` (so one sender batch fills MiPush calls of 1000 regIds): `stage.batchWait: %s`, `sender.concurrency: 8`, `sender.concurrentBatches: 4`, the vendors' default rate limits.\n",
		m.StageBatchSize, m.StageBatchWait)
	fmt.Fprintf(&b, "- Unicast: every MiPush request is its own MiPush call, so the bench app's MiPush budget is raised to %g calls/s (default 1000); APNs has no default budget (Apple publishes none) for the 5,000/s phase to APNs over HTTP/2 with TLS; the latency runs from the start of the request's Produce call (acks=all) to the simulator receiving the call. The publisher and the simulator run in the bench process, whose garbage collector runs at GOGC %d meanwhile so that its own pauses add less to the latencies; the workers and the broker run Go's default (100).\n",
		m.UnicastMiPushBudget, unicastGCPercent)
	fmt.Fprintf(&b, "- Ceilings, each the best of its shapes, each shape at most %s and %d units: produce of %d-byte records through `pipeline.Producer` (%s writers × records a call); consume with kafka-go Readers in a consumer group set up like the stages' (%s readers × MB a fetch); columnar ClickHouse inserts of event rows (%s inserters × rows an insert).\n",
		ceilingShapeBudget, m.Options.CeilingRecords, ceilingRecordBytes, shapesText(produceShapes), shapesText(consumeShapes), shapesText(insertShapes))
	fmt.Fprintf(&b, "- The eventsink's batches are its own, its defaults: `eventsink.batchSize: %d`, `eventsink.batchWait: %s`, `eventsink.batchLinger: %s`, `eventsink.memoryLimitMB: %d`.\n",
		config.DefaultEventsinkBatchSize, config.DefaultEventsinkBatchWait, config.DefaultEventsinkBatchLinger, config.DefaultEventsinkMemoryLimitMB)
	fmt.Fprintf(&b, "- Endpoint ceilings: one call of each vendor's channel (its credentials, body and up to %d tokens, as the sender makes it) is replayed by h2load for %s in each of several shapes (connections × requests under way on each: %s over HTTP/1.1, %s over HTTP/2 with TLS for the vendors the simulator serves over TLS, %s, as their channels call them); the ceiling is the best shape's 2xx answers a second times the call's tokens (the simulator must have accepted as many messages).\n",
		endpointCaptureMessages, endpointLoad, shapesText(endpointShapesH1), shapesText(endpointShapesH2), strings.Join(endpointTLSVendors(), ", "))
	fmt.Fprintf(&b, "- Cost of one delivery: user+system CPU time of every process (/proc/<pid>/stat: the workers, the broker, ClickHouse; the bench process with the simulator is shown apart and not counted) ClickHouse's InsertedRows (system.events) and the rows the workers' SELECTs read (system.query_log; their INSERTs' reads apart, `_by_views_`), from publishing the broadcast until its acked events are stored, divided by the deliveries; what the bench's own ClickHouse queries cost (their profile events) is left out. `_until_merged` runs on until no merge ran for 1.5 s.\n")
	fmt.Fprintf(&b, "- Counts: ceilings %d records, unicast %s a rate, end-to-end broadcast %d devices, eventsink alone %d events, fan-out broadcast %d devices, sender %d deliveries a vendor.\n",
		m.Options.CeilingRecords, m.Options.UnicastDuration, m.Options.E2EDevices, m.Options.EventsinkEvents, m.Options.BroadcastDevices, m.Options.SenderDeliveries)
	for _, set := range m.Profiles {
		var links []string
		for _, p := range set.Names {
			links = append(links, fmt.Sprintf("[%s](%s-%s.txt)", p, set.Prefix, p))
		}
		fmt.Fprintf(&b, "- CPU profiles of %s, top 10 functions of each process: %s (raw profiles in `%s/`, e.g. `go tool pprof -http=: %s/%s-*.pb.gz`).\n",
			set.What, strings.Join(links, ", "), set.Prefix, set.Prefix, set.Names[len(set.Names)-1])
	}

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

// shapesText lists shapes as "1×100, 4×1000".
func shapesText(ss []shape) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%d×%s", s.clients, fmtValue(float64(s.size)))
	}
	return strings.Join(parts, ", ")
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
	defer func() { _ = f.Close() }()
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
