// Package bench runs the reproducible benchmark behind `make bench`: it
// starts the embedded Kafka-protocol broker and ClickHouse, runs workers as
// their own processes against them, and reports every figure as a line
// `figure_name: value unit`, collected in <state>/bench/latest.txt.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/infra/chdb"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/store"
)

// Options configures a bench run.
type Options struct {
	// StateDir is the pushpipe state directory; the run works in
	// StateDir/bench and writes StateDir/bench/latest.txt.
	StateDir string
	// BroadcastDevices is the audience of the fan-out broadcast figure; 0
	// skips the broadcast figures.
	BroadcastDevices int
	// SenderDeliveries is how many deliveries each vendor's sender figure
	// sends; 0 skips the sender figures.
	SenderDeliveries int
	// AnalyticsEvents is how many synthetic events over 90 days the
	// statistics and funnel query figures run on; 0 skips them.
	AnalyticsEvents int
	// AnalyticsReceipts is how many Huawei receipts the receipts worker
	// figures post (for at most 20 s); 0 skips them.
	AnalyticsReceipts int
	// CeilingRecords is how many raw records the Kafka produce and
	// consume ceilings move, and how many event rows the ClickHouse
	// insert ceiling inserts (each for at most 20 s); 0 skips the
	// ceilings.
	CeilingRecords int
	// UnicastDuration is how long SIMPLE requests are published at each
	// rate of the unicast latency figures (500 and 2,000 requests/s); 0
	// skips them.
	UnicastDuration time.Duration
	// E2EDevices is the audience of the end-to-end broadcast through
	// fanout, sender, eventsink and retry processes; 0 skips it.
	E2EDevices int
	// EventsinkEvents is how many pre-published events the eventsink-alone
	// figure inserts; 0 skips it.
	EventsinkEvents int
	// Binary is the pushpipe executable that runs the workers and the
	// broker (`pushpipe bench broker`).
	Binary string
	// BrokerInMemory keeps the broker's records in memory instead of in
	// segment files, as the bench did before; for comparing the broker's
	// RSS.
	BrokerInMemory bool
	// EndpointCeilings measures each vendor simulator endpoint with
	// h2load, each right before its vendor's sender figure (with
	// SenderDeliveries > 0).
	EndpointCeilings bool
	// Profile saves CPU profiles of the worker processes and the broker
	// during the end-to-end broadcast, and their top 10 functions.
	Profile bool
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Progress receives progress lines; Figures receives the figures.
	Progress, Figures io.Writer
}

// Figure is one measured number.
type Figure struct {
	Name  string
	Value float64
	Unit  string
}

func (f Figure) String() string {
	return fmt.Sprintf("%s: %s %s", f.Name, strconv.FormatFloat(f.Value, 'f', -1, 64), f.Unit)
}

// Run performs the benchmark and returns its figures. The broker runs as
// `o.Binary bench broker`, a process of its own. Each part's figures are
// merged into latest.txt as soon as it finished; once every part ran, the
// broker's memory, the ratios to the ceilings and the ceiling check are
// added and report.md and report.svg are written beside latest.txt, with
// what could not be measured (e.g. without h2load) said in the report. An
// error ends the run at the failing part.
func Run(ctx context.Context, o Options) ([]Figure, error) {
	start, loadStart := time.Now(), loadAverage()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dir := filepath.Join(o.StateDir, "bench")
	work := filepath.Join(dir, "run")
	if err := os.RemoveAll(work); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", work, err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", work, err)
	}
	say := func(format string, args ...any) { _, _ = fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...) }
	// The profiles' tops of an earlier run go: this run's replace them.
	if old, err := filepath.Glob(filepath.Join(dir, "pprof-*.txt")); err == nil {
		for _, f := range old {
			_ = os.Remove(f)
		}
	}

	say("starting the embedded broker (a process of its own) and ClickHouse")
	broker, err := startBrokerProcess(ctx, o.Binary, work, o.BrokerInMemory)
	if err != nil {
		return nil, err
	}
	defer broker.stop()
	ch, err := chdb.Start(ctx, chdb.Config{LibPath: chdb.DefaultLibPath(), DataDir: filepath.Join(work, "clickhouse"), QueryLog: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = ch.Close() }()
	conn, err := store.OpenClickHouse(ctx, store.ClickHouseOptions{Addr: ch.NativeAddr()})
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	env := &runEnv{o: o, work: work, dir: dir, conn: conn, brokers: []string{broker.addr}, chAddr: ch.NativeAddr(), broker: broker, ch: ch, say: say}
	const region, prefix = "sg", "bench_"
	db := prefix + region
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		return nil, err
	}
	brokers := env.brokers
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), 4); err != nil {
		return nil, err
	}

	var figs []Figure
	// part runs one part of the bench and records its figures.
	part := func(what string, run func() ([]Figure, error)) error {
		pfigs, err := run()
		if err != nil {
			return fmt.Errorf("measuring %s: %w", what, err)
		}
		figs = append(figs, pfigs...)
		return writeFigures(dir, pfigs, o.Figures)
	}
	if o.CeilingRecords > 0 {
		if err := part("the ceilings", func() ([]Figure, error) { return runCeilings(ctx, env) }); err != nil {
			return nil, err
		}
	}
	if o.BroadcastDevices > 0 {
		if err := part("the fan-out broadcast", func() ([]Figure, error) {
			return runBroadcast(ctx, o, work, conn, db, brokers, ch.NativeAddr(), say)
		}); err != nil {
			return nil, err
		}
	}
	if o.SenderDeliveries > 0 {
		if err := part("the sender", func() ([]Figure, error) { return runSender(ctx, env) }); err != nil {
			return nil, err
		}
	}
	if o.UnicastDuration > 0 {
		if err := part("unicast latency", func() ([]Figure, error) { return runUnicast(ctx, env) }); err != nil {
			return nil, err
		}
	}
	if o.E2EDevices > 0 {
		if err := part("the end-to-end broadcast", func() ([]Figure, error) { return runE2E(ctx, env) }); err != nil {
			return nil, err
		}
	}
	if o.EventsinkEvents > 0 {
		if err := part("the eventsink alone", func() ([]Figure, error) {
			return runEventsink(ctx, o, work, conn, brokers, ch.NativeAddr(), say)
		}); err != nil {
			return nil, err
		}
	}
	if o.AnalyticsEvents > 0 || o.AnalyticsReceipts > 0 {
		if err := part("analytics", func() ([]Figure, error) { return runAnalytics(ctx, o, work, conn, brokers, say) }); err != nil {
			return nil, err
		}
	}
	if err := part("the broker's memory at the end", func() ([]Figure, error) { return brokerMemory(env) }); err != nil {
		return nil, err
	}
	if err := part("the ratios to the ceilings", func() ([]Figure, error) { return ratios(figs), nil }); err != nil {
		return nil, err
	}
	meta := reportMeta{Start: start, End: time.Now(), LoadStart: loadStart, LoadEnd: loadAverage(), Options: o,
		StageBatchSize: stackBatchSize, StageBatchWait: stackBatchWait, UnicastMiPushBudget: unicastMiPushCallsPerS,
		Notes: env.notes, Profiles: env.profiles}
	if err := writeReport(dir, figs, meta); err != nil {
		return nil, err
	}
	say("report in %s and %s", filepath.Join(dir, "report.md"), filepath.Join(dir, "report.svg"))
	return figs, nil
}

// runEnv is what every part of a run shares.
type runEnv struct {
	o         Options
	work, dir string // the scratch directory of the run; the report's
	conn      driver.Conn
	brokers   []string
	chAddr    string
	broker    *brokerProcess
	ch        *chdb.Server
	say       func(string, ...any)
	// notes are sentences for the report about what could not be
	// measured; profiles the CPU profiles written beside the report.
	notes    []string
	profiles []profileSet
}

// note records a sentence for the report and prints it.
func (e *runEnv) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	e.notes = append(e.notes, n)
	e.say("%s", n)
}

// infraProcs are the broker's and ClickHouse's processes, for a cost
// meter.
func (e *runEnv) infraProcs() []proc {
	return []proc{{procKafka, e.broker.pid}, {procClickHouse, e.ch.PID}}
}

// brokerMemory returns the broker's resident set at the end of the run
// (after every part's records went through it).
func brokerMemory(e *runEnv) ([]Figure, error) {
	ps, err := readProc(e.broker.pid())
	if err != nil {
		return nil, err
	}
	return []Figure{{"rss_mb_broker_at_end", round(ps.RSSMB, 1), "MB"}}, nil
}

// runBroadcast measures a broadcast to o.BroadcastDevices devices through
// one fanout process.
func runBroadcast(ctx context.Context, o Options, work string, conn driver.Conn, db string, brokers []string, chAddr string, say func(string, ...any)) ([]Figure, error) {
	const region, prefix, appID = "sg", "bench_", "BENCH_APP"
	say("registering %d devices", o.BroadcastDevices)
	if err := registerDevices(ctx, conn, db, "mipush", 0, o.BroadcastDevices); err != nil {
		return nil, err
	}
	if err := createBroadcastTemplate(ctx, conn, db); err != nil {
		return nil, err
	}

	cfgPath := filepath.Join(work, "pushpipe.yaml")
	sec, err := securityYAML(work)
	if err != nil {
		return nil, err
	}
	cfgYAML := fmt.Sprintf("regions: [%s]\nkafka: {brokers: [%s], partitions: 4}\nclickhouse: {addr: %q, databasePrefix: %s}\napps: [{appId: %s, workspaceId: bench, mipush: {appSecret: bench-secret, packageName: com.example.bench}}]\nlogLevel: warn\n%s",
		region, brokers[0], chAddr, prefix, appID, sec)
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		return nil, fmt.Errorf("writing bench config: %w", err)
	}
	worker, err := startWorker(ctx, o.Binary, "fanout", region, cfgPath, filepath.Join(work, "fanout.log"))
	if err != nil {
		return nil, err
	}
	defer worker.stop()

	say("broadcasting to %d devices through fanout", o.BroadcastDevices)
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	req := broadcastRequest(region, "bench-broadcast", "bench-msg")
	t0 := time.Now()
	if err := p.Produce(ctx, []pipeline.Output{{Topic: pipeline.RequestsTopic(region), Key: []byte("bench-broadcast"), Value: req}}); err != nil {
		return nil, err
	}
	client := benchClient(brokers)
	var last int64
	for {
		n, err := topicSize(ctx, client, pipeline.DeliveriesTopic(region))
		if err != nil {
			return nil, err
		}
		if n >= int64(o.BroadcastDevices) {
			break
		}
		if n/100_000 != last/100_000 {
			say("%d deliveries out of fanout", n)
		}
		last = n
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %d deliveries (have %d): %w", o.BroadcastDevices, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	elapsed := time.Since(t0)
	rss := worker.peakRSSMB()
	figs := []Figure{
		{"fanout_broadcast_devices", float64(o.BroadcastDevices), "devices"},
		{"fanout_broadcast_seconds", round(elapsed.Seconds(), 3), "s"},
		{"fanout_broadcast_deliveries_per_s", round(float64(o.BroadcastDevices)/elapsed.Seconds(), 0), "deliveries/s"},
		{"fanout_peak_rss_mb", round(rss, 1), "MB"},
	}
	worker.stop()
	return figs, nil
}

func round(v float64, places int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', places, 64), 64)
	return f
}

// topicSize sums the end offsets of every partition of topic.
func topicSize(ctx context.Context, c *kafka.Client, topic string) (int64, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	var n int64
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("listing offsets of %s partition %d: %w", topic, p.Partition, p.Error)
		}
		n += p.LastOffset
	}
	return n, nil
}

type worker struct {
	cmd *exec.Cmd
	log *os.File
	// healthAddr serves the worker's /debug/pprof/.
	healthAddr string
}

func startWorker(ctx context.Context, bin, kind, region, cfg, logPath string) (*worker, error) {
	healthAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, kind, "--region", region, "--config", cfg, "--health-addr", healthAddr)
	cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = log, log, childAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s worker: %w", kind, err)
	}
	return &worker{cmd: cmd, log: log, healthAddr: healthAddr}, nil
}

// pid is the worker process's id.
func (w *worker) pid() int { return w.cmd.Process.Pid }

// peakRSSMB is the worker's peak resident set (VmHWM) in MB, 0 if it
// cannot be read.
func (w *worker) peakRSSMB() float64 {
	ps, _ := readProc(w.pid())
	return ps.PeakRSSMB
}

// stop ends the worker with SIGTERM (SIGKILL after 20 s) by its PID.
func (w *worker) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
	_ = w.log.Close()
}

// writeFigures prints the figures and merges them into latest.txt (a
// figure measured again replaces its old line).
func writeFigures(dir string, figs []Figure, out io.Writer) error {
	path := filepath.Join(dir, "latest.txt")
	lines := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if name, _, ok := strings.Cut(l, ":"); ok {
				lines[name] = l
			}
		}
	}
	for _, f := range figs {
		_, _ = fmt.Fprintln(out, f)
		lines[f.Name] = f.String()
	}
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(lines[k] + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
