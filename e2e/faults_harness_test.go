package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// faultPlan is the traffic of a fault test: SIMPLE pushes of ten targets
// each to devices planted straight into the device table, one delivery per
// device. Task, device and token names start with prefix, so the test's
// events are those whose task id starts with prefix + "-".
type faultPlan struct {
	prefix  string
	devices int
	// badEvery gives every badEvery-th device a token the vendor reports
	// invalid, whose delivery ends failed; 0 gives none.
	badEvery int
}

// bad is the number of deliveries that end failed.
func (p faultPlan) bad() int {
	if p.badEvery == 0 {
		return 0
	}
	return (p.devices + p.badEvery - 1) / p.badEvery
}

// where selects the plan's events.
func (p faultPlan) where() string { return "startsWith(task_id, '" + p.prefix + "-')" }

// plant inserts the plan's devices into the device table of sg.
func (e *env) plant(p faultPlan) {
	e.t.Helper()
	now := time.Now().UTC()
	rows := make([]schema.Device, p.devices)
	for i := range rows {
		id := fmt.Sprintf("%s-dev-%05d", p.prefix, i)
		token := "regid-" + id
		if p.badEvery > 0 && i%p.badEvery == 0 {
			token = "bad-" + id
		}
		rows[i] = schema.Device{AppID: testApp, DeviceID: id, WorkspaceID: "default", Platform: schema.PlatformAndroid,
			Vendor: "mipush", VendorToken: token, TokenValid: true, AppVersion: "2.0", Model: "Redmi", BoundAt: now, UpdatedAt: now}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.NewDevices(e.conn, e.db("sg")).Insert(ctx, rows); err != nil {
		e.t.Fatal(err)
	}
}

// requests returns the plan's push requests for sg, ten targets each.
func (p faultPlan) requests() []pipeline.Output {
	var outs []pipeline.Output
	for start := 0; start < p.devices; start += 10 {
		task := fmt.Sprintf("%s-%04d", p.prefix, start/10)
		targets := map[string]string{}
		for i := start; i < min(start+10, p.devices); i++ {
			dev := fmt.Sprintf("%s-dev-%05d", p.prefix, i)
			targets[dev] = "msg-" + dev
		}
		outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), task, simpleRequest("sg", task, targets)))
	}
	return outs
}

// pushStream publishes a plan's requests in waves from its own goroutine.
type pushStream struct {
	waves     int
	published atomic.Int32
	done      chan struct{}
}

// stream plants p's devices and publishes its requests in waves waves,
// gap apart, from a goroutine; the stream ends before the test does.
func (e *env) stream(p faultPlan, waves int, gap time.Duration) *pushStream {
	e.t.Helper()
	e.plant(p)
	reqs := p.requests()
	s := &pushStream{waves: waves, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(func() { cancel(); <-s.done })
	go func() {
		defer close(s.done)
		per := (len(reqs) + waves - 1) / waves
		for w := 0; w < waves; w++ {
			if w > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(gap):
				}
			}
			pctx, pcancel := context.WithTimeout(ctx, time.Minute)
			err := e.prod.Produce(pctx, reqs[min(w*per, len(reqs)):min((w+1)*per, len(reqs))])
			pcancel()
			if err != nil {
				e.t.Errorf("publishing wave %d of %d: %v", w+1, waves, err)
				return
			}
			s.published.Add(1)
		}
	}()
	return s
}

// waitWaves waits until n waves are published.
func (e *env) waitWaves(s *pushStream, n int) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("%d of %d waves published", n, s.waves), time.Minute, func() (bool, string) {
		got := int(s.published.Load())
		return got >= n, fmt.Sprintf("%d waves", got)
	})
}

// finished reports whether every wave is published.
func (s *pushStream) finished() bool { return int(s.published.Load()) == s.waves }

// faultOutcome is what a fault test measured once every delivery ended.
type faultOutcome struct {
	// terminal counts distinct terminal event ids by event; superseded
	// the second endings the event sink stored as event superseded.
	terminal   map[string]uint64
	superseded uint64
	// dupTokens counts tokens the vendor accepted more than once;
	// dupCalls the accepted deliveries beyond one per token.
	dupTokens, dupCalls int64
	// deliveryRecords counts the records on push.deliveries.sg; replayed
	// those that repeat an earlier record's delivery id and attempt.
	deliveryRecords, replayed int
}

// settle waits until every delivery of p has a terminal event, then checks
// what every fault test asserts: exactly one terminal event id per
// delivery, none lost (as many terminal deliveries as planned, acked
// except the invalid tokens, which failed), and statistics (the per-minute
// aggregates and store.QueryStats) equal to the distinct event counts. It
// returns the counts and the duplicate vendor calls for the test to report.
func (e *env) settle(p faultPlan, timeout time.Duration) faultOutcome {
	e.t.Helper()
	ctx := context.Background()
	const terminal = "event IN ('acked','failed','expired','revoked')"
	e.waitFor("a terminal event for every planned delivery", timeout, func() (bool, string) {
		var n uint64
		err := e.conn.QueryRow(ctx, "SELECT uniqExact(delivery_id) FROM "+e.db("sg")+".events WHERE "+p.where()+" AND "+terminal).Scan(&n)
		return err == nil && n == uint64(p.devices), fmt.Sprintf("%d of %d deliveries terminal (err %v)", n, p.devices, err)
	})
	// Give a wrongly repeated terminal event (a new id for a replayed
	// delivery) time to land too.
	time.Sleep(2 * time.Second)

	var multi uint64
	var example string
	if err := e.conn.QueryRow(ctx, "SELECT count(), any(delivery_id) FROM (SELECT delivery_id, uniqExact(event_id) AS n FROM "+e.db("sg")+
		".events WHERE "+p.where()+" AND "+terminal+" GROUP BY delivery_id HAVING n > 1)").Scan(&multi, &example); err != nil {
		e.t.Fatal(err)
	}
	if multi != 0 {
		e.t.Errorf("%d deliveries have more than one terminal event id (e.g. %s)", multi, example)
	}
	// Planned targets, deliveries emitted (valid) and deliveries ended.
	var planned, valid, terminalDeliveries uint64
	if err := e.conn.QueryRow(ctx, "SELECT uniqExactIf(event_id, event = 'planned'), uniqExactIf(delivery_id, event = 'valid'), uniqExactIf(delivery_id, "+
		terminal+") FROM "+e.db("sg")+".events WHERE "+p.where()).Scan(&planned, &valid, &terminalDeliveries); err != nil {
		e.t.Fatal(err)
	}
	if planned != uint64(p.devices) || valid != uint64(p.devices) || terminalDeliveries != uint64(p.devices) {
		e.t.Errorf("%d targets planned, %d deliveries emitted and %d ended, want %d each", planned, valid, terminalDeliveries, p.devices)
	}
	counts := e.eventCounts("sg", p.where())
	if counts["acked"] != uint64(p.devices-p.bad()) || counts["failed"] != uint64(p.bad()) || counts["expired"] != 0 || counts["revoked"] != 0 {
		e.t.Errorf("terminal events: acked %d failed %d expired %d revoked %d, want acked %d failed %d",
			counts["acked"], counts["failed"], counts["expired"], counts["revoked"], p.devices-p.bad(), p.bad())
	}
	e.checkStats(p, counts)

	out := faultOutcome{terminal: map[string]uint64{}, superseded: counts["superseded"]}
	for _, ev := range []string{"acked", "failed", "expired", "revoked"} {
		out.terminal[ev] = counts[ev]
	}
	if v := e.sim.Stats().Vendors["mipush"]; v != nil && v.Regions["sg"] != nil && v.Regions["sg"].Apps[testApp] != nil {
		for _, n := range v.Regions["sg"].Apps[testApp].Tokens {
			if n > 1 {
				out.dupTokens++
				out.dupCalls += n - 1
			}
		}
	}
	out.deliveryRecords, out.replayed = e.replayedDeliveries()
	return out
}

// checkStats compares what statistics read, the per-minute aggregates and
// store.QueryStats, with the distinct event counts of p.
func (e *env) checkStats(p faultPlan, counts map[string]uint64) {
	e.t.Helper()
	ctx := context.Background()
	agg := e.settledMinuteCounts("sg", p.where(), func(c map[string]uint64) bool { return equalCounts(c, counts) })
	if !equalCounts(agg, counts) {
		e.t.Errorf("per-minute aggregates %v differ from the distinct event counts %v", agg, counts)
	}
	now := time.Now().UTC()
	st, err := store.QueryStats(ctx, e.conn, e.db("sg"), schema.StatsQuery{AppID: testApp, From: now.Add(-time.Hour), To: now.Add(time.Minute),
		Granularity: schema.GranularityHour})
	if err != nil {
		e.t.Fatal(err)
	}
	// The test's database holds only the plan's pushes. Pushed counts
	// deliveries and messages to invalid targets.
	if st.Total.Pushed != counts["valid"]+counts["invalid_device"] || st.Total.Succeeded != counts["acked"] {
		e.t.Errorf("statistics: pushed %d succeeded %d, want %d valid + %d invalid devices and %d acked", st.Total.Pushed, st.Total.Succeeded,
			counts["valid"], counts["invalid_device"], counts["acked"])
	}
}

// replayedDeliveries reads push.deliveries.sg from the start and returns
// how many records it holds and how many of them repeat the delivery id and
// attempt of an earlier one: deliveries a stage produced again after a
// replay of its input.
func (e *env) replayedDeliveries() (records, replayed int) {
	e.t.Helper()
	seen := map[string]bool{}
	for _, m := range e.readAll(pipeline.DeliveriesTopic("sg")) {
		var d schema.Delivery
		if err := json.Unmarshal(m.Value, &d); err != nil {
			e.t.Fatalf("decoding a delivery record: %v", err)
		}
		k := fmt.Sprintf("%s/%d", d.DeliveryID, d.Attempt)
		records++
		if seen[k] {
			replayed++
		}
		seen[k] = true
	}
	return records, replayed
}

// readAll reads every record topic holds now, partition by partition.
func (e *env) readAll(topic string) []kafka.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends := e.offsets(ctx, topic, "")
	var out []kafka.Message
	for p, end := range ends {
		if end <= 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				e.t.Fatalf("reading %s/%d: %v", topic, p, err)
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// offsets returns the end offset of every partition of topic, or with a
// group the offset the group committed there (0 where it committed none).
func (e *env) offsets(ctx context.Context, topic, group string) map[int]int64 {
	e.t.Helper()
	// A transport of its own: no connection outlives a broker restart.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 10 * time.Second, Transport: tr}
	parts := make([]int, e.cfg.Kafka.Partitions)
	out := map[int]int64{}
	for i := range parts {
		parts[i] = i
		out[i] = 0
	}
	if group != "" {
		resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err == nil {
			err = resp.Error
		}
		if errors.Is(err, kafka.GroupIdNotFound) {
			return out
		}
		if err != nil {
			e.t.Fatalf("fetching the offsets of group %s on %s: %v", group, topic, err)
		}
		for _, p := range resp.Topics[topic] {
			out[p.Partition] = max(p.CommittedOffset, 0)
		}
		return out
	}
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		e.t.Fatalf("listing the offsets of %s: %v", topic, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			e.t.Fatalf("listing the offsets of %s/%d: %v", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// groupInput is one input topic of a worker kind's consumer group.
type groupInput struct{ group, topic string }

// inputs lists the consumer groups and input topics of a worker kind in
// sg: one for most kinds, one per delay tier for retry.
func inputs(kind app.Kind) []groupInput {
	switch kind {
	case app.Retry:
		var out []groupInput
		for _, tier := range pipeline.RetryTiers() {
			out = append(out, groupInput{"pushpipe.retry." + pipeline.RetryTierName(tier) + ".sg", pipeline.RetryTierTopic("sg", tier)})
		}
		return out
	case app.Fanout:
		return []groupInput{{"pushpipe.fanout.sg", pipeline.RequestsTopic("sg")}}
	case app.Sender:
		return []groupInput{{"pushpipe.sender.sg", pipeline.DeliveriesTopic("sg")}}
	case app.Eventsink:
		return []groupInput{{"pushpipe.eventsink.sg", pipeline.EventsTopic("sg")}}
	case app.Registry:
		return []groupInput{{"pushpipe.registry.sg", pipeline.BindingsTopic("sg")}}
	case app.Callbacks:
		return []groupInput{{"pushpipe.callbacks.sg", pipeline.EventsTopic("sg")}}
	case app.Recall:
		return []groupInput{{"pushpipe.recall.sg", pipeline.ControlTopic("sg")}}
	}
	return nil
}

// progress returns how many records of its inputs the kind's group has
// committed and how many of them were not committed yet: the most that a
// replica taking over can be handed again.
func (e *env) progress(kind app.Kind) (committed, uncommitted int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, in := range inputs(kind) {
		ends, done := e.offsets(ctx, in.topic, ""), e.offsets(ctx, in.topic, in.group)
		for p, end := range ends {
			committed += done[p]
			uncommitted += max(end-done[p], 0)
		}
	}
	return committed, uncommitted
}

// workerConfig writes the configuration file of `pushpipe <worker>`
// processes of this env: the simulator, the app, the env's partitions,
// batch size, database prefix and retry settings.
func (e *env) workerConfig() string {
	e.t.Helper()
	c := e.cfg
	path := filepath.Join(e.t.TempDir(), "pushpipe.yaml")
	// The id secret of this test's pipeline, so that the worker derives
	// the same delivery ids and receipt tags.
	yaml := fmt.Sprintf(`stateDir: %s
security:
  idSecretFile: %s
vendors:
  simulator: true
  simulatorAddr: %s
apps:
  - appId: %s
    workspaceId: default
    mipush: {appSecret: %s, packageName: %s}
    callbacks: {allowHttp: true, allowPrivateNetworks: [127.0.0.0/8]}
kafka:
  partitions: %d
clickhouse:
  databasePrefix: %s
stage:
  batchSize: %d
retry:
  maxAttempts: %d
  baseBackoff: %s
  maxBackoff: %s
sender:
  breaker: {openTimeout: %s}
`, e.t.TempDir(), c.DevIDSecretFile(), e.sim.Addr(), testApp, testSecret, testPackage, c.Kafka.Partitions, c.ClickHouse.DatabasePrefix,
		c.Stage.BatchSize, c.Retry.MaxAttempts, c.Retry.BaseBackoff, c.Retry.MaxBackoff, c.Sender.Breaker.OpenTimeout)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// workerProc is one `pushpipe <kind>` process serving sg.
type workerProc struct {
	cmd        *exec.Cmd
	healthAddr string
}

// startWorker runs `pushpipe <kind>` for sg as its own process with the
// configuration at configPath, logging to log; it is killed when the test
// ends if it is still running.
func (e *env) startWorker(bin string, kind app.Kind, configPath string, log io.Writer) *workerProc {
	e.t.Helper()
	health := net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(e.t)))
	// ClickHouse through a proxy of its own: when the process is killed,
	// the proxy ends its connections cleanly (see chProxy).
	cmd := exec.Command(bin, string(kind), "--region", "sg", "--config", configPath,
		"--brokers", strings.Join(e.brokers, ","), "--clickhouse", startCHProxy(e.t, ch.Addr()).Addr(), "--health-addr", health)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &workerProc{cmd: cmd, healthAddr: health}
}

// waitReady waits until the process answers 200 on /readyz.
func (e *env) waitReady(w *workerProc) {
	e.t.Helper()
	e.waitFor("the worker process to be ready", time.Minute, func() (bool, string) {
		resp, err := http.Get("http://" + w.healthAddr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// kill ends the process with SIGKILL and reaps it.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Wait()
}

// stop ends the process with SIGTERM and waits for it to exit.
func (w *workerProc) stop() {
	if w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		_ = w.cmd.Wait()
	}
}

// logFile creates the log file of the test's worker processes.
func logFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "workers.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// runStoppable runs the stages of the given kinds for the given regions
// in-process, built from d, and returns a function stopping them (each
// finishes its in-flight batch and leaves its group) and waiting for them;
// they are stopped when the test ends at the latest. Each call builds its
// own replicas.
func (e *env) runStoppable(d app.Deps, regions []string, kinds ...app.Kind) func() {
	e.t.Helper()
	var stages []*pipeline.Stage
	for _, r := range regions {
		for _, k := range kinds {
			ss, err := app.NewStages(k, r, d)
			if err != nil {
				e.t.Fatal(err)
			}
			stages = append(stages, ss...)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := app.RunStages(ctx, stages); err != nil {
			e.t.Errorf("stages stopped with an error: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	e.t.Cleanup(stop)
	return stop
}

// chProxy forwards TCP connections to ClickHouse until it is cut: then it
// drops every client connection and refuses new ones until restored.
// Towards ClickHouse it always ends a connection cleanly (end of stream,
// then drained): the embedded server aborts when a peer resets a
// connection, which a SIGKILLed client does.
type chProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	// conns are the open client connections.
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startCHProxy listens on a free loopback port, forwarding to target; it
// is closed when the test ends.
func startCHProxy(t *testing.T, target string) *chProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &chProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address.
func (p *chProxy) Addr() string { return p.ln.Addr().String() }

func (p *chProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.relay(c, up)
	}
}

// relay copies between client c and ClickHouse up until both directions
// ended. When the client ends (or is dropped), ClickHouse gets an end of
// stream and its answer is read to the end, never a reset.
func (p *chProxy) relay(c, up net.Conn) {
	defer p.wg.Done()
	toServer := make(chan struct{})
	go func() {
		defer close(toServer)
		_, _ = io.Copy(up, c)
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	if _, err := io.Copy(c, up); err != nil {
		_ = up.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, up)
	}
	_ = c.Close()
	<-toServer
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// setCut cuts (true) or restores (false) the connection to ClickHouse.
func (p *chProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *chProxy) close() {
	_ = p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}
