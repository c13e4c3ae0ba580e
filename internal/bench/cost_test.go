package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/config"
)

func TestCostFigures(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a := costSnapshot{at: t0, cpu: map[string]time.Duration{"sender": time.Second, procClickHouse: 2 * time.Second, procBench: time.Second},
		inserted: 1_000, selected: 50_000, ownSelected: 10, ownInserted: 0, ownCPU: 100 * time.Millisecond}
	b := costSnapshot{at: t0.Add(10 * time.Second), cpu: map[string]time.Duration{"sender": 3 * time.Second, procClickHouse: 5 * time.Second, procBench: 4 * time.Second},
		inserted: 71_000, selected: 2_050_010, ownSelected: 2_000_010, ownInserted: 0, ownCPU: 600 * time.Millisecond}
	tests := []struct {
		scenario       string
		prefix, suffix string
		n              int
		order          []string
		want           map[string]float64
	}{
		{
			scenario: "CPU of every process but the bench's, and ClickHouse rows without the bench's own queries, per delivery",
			n:        10_000, order: []string{"sender", procClickHouse, procBench},
			want: map[string]float64{
				// sender 2 s + ClickHouse 3 s less the bench's 0.5 s = 4.5 s over 10,000 deliveries
				"cpu_us_per_delivery":                  450,
				"cpu_us_per_delivery_sender":           200,
				"cpu_us_per_delivery_clickhouse":       250,
				"cpu_us_per_delivery_bench":            300,
				"clickhouse_rows_written_per_delivery": 7,
				"clickhouse_rows_read_per_delivery":    0,
			},
		},
		{
			scenario: "prefix and suffix name the run, no split by process without an order",
			prefix:   "unicast_", suffix: "_at_5000rps_apns", n: 50_000,
			want: map[string]float64{
				"unicast_cpu_us_per_delivery_at_5000rps_apns":                  90,
				"unicast_clickhouse_rows_written_per_delivery_at_5000rps_apns": 1.4,
				"unicast_clickhouse_rows_read_per_delivery_at_5000rps_apns":    0,
			},
		},
		{scenario: "no deliveries, no figures", n: 0, want: map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c := between(a, b)
			if c.elapsed != 10*time.Second {
				t.Errorf("elapsed = %s, want 10s", c.elapsed)
			}
			checkFigures(t, c.figures(tt.prefix, tt.suffix, tt.n, tt.order), tt.want)
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		scenario, stat string
		want           time.Duration
		wantErr        string
	}{
		{scenario: "utime and stime are added, in ticks of 10 ms",
			stat: "4242 (pushpipe) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 130 0 0 20 0 12 0 100 0 0",
			want: 3800 * time.Millisecond},
		{scenario: "a command name with spaces and parentheses",
			stat: "77 (my (odd) cmd) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0",
			want: 100 * time.Millisecond},
		{scenario: "a truncated line", stat: "77 (x) R 1 2", wantErr: "fields after the command name"},
		{scenario: "no command name", stat: "garbage", wantErr: "no command name"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStatCPU = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatCPU = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestMachineBusy(t *testing.T) {
	tests := []struct {
		scenario string
		a, b     string
		want     float64
	}{
		{scenario: "busy is user, nice, system, irq, softirq and steal over everything but guest",
			a:    "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3",
			b:    "cpu  160 10 80 820 50 5 5 0 0 0\n",
			want: 84.6}, // busy 150 -> 260, all 1000 -> 1130: 110 / 130
		{scenario: "a saturated machine", a: "cpu  10 0 0 90 0 0 0 0", b: "cpu  160 0 50 90 0 0 0 0", want: 100},
		{scenario: "no cpu line: unknown", a: "intr 1 2", b: "intr 3 4", want: 0},
		{scenario: "a field that is not a number: unknown", a: "cpu  1 x 3 4 5 6 7 8", b: "cpu  2 x 3 4 5 6 7 8", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c := between(costSnapshot{machine: parseMachineCPU(tt.a)}, costSnapshot{machine: parseMachineCPU(tt.b)})
			if c.machineBusy != tt.want {
				t.Errorf("machineBusy = %v, want %v", c.machineBusy, tt.want)
			}
		})
	}
}

func TestReadProcOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	// Spend some CPU so the reading cannot be zero.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU <= 0 || s.RSSMB <= 0 || s.PeakRSSMB < s.RSSMB {
		t.Fatalf("readProc(self) = %+v: want CPU > 0 and 0 < RSS <= peak RSS", s)
	}
}

func TestParseH2load(t *testing.T) {
	const summary = `starting benchmark...
finished in 5.00s, 6510.20 req/s, 1.21MB/s
requests: 32551 total, 32651 started, 32551 done, 32551 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 32551 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 6.07MB (6361234) total`
	tests := []struct {
		scenario, out string
		want          h2loadResult
		wantErr       bool
	}{
		{scenario: "elapsed time, requests done and 2xx answers", out: summary,
			want: h2loadResult{elapsed: 5 * time.Second, done: 32551, ok2xx: 32551}},
		{scenario: "an elapsed time in ms", out: strings.Replace(summary, "5.00s", "850.5ms", 1),
			want: h2loadResult{elapsed: 850500 * time.Microsecond, done: 32551, ok2xx: 32551}},
		{scenario: "refused calls are not 2xx", out: strings.Replace(summary, "32551 2xx, 0 3xx, 0 4xx", "0 2xx, 0 3xx, 32551 4xx", 1),
			want: h2loadResult{elapsed: 5 * time.Second, done: 32551, ok2xx: 0}},
		{scenario: "no summary (h2load could not connect)", out: "connect error\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got, err := parseH2load([]byte(tt.out))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseH2load = %+v, %v; want %+v (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCallTokens(t *testing.T) {
	tests := []struct {
		scenario string
		req      vendorsim.Request
		want     []string
	}{
		{scenario: "MiPush's regIds", req: vendorsim.Request{Vendor: "mipush", Path: "/mipush/eu/v3/message/regid", RegIDs: []string{"a", "b"}}, want: []string{"a", "b"}},
		{scenario: "the device token of an APNs path", req: vendorsim.Request{Vendor: "apns", Path: "/apns/eu/3/device/00ff"}, want: []string{"00ff"}},
		{scenario: "a token request carries none", req: vendorsim.Request{Vendor: "fcm", Path: "/fcm/eu/token"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := callTokens(tt.req); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("callTokens = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBestShape(t *testing.T) {
	var b best
	for _, s := range []struct {
		shape
		moved int
		el    time.Duration
	}{
		{shape{1, 1000}, 100_000, time.Second},
		{shape{4, 10_000}, 900_000, 2 * time.Second},
		{shape{4, 100_000}, 300_000, time.Second},
		{shape{16, 100}, 0, time.Second}, // moved nothing
	} {
		b.consider(s.shape, s.moved, s.el)
	}
	if b.shape != (shape{4, 10_000}) || b.rate != 450_000 {
		t.Fatalf("best = %+v, want 4×10,000 at 450,000/s", b)
	}
}

// TestStackConfigLoads writes the bench's worker configurations and loads
// them as a worker does: they must be valid configurations.
func TestStackConfigLoads(t *testing.T) {
	dir := t.TempDir()
	demo, err := startDemoSim(context.Background(), dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = demo.Close() }()
	tests := []struct {
		scenario string
		c        stackConfig
		check    func(t *testing.T, c *config.Config)
	}{
		{scenario: "MiPush only, ClickHouse and the simulator",
			c: stackConfig{region: "eu", brokers: []string{"127.0.0.1:9092"}, chAddr: "127.0.0.1:9000", simAddr: "127.0.0.1:8080"},
			check: func(t *testing.T, c *config.Config) {
				if c.Apps[0].Credentials["mipush"] == nil || c.Apps[0].Credentials["apns"] != nil {
					t.Errorf("apps = %+v, want MiPush credentials only", c.Apps)
				}
			}},
		{scenario: "every vendor's demo credentials with rate limits of the bench app",
			c: stackConfig{region: "eu", brokers: []string{"127.0.0.1:9092"}, chAddr: "127.0.0.1:9000", demo: demo,
				limits: []appLimit{{"mipush", 5000, "calls"}, {"apns", 10_000, "messages"}}},
			check: func(t *testing.T, c *config.Config) {
				a := c.Apps[0]
				if a.Credentials["apns"] == nil || a.Credentials["fcm"] == nil || a.Credentials["hms"] == nil || a.Credentials["vivo"] == nil || a.Credentials["self"] == nil {
					t.Errorf("app %+v lacks a vendor's credentials", a)
				}
				if got := c.Sender.RateLimit.Apps; len(got) != 2 || got[1].Vendor != "apns" || got[1].Rate != 10_000 {
					t.Errorf("rate limits = %+v, want mipush and apns ones", got)
				}
			}},
		{scenario: "no rate limit, more sender concurrency, no ClickHouse",
			c: stackConfig{region: "cn", brokers: []string{"127.0.0.1:9092"}, demo: demo, noRateLimit: true, senderConcurrency: 16},
			check: func(t *testing.T, c *config.Config) {
				if !c.Sender.RateLimit.Disabled || c.Sender.Concurrency != 16 {
					t.Errorf("sender = %+v, want rate limits off and concurrency 16", c.Sender)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			path := filepath.Join(dir, tt.scenario+".yaml")
			if err := writeStackConfig(path, tt.c); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(path)
			if err != nil {
				t.Fatalf("loading the written configuration: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("the written configuration is invalid: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestThreadCPU(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name  string
		a, b  map[int]threadSample
		total time.Duration
		want  map[string]time.Duration
	}{
		{"threads summed by name",
			map[int]threadSample{1: {"MergeMutate", ms(100)}, 2: {"MergeMutate", ms(50)}, 3: {"TCPHandler", ms(10)}},
			map[int]threadSample{1: {"MergeMutate", ms(300)}, 2: {"MergeMutate", ms(70)}, 3: {"TCPHandler", ms(40)}},
			ms(250), map[string]time.Duration{"MergeMutate": ms(220), "TCPHandler": ms(30)}},
		{"a new thread counts whole, an exited one goes to the rest",
			map[int]threadSample{1: {"BgSchPool", ms(100)}, 2: {"QueryPipelineEx", ms(500)}},
			map[int]threadSample{1: {"BgSchPool", ms(150)}, 4: {"SystemLogFlush", ms(20)}},
			ms(100), map[string]time.Duration{"BgSchPool": ms(50), "SystemLogFlush": ms(20), "(exited threads)": ms(30)}},
		{"a thread id reused under another name counts whole",
			map[int]threadSample{1: {"QueryPipelineEx", ms(400)}},
			map[int]threadSample{1: {"TCPHandler", ms(10)}},
			ms(10), map[string]time.Duration{"TCPHandler": ms(10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := threadCPU(tc.a, tc.b, tc.total)
			if len(got) != len(tc.want) {
				t.Fatalf("threadCPU = %v, want %v", got, tc.want)
			}
			for name, d := range tc.want {
				if got[name] != d {
					t.Errorf("threadCPU[%q] = %v, want %v (all: %v)", name, got[name], d, got)
				}
			}
		})
	}
}

func TestReadThreadsOfThisProcess(t *testing.T) {
	threads, err := readThreads(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := threads[os.Getpid()]; !ok {
		t.Errorf("readThreads(%d) = %v, want the main thread %d among them", os.Getpid(), threads, os.Getpid())
	}
	for tid, s := range threads {
		if s.name == "" || s.cpu < 0 {
			t.Errorf("thread %d: %+v, want a name and a CPU time ≥ 0", tid, s)
		}
	}
}
