package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Shapes of the unicast latency figures.
const (
	// unicastRegion is the region the unicast figures run in, alone.
	unicastRegion = "eu"
	// unicastWarmup requests, not measured, go first: the workers join
	// their groups and open their connections.
	unicastWarmup = 20
	// unicastPublishers publish at once (at least; one more for every
	// 50 requests a second), each request in its own Produce call, so that
	// a slow acknowledgement does not hold the schedule.
	unicastPublishers = 32
	// unicastDrain bounds the wait for the last vendor calls of a rate.
	unicastDrain = 30 * time.Second
	// unicastGCPercent is the garbage collector's target of the bench
	// process while the unicast figures run. The simulator that stamps a
	// vendor call's arrival and the publisher that stamps a request's
	// start live in this process, so its own collection pauses and assists
	// would add to the latencies measured; the workers and the broker keep
	// Go's default (100).
	unicastGCPercent = 400
	// unicastWarmLimit bounds the wait for fanout's device cache to warm
	// before the first rate.
	unicastWarmLimit = 2 * time.Minute
	// unicastMiPushCallsPerS is the MiPush budget of the bench app: every
	// unicast request is its own MiPush call (its own msg id), so
	// Xiaomi's default 1000 calls/s would cap the 2,000 req/s figure.
	unicastMiPushCallsPerS = 5000
)

// unicastPhase is one rate of the unicast latency figures: requests for
// devices of one vendor published at rate a second.
type unicastPhase struct {
	vendor string
	rate   int
}

// suffix names the phase's figures: _at_<rate>rps, and the vendor unless
// it is MiPush (the figures measured first, whose names stay).
func (ph unicastPhase) suffix() string {
	if ph.vendor == "mipush" {
		return fmt.Sprintf("_at_%drps", ph.rate)
	}
	return fmt.Sprintf("_at_%drps_%s", ph.rate, ph.vendor)
}

// unicastPhases are the rates the latency figures are measured at: MiPush
// (HTTP/1.1) at 500 and 2,000 requests/s, APNs (HTTP/2 over TLS) at 5,000.
var unicastPhases = []unicastPhase{{"mipush", 500}, {"mipush", 2000}, {"apns", unicastAPNsRate}}

// unicastAPNsRate is the rate of the APNs phase. APNs has no default rate
// limit (Apple publishes none), so the shipped configuration lets it
// through.
const unicastAPNsRate = 5000

// runUnicast measures unicast latency: SIMPLE requests for one registered
// device each are published onto push.requests.eu at a fixed rate for
// o.UnicastDuration, with one fanout and one sender process running; a
// request's latency is the time the simulator received the vendor call
// for its device minus the time its Produce call began. For each of
// unicastPhases it reports the p50, p99 and p99.9, the rate reached, how
// many calls arrived, and the cost of one delivery (CPU time of the
// workers, the broker and ClickHouse, ClickHouse rows) while it ran.
func runUnicast(ctx context.Context, env *runEnv) ([]Figure, error) {
	region, conn, brokers, say := unicastRegion, env.conn, env.brokers, env.say
	defer debug.SetGCPercent(debug.SetGCPercent(unicastGCPercent))
	db := stackPrefix + region
	if err := prepareRegion(ctx, conn, brokers, region); err != nil {
		return nil, err
	}
	// Devices [0, unicastWarmup) warm up; each phase has its own range.
	first := make([]int, len(unicastPhases))
	counts := make([]int, len(unicastPhases))
	total := unicastWarmup
	for i, ph := range unicastPhases {
		first[i], counts[i] = total, int(float64(ph.rate)*env.o.UnicastDuration.Seconds())
		total += counts[i]
	}
	say("registering %d devices for the unicast figures", total)
	if err := registerDevices(ctx, conn, db, "mipush", 0, unicastWarmup); err != nil {
		return nil, err
	}
	for i, ph := range unicastPhases {
		if err := registerDevices(ctx, conn, db, ph.vendor, first[i], first[i]+counts[i]); err != nil {
			return nil, err
		}
	}
	sim, err := startDemoSim(ctx, env.work, total+1000)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sim.Close() }()
	ws, err := startStack(ctx, env.o.Binary, env.work, stackConfig{region: region, brokers: brokers, chAddr: env.chAddr, demo: sim,
		limits: []appLimit{{"mipush", unicastMiPushCallsPerS, "calls"}}}, "fanout", "sender")
	if err != nil {
		return nil, err
	}
	defer ws.stop()
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()

	say("warming up fanout and sender with %d unicast requests", unicastWarmup)
	if _, _, err := publishUnicast(ctx, p, region, "mipush", 0, unicastWarmup, 100); err != nil {
		return nil, err
	}
	if err := waitForMessages(ctx, sim.Server, "mipush", region, unicastWarmup, 2*time.Minute); err != nil {
		return nil, err
	}
	// The latencies are those of a running fanout: its device cache warms
	// (reads the registered devices from ClickHouse) in the background
	// after it starts, which the first phase would otherwise share the
	// machine with.
	warmStart := time.Now()
	if err := waitUntil(ctx, 50*time.Millisecond, unicastWarmLimit, "fanout's device cache to warm", func() (bool, error) {
		w, err := gauge(ctx, ws["fanout"].healthAddr, "pushpipe_fanout_device_cache_warming")
		return err == nil && w == 0, err
	}); err != nil {
		return nil, err
	}
	entries, _ := gauge(ctx, ws["fanout"].healthAddr, "pushpipe_fanout_device_cache_entries")
	say("fanout's device cache warm with %.0f devices (%s after the warm-up requests arrived)", entries, time.Since(warmStart).Round(time.Millisecond))
	// The phases start from a collected heap: the goal of the last
	// collection, unicastGCPercent over what the earlier parts still held
	// then (the sender part's simulator holds some 400 MB at its end),
	// would let this process grow by gigabytes of fresh pages while the
	// latencies are measured.
	runtime.GC()
	meter := newCostMeter(conn, append(env.infraProcs(), proc{"fanout", ws["fanout"].pid}, proc{"sender", ws["sender"].pid}, proc{procBench, os.Getpid})...)

	type done struct {
		unicastPhase
		pub, calls map[string]time.Time
	}
	var phases []done
	var figs []Figure
	for i, ph := range unicastPhases {
		n := counts[i]
		if n == 0 {
			continue
		}
		say("publishing %d unicast requests for %s devices at %d/s", n, ph.vendor, ph.rate)
		base := vendorMessages(sim.Server, ph.vendor, region)
		before, err := meter.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		// The fastest rate, the last, is profiled while it runs, in one
		// profile a second longer than its publishing.
		var prof *profiler
		if env.o.Profile && i == len(unicastPhases)-1 {
			chunk := env.o.UnicastDuration.Truncate(time.Second) + time.Second
			targets := map[string]string{procKafka: env.broker.pprofAddr, "fanout": ws["fanout"].healthAddr, "sender": ws["sender"].healthAddr, procBench: selfProfile}
			if prof, err = startProfiler(ctx, filepath.Join(env.dir, unicastProfilePrefix), targets, chunk, true); err != nil {
				return nil, err
			}
		}
		pub, reached, err := publishUnicast(ctx, p, region, ph.vendor, first[i], n, ph.rate)
		if err != nil {
			return nil, err
		}
		if err := waitForMessages(ctx, sim.Server, ph.vendor, region, base+int64(n), unicastDrain); err != nil {
			a, _ := sim.AppCounts(ph.vendor, region, stackApp)
			say("%v (the simulator's %s calls: %d received, %d accepted, %d rejected, %d throttled); reporting the calls that arrived",
				err, ph.vendor, a.Requests, a.Accepted, a.Rejected, a.Throttled)
		}
		after, err := meter.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		// The tops are written after the cost is read: go tool pprof's
		// own CPU, and the seconds it takes, stay out of the rate's figures.
		if prof != nil {
			if err := writeUnicastTops(ctx, env, prof, ph); err != nil {
				return nil, err
			}
		}
		calls := firstCalls(sim.Requests(ph.vendor, region), pub)
		lat := spans(pub, calls)
		say("%d of %d requests reached the simulator at %d/s (published at %.0f/s)", len(lat), n, ph.rate, reached)
		sfx := ph.suffix()
		figs = append(figs,
			Figure{"unicast_p50_ms" + sfx, round(percentile(lat, 0.5), 1), "ms"},
			Figure{"unicast_p99_ms" + sfx, round(percentile(lat, 0.99), 1), "ms"},
			Figure{"unicast_p999_ms" + sfx, round(percentile(lat, 0.999), 1), "ms"},
			Figure{"unicast_published_rps" + sfx, round(reached, 0), "req/s"},
			Figure{"unicast_delivered" + sfx, float64(len(lat)), "requests"},
		)
		spent := between(before, after)
		figs = append(figs, spent.figures("unicast_", sfx, len(lat), []string{"fanout", "sender", procKafka, procClickHouse, procBench})...)
		if spent.machineBusy > 0 {
			// How near the machine was to saturation: the publishers and
			// the simulator (the bench process) share its cores.
			figs = append(figs, Figure{"unicast_machine_busy_pct" + sfx, spent.machineBusy, "%"})
		}
		if reads, err := writeTopReaders(meter.own(ctx), conn, before.at, len(lat), filepath.Join(env.dir, "clickhouse-queries-unicast"+sfx+".txt")); err != nil {
			env.note("The ClickHouse queries of unicast%s are not listed, and its rows read count every row ClickHouse read: %s.", sfx, err)
		} else {
			figs = reads.figures(figs, "unicast_", sfx, len(lat))
		}
		phases = append(phases, done{ph, pub, calls})
	}
	// Where the time goes: the deliveries' append times split each
	// latency into fanout (request published -> delivery written) and
	// sender (delivery written -> vendor call).
	written, err := deliveryTimes(ctx, brokers, pipeline.DeliveriesTopic(region))
	if err != nil {
		return nil, err
	}
	for _, ph := range phases {
		sfx := ph.suffix()
		path := filepath.Join(env.dir, "unicast"+sfx+".csv")
		if err := writeUnicastTimes(path, ph.pub, written, ph.calls); err != nil {
			env.note("The request times of unicast%s are not listed: %s.", sfx, err)
		}
		fan, snd := spans(ph.pub, written), spans(written, ph.calls)
		figs = append(figs,
			Figure{"unicast_fanout_p50_ms" + sfx, round(percentile(fan, 0.5), 1), "ms"},
			Figure{"unicast_fanout_p99_ms" + sfx, round(percentile(fan, 0.99), 1), "ms"},
			Figure{"unicast_sender_p50_ms" + sfx, round(percentile(snd, 0.5), 1), "ms"},
			Figure{"unicast_sender_p99_ms" + sfx, round(percentile(snd, 0.99), 1), "ms"},
		)
	}
	return figs, nil
}

// writeUnicastTimes writes one CSV line a request of a phase to path, in
// the order they were published: when it was published (ms since the
// first), and its fanout, sender and whole latency in ms (empty where its
// delivery or vendor call was not seen). The tail of a latency figure is
// read from it: whether the slow requests came together or spread out.
func writeUnicastTimes(path string, pub, written, calls map[string]time.Time) error {
	toks := make([]string, 0, len(pub))
	for tok := range pub {
		toks = append(toks, tok)
	}
	sort.Slice(toks, func(i, j int) bool { return pub[toks[i]].Before(pub[toks[j]]) })
	var b strings.Builder
	b.WriteString("published_ms,fanout_ms,sender_ms,total_ms\n")
	span := func(from, to time.Time) string {
		if from.IsZero() || to.IsZero() {
			return ""
		}
		return strconv.FormatFloat(ms(to.Sub(from)), 'f', 2, 64)
	}
	for _, tok := range toks {
		p := pub[tok]
		fmt.Fprintf(&b, "%.2f,%s,%s,%s\n", ms(p.Sub(pub[toks[0]])), span(p, written[tok]), span(written[tok], calls[tok]), span(p, calls[tok]))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// unicastProfilePrefix names the CPU profiles of the fastest unicast
// rate beside the report: pprof-unicast-<process>.txt, raw ones in
// pprof-unicast/.
const unicastProfilePrefix = "pprof-unicast"

// writeUnicastTops stops prof, which profiled phase, and writes its tops
// beside the report; a profile that could not be fetched is noted.
func writeUnicastTops(ctx context.Context, env *runEnv, prof *profiler, ph unicastPhase) error {
	files, errs := prof.stop()
	what := fmt.Sprintf("the unicast requests to %s at %d/s (taken while their latency was measured)", ph.vendor, ph.rate)
	for _, e := range errs {
		env.note("A CPU profile of %s is missing: %s.", what, e)
	}
	if len(files) == 0 {
		return nil
	}
	set, err := writeTops(ctx, env.dir, unicastProfilePrefix, what, prof.chunk, files)
	if err != nil {
		return err
	}
	env.profiles = append(env.profiles, set)
	env.say("CPU profiles' top 10 in %s", filepath.Join(env.dir, unicastProfilePrefix+"-<process>.txt"))
	return nil
}

// unicastRequest is the SIMPLE request for bench device i, an Android
// (MiPush) device.
func unicastRequest(region string, i int) (key, value []byte) {
	return unicastRequestTo(region, "mipush", i)
}

// unicastRequestTo is the SIMPLE request for bench device i of vendor
// (APNs devices are iOS devices: deliverType 2), accepted now.
func unicastRequestTo(region, vendor string, i int) (key, value []byte) {
	r := newUnicastRequest(region, vendor, i)
	return r.key, r.at(time.Now())
}

// preparedRequest is a unicast request marshalled ahead of its publishing
// but for its acceptedAt, which the JSON (keys sorted) holds first: the
// publishers only add the time, so that marshalling does not take the
// bench process's CPU from the pipeline while the latencies are measured.
type preparedRequest struct {
	key, tail []byte
}

// unicastHead opens every unicast request's JSON up to acceptedAt's value.
const unicastHead = `{"acceptedAt":`

// newUnicastRequest marshals the request for bench device i of vendor.
func newUnicastRequest(region, vendor string, i int) preparedRequest {
	task := fmt.Sprintf("uc-%08d", i)
	deliverType := schema.DeliverAndroid
	if vendor == "apns" {
		deliverType = schema.DeliverIOS
	}
	v, _ := json.Marshal(map[string]any{"type": "SIMPLE", "region": region, "appId": stackApp, "workspaceId": "bench",
		"taskId": task, "taskName": "bench-unicast", "deliverType": deliverType, "targetMsgkey": map[string]string{deviceID(i): task},
		"title": "Order shipped", "content": "Your order " + task + " is on its way", "expiredSeconds": 3600,
		"acceptedAt": 0})
	return preparedRequest{key: []byte(task), tail: bytes.TrimPrefix(v, []byte(unicastHead+"0"))}
}

// at returns the request's JSON accepted at t.
func (r preparedRequest) at(t time.Time) []byte {
	v := make([]byte, 0, len(unicastHead)+13+len(r.tail))
	v = strconv.AppendInt(append(v, unicastHead...), t.UnixMilli(), 10)
	return append(v, r.tail...)
}

// publishUnicast publishes the requests of devices [first, first+n) of
// vendor, one a Produce call, request k due at k/rate after the start. It
// returns the time each Produce began by device token and the rate
// reached.
func publishUnicast(ctx context.Context, p *pipeline.Producer, region, vendor string, first, n, rate int) (map[string]time.Time, float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	times := make([]time.Time, n)
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	reqs := make([]preparedRequest, n)
	for k := range reqs {
		reqs[k] = newUnicastRequest(region, vendor, first+k)
	}
	start := time.Now()
	// A Produce call takes some 10 ms: enough publishers keep the pace.
	for range max(unicastPublishers, rate/50) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= n || ctx.Err() != nil {
					return
				}
				if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
					time.Sleep(d)
				}
				times[k] = time.Now()
				out := pipeline.Output{Topic: pipeline.RequestsTopic(region), Key: reqs[k].key, Value: reqs[k].at(times[k])}
				if err := p.Produce(ctx, []pipeline.Output{out}); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("publishing unicast request %d: %w", k, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	last := start
	pub := make(map[string]time.Time, n)
	for k, t := range times {
		pub[deviceToken(vendor, first+k)] = t
		if t.After(last) {
			last = t
		}
	}
	reached := float64(n)
	if el := last.Sub(start).Seconds(); el > 0 && n > 1 {
		reached = float64(n-1) / el
	}
	return pub, reached, nil
}

// firstCalls returns, for each token of pub that a recorded call carried,
// the time of its first call.
func firstCalls(reqs []vendorsim.Request, pub map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(pub))
	for _, r := range reqs {
		for _, tok := range callTokens(r) {
			if _, ok := pub[tok]; !ok {
				continue
			}
			if _, seen := out[tok]; !seen {
				out[tok] = r.Time
			}
		}
	}
	return out
}

// callTokens are the tokens a recorded call carried: MiPush's regIds, or
// the device token of an APNs path (/3/device/<token>).
func callTokens(r vendorsim.Request) []string {
	if len(r.RegIDs) > 0 {
		return r.RegIDs
	}
	if _, tok, ok := strings.Cut(r.Path, "/3/device/"); ok {
		return []string{tok}
	}
	return nil
}

// spans returns to[k] - from[k] in ms for every key of from that to has.
func spans(from, to map[string]time.Time) []float64 {
	out := make([]float64, 0, len(from))
	for k, t0 := range from {
		if t1, ok := to[k]; ok {
			out = append(out, ms(t1.Sub(t0)))
		}
	}
	return out
}

// deliveryTimes reads every delivery on topic and returns the append time
// of the first delivery of each vendor token.
func deliveryTimes(ctx context.Context, brokers []string, topic string) (map[string]time.Time, error) {
	client := benchClient(brokers)
	total, err := topicSize(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: benchDialer(), Topic: topic, GroupID: "bench.unicast.deliveries", StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	out := make(map[string]time.Time, total)
	for read := int64(0); read < total; read++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading %s (%d of %d): %w", topic, read, total, err)
		}
		var d schema.Delivery
		if json.Unmarshal(m.Value, &d) != nil {
			continue
		}
		if _, seen := out[d.Token]; !seen {
			out[d.Token] = m.Time
		}
	}
	return out, nil
}

// mipushMessages is how many MiPush messages of stackApp the simulator
// accepted in region.
func mipushMessages(sim *vendorsim.Server, region string) int64 {
	return vendorMessages(sim, vendorsim.VendorMiPush, region)
}

// vendorMessages is how many messages of stackApp to vendor the simulator
// accepted in region.
func vendorMessages(sim *vendorsim.Server, vendor, region string) int64 {
	a, _ := sim.AppCounts(vendor, region, stackApp)
	return a.Messages
}

// waitForMessages waits, at most limit, until the simulator accepted want
// messages of stackApp to vendor in region.
func waitForMessages(ctx context.Context, sim *vendorsim.Server, vendor, region string, want int64, limit time.Duration) error {
	return waitUntil(ctx, 10*time.Millisecond, limit, fmt.Sprintf("%d %s messages in %s", want, vendor, region), func() (bool, error) {
		return vendorMessages(sim, vendor, region) >= want, nil
	})
}
