package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

func TestRatios(t *testing.T) {
	tests := []struct {
		scenario string
		figs     []Figure
		want     map[string]float64
	}{
		{
			scenario: "throughputs are divided by the ceilings they are compared with",
			figs: []Figure{
				{figProduceCeiling, 400_000, "msgs/s"}, {figConsumeCeiling, 800_000, "msgs/s"}, {figInsertCeiling, 500_000, "rows/s"},
				{"e2e_broadcast_deliveries_per_s", 100_000, "deliveries/s"}, {"eventsink_events_per_s", 240_000, "events/s"},
			},
			want: map[string]float64{
				"e2e_broadcast_deliveries_per_s_ratio_to_kafka_produce_ceiling": 0.25,
				"e2e_broadcast_deliveries_per_s_ratio_to_kafka_consume_ceiling": 0.125,
				"eventsink_events_per_s_ratio_to_clickhouse_insert_ceiling":     0.48,
				"eventsink_events_per_s_ratio_to_kafka_consume_ceiling":         0.3,
				figCeilingViolations: 0,
			},
		},
		{
			scenario: "senders are divided by their endpoint's ceiling, the analytics insert by the insert ceiling",
			figs: []Figure{
				{"sender_deliveries_per_s_apns", 9_000, "deliveries/s"}, {endpointCeiling("apns"), 12_000, "deliveries/s"},
				{"analytics_insert_events_per_s", 200_000, "events/s"}, {figInsertCeiling, 400_000, "rows/s"},
			},
			want: map[string]float64{
				"sender_deliveries_per_s_apns_ratio_to_vendorsim_apns_ceiling":     0.75,
				"analytics_insert_events_per_s_ratio_to_clickhouse_insert_ceiling": 0.5,
				figCeilingViolations: 0,
			},
		},
		{
			scenario: "a figure above its ceiling is counted as a violation, its ratio above 1",
			figs: []Figure{
				{figInsertCeiling, 127_390, "rows/s"}, {"analytics_insert_events_per_s", 228_604, "events/s"},
				{"eventsink_events_per_s", 26_041, "events/s"},
			},
			want: map[string]float64{
				"analytics_insert_events_per_s_ratio_to_clickhouse_insert_ceiling": 1.795,
				"eventsink_events_per_s_ratio_to_clickhouse_insert_ceiling":        0.204,
				figCeilingViolations: 1,
			},
		},
		{
			scenario: "no ratio without its ceiling in the run",
			figs:     []Figure{{"e2e_broadcast_deliveries_per_s", 100_000, "deliveries/s"}, {figInsertCeiling, 500_000, "rows/s"}},
			want:     map[string]float64{},
		},
		{
			scenario: "no ratio to a zero ceiling",
			figs:     []Figure{{"fanout_broadcast_deliveries_per_s", 100_000, "deliveries/s"}, {figProduceCeiling, 0, "msgs/s"}},
			want:     map[string]float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			figs := ratios(tt.figs)
			for _, f := range figs {
				if f.Unit != "ratio" && f.Name != figCeilingViolations {
					t.Errorf("%s has unit %q, want ratio", f.Name, f.Unit)
				}
			}
			checkFigures(t, figs, tt.want)
		})
	}
}

// checkFigures fails t unless figs are exactly the figures of want, with
// their values.
func checkFigures(t *testing.T, figs []Figure, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for _, f := range figs {
		got[f.Name] = f.Value
	}
	if len(got) != len(want) {
		t.Fatalf("figures = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestRenderReport(t *testing.T) {
	tests := []struct {
		scenario string
		figs     []Figure
		want     []string
		notWant  []string
	}{
		{
			scenario: "goals met are stated as met, figures land in their group",
			figs: []Figure{{"e2e_broadcast_deliveries_per_s", 61_234, "deliveries/s"}, {"unicast_p99_ms_at_2000rps", 12.5, "ms"},
				{"peak_rss_mb_sender", 80.2, "MB"}, {figProduceCeiling, 350_000, "msgs/s"}},
			want: []string{"| 61,234 deliveries/s | met |", "| 12.5 ms | met |", "## Memory of the processes (RSS)\n\n| figure | value | unit |\n|---|---:|---|\n| `peak_rss_mb_sender` | 80.2 | MB |",
				"## Ceilings", "(report.svg)"},
			notWant: []string{"not met", "## Ceiling check", "## Not measured"},
		},
		{
			scenario: "the cost of a delivery has its goals and its own group",
			figs: []Figure{{"cpu_us_per_delivery", 572, "µs"}, {"cpu_us_per_delivery_clickhouse", 366, "µs"}, {"clickhouse_rows_read_per_delivery", 1200, "rows"},
				{"clickhouse_rows_written_per_delivery", 7, "rows"}, {"unicast_cpu_us_per_delivery_at_5000rps_apns", 90, "µs"}},
			want: []string{"| <= 100 µs CPU a delivery, every process, until its events are stored | `cpu_us_per_delivery` | 572 µs | not met |",
				"| <= 5 ClickHouse rows read a delivery | `clickhouse_rows_read_per_delivery` | 1,200 rows | not met |",
				"## Cost of one delivery (CPU time of every process, ClickHouse rows)\n\n| figure | value | unit |\n|---|---:|---|\n| `cpu_us_per_delivery` | 572 | µs |\n| `cpu_us_per_delivery_clickhouse` | 366 | µs |\n| `clickhouse_rows_read_per_delivery` | 1,200 | rows |\n| `clickhouse_rows_written_per_delivery` | 7 | rows |\n| `unicast_cpu_us_per_delivery_at_5000rps_apns` | 90 | µs |\n"},
			notWant: []string{"## Ceilings"},
		},
		{
			scenario: "a sender meets its goal through the ratio to its endpoint's ceiling",
			figs: []Figure{{"sender_deliveries_per_s_apns", 9_000, "deliveries/s"}, {"sender_deliveries_per_s_apns_ratio_to_vendorsim_apns_ceiling", 0.9, "ratio"},
				{"sender_deliveries_per_s_fcm", 9_000, "deliveries/s"}, {"sender_deliveries_per_s_fcm_ratio_to_vendorsim_fcm_ceiling", 0.5, "ratio"}},
			want: []string{"| >= 30,000 deliveries/s through one sender to apns, or >= 0.8 of the endpoint's ceiling | `sender_deliveries_per_s_apns` / `sender_deliveries_per_s_apns_ratio_to_vendorsim_apns_ceiling` | 9,000 deliveries/s / 0.9 ratio | met |",
				"| 9,000 deliveries/s / 0.5 ratio | not met |"},
		},
		{
			scenario: "figures above their ceiling are listed, a run without them says so",
			figs:     []Figure{{figInsertCeiling, 127_390, "rows/s"}, {"analytics_insert_events_per_s", 228_604, "events/s"}, {figCeilingViolations, 1, "figures"}},
			want: []string{"## Ceiling check: 1 figures above their ceiling", "| `analytics_insert_events_per_s` | 228,604 | `clickhouse_insert_ceiling_rows_per_s` | 127,390 |",
				"| <= 0 figures above a ceiling | `ceiling_violations` | 1 figures | not met |"},
			notWant: []string{"no figure of this run is above a ceiling"},
		},
		{
			scenario: "a run whose figures are within their ceilings says so",
			figs:     []Figure{{figInsertCeiling, 500_000, "rows/s"}, {"analytics_insert_events_per_s", 228_604, "events/s"}, {figCeilingViolations, 0, "figures"}},
			want:     []string{"Ceiling check: no figure of this run is above a ceiling it is compared with.", "| 0 figures | met |"},
			notWant:  []string{"## Ceiling check"},
		},
		{
			scenario: "goals missed are stated as not met",
			figs:     []Figure{{"e2e_broadcast_deliveries_per_s", 49_999, "deliveries/s"}, {"unicast_p99_ms_at_2000rps", 20.1, "ms"}},
			want:     []string{"| 49,999 deliveries/s | not met |", "| 20.1 ms | not met |"},
		},
		{
			scenario: "goals of parts that did not run are stated as not measured",
			figs:     []Figure{{"stats_query_p50_ms", 40, "ms"}},
			want:     []string{"`e2e_broadcast_deliveries_per_s` | not measured in this run", "`unicast_p99_ms_at_2000rps` | not measured in this run", "## Analytics queries"},
		},
	}
	meta := reportMeta{Start: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 12, 15, 0, 0, time.UTC),
		LoadStart: "1.00, 1.00, 1.00", LoadEnd: "2.00, 2.00, 2.00", StageBatchSize: stackBatchSize, StageBatchWait: stackBatchWait}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			md := renderReport(tt.figs, meta)
			checkReport(t, md, tt.want, tt.notWant)
		})
	}
}

func TestRenderReportNotesAndProfiles(t *testing.T) {
	tests := []struct {
		scenario      string
		meta          reportMeta
		want, notWant []string
	}{
		{
			scenario: "what could not be measured is said, with why",
			meta:     reportMeta{Notes: []string{endpointToolMissed}},
			want:     []string{"## Not measured\n\n- The vendor simulator's endpoint ceilings were not measured: h2load is not installed"},
			notWant:  []string{"CPU profiles of the end-to-end broadcast"},
		},
		{
			scenario: "the profiles beside the report are linked",
			meta: reportMeta{Profiles: []profileSet{{What: "the end-to-end broadcast", Prefix: "pprof", Names: []string{"broker", "sender"}},
				{What: "the unicast requests to APNs at 5000/s", Prefix: "pprof-unicast", Names: []string{"fanout"}}}},
			want: []string{"CPU profiles of the end-to-end broadcast, top 10 functions of each process: [broker](pprof-broker.txt), [sender](pprof-sender.txt) (raw profiles in `pprof/`, e.g. `go tool pprof -http=: pprof/sender-*.pb.gz`)",
				"CPU profiles of the unicast requests to APNs at 5000/s, top 10 functions of each process: [fanout](pprof-unicast-fanout.txt) (raw profiles in `pprof-unicast/`"},
			notWant: []string{"## Not measured"},
		},
		{
			scenario: "the broker's records in memory are said so",
			meta:     reportMeta{Options: Options{BrokerInMemory: true}},
			want:     []string{"its records in memory (`--broker-in-memory`)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			checkReport(t, renderReport(nil, tt.meta), tt.want, tt.notWant)
		})
	}
}

// checkReport fails t unless md contains every want and no notWant.
func checkReport(t *testing.T, md string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(md, w) {
			t.Errorf("report lacks %q:\n%s", w, md)
		}
	}
	for _, w := range notWant {
		if strings.Contains(md, w) {
			t.Errorf("report contains %q:\n%s", w, md)
		}
	}
}

func TestRenderChart(t *testing.T) {
	tests := []struct {
		scenario string
		figs     []Figure
		bars     int
	}{
		{
			scenario: "one bar per throughput and per unicast percentile",
			figs: []Figure{{figProduceCeiling, 350_000, "msgs/s"}, {"e2e_broadcast_deliveries_per_s", 60_000, "deliveries/s"},
				{"unicast_p50_ms_at_500rps", 3.2, "ms"}, {"unicast_p99_ms_at_2000rps", 25, "ms"}, {"peak_rss_mb_fanout", 60, "MB"}},
			bars: 4,
		},
		{scenario: "no figures draw an empty but valid chart", bars: 0},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			dec := xml.NewDecoder(strings.NewReader(renderChart(tt.figs)))
			rects := 0
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("chart is not well-formed XML: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
					rects++
				}
			}
			if rects-1 != tt.bars { // one rect is the background
				t.Errorf("chart has %d bars, want %d", rects-1, tt.bars)
			}
		})
	}
}

func TestUnicastSpans(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pub := map[string]time.Time{"a": t0, "b": t0.Add(time.Millisecond)}
	tests := []struct {
		scenario string
		reqs     []vendorsim.Request
		want     []float64
	}{
		{
			scenario: "each published token counts once, at its first call",
			reqs: []vendorsim.Request{{Time: t0.Add(5 * time.Millisecond), RegIDs: []string{"a"}},
				{Time: t0.Add(7 * time.Millisecond), RegIDs: []string{"b", "a"}}},
			want: []float64{5, 6},
		},
		{
			scenario: "tokens that were not published are ignored",
			reqs:     []vendorsim.Request{{Time: t0.Add(2 * time.Millisecond), RegIDs: []string{"warm-up"}}},
			want:     []float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got := spans(pub, firstCalls(tt.reqs, pub))
			sort.Float64s(got)
			if len(got) != len(tt.want) {
				t.Fatalf("latencies = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("latencies = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestWriteUnicastTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	pub := map[string]time.Time{"late": at(2), "first": at(0), "lost": at(1)}
	written := map[string]time.Time{"first": at(3.5), "late": at(4), "lost": at(5)}
	calls := map[string]time.Time{"first": at(6), "late": at(12.25)}
	path := filepath.Join(t.TempDir(), "unicast.csv")
	if err := writeUnicastTimes(path, pub, written, calls); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// In publishing order; a request whose call never came has no sender
	// or whole latency.
	want := "published_ms,fanout_ms,sender_ms,total_ms\n0.00,3.50,2.50,6.00\n1.00,4.00,,\n2.00,2.00,8.25,10.25\n"
	if string(got) != want {
		t.Errorf("CSV =\n%s\nwant\n%s", got, want)
	}
}
