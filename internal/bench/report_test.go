package bench

import (
	"encoding/xml"
	"errors"
	"io"
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
			got := map[string]float64{}
			for _, f := range ratios(tt.figs) {
				if f.Unit != "ratio" {
					t.Errorf("%s has unit %q, want ratio", f.Name, f.Unit)
				}
				got[f.Name] = f.Value
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ratios = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
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
			want: []string{"| 61,234 deliveries/s | met |", "| 12.5 ms | met |", "## Peak RSS of the worker processes\n\n| figure | value | unit |\n|---|---:|---|\n| `peak_rss_mb_sender` | 80.2 | MB |",
				"## Ceilings", "(report.svg)"},
			notWant: []string{"not met", "not measured"},
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
			for _, w := range tt.want {
				if !strings.Contains(md, w) {
					t.Errorf("report lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(md, w) {
					t.Errorf("report contains %q:\n%s", w, md)
				}
			}
		})
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
