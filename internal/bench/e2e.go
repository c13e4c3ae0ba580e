package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Shapes of the end-to-end and eventsink figures.
const (
	// e2eRegion and eventsinkRegion are the regions these figures run in,
	// each alone.
	e2eRegion       = "in"
	eventsinkRegion = "ru"
	// e2eTask is the task id of the measured broadcast.
	e2eTask = "bench-e2e-broadcast"
	// e2eDeliverLimit and e2eSettleLimit bound the waits for the
	// simulator to accept every delivery and for every acked event to be
	// in ClickHouse.
	e2eDeliverLimit = 5 * time.Minute
	e2eSettleLimit  = 5 * time.Minute
	// e2eMergeLimit bounds the wait for ClickHouse's merges after the
	// events are stored.
	e2eMergeLimit = time.Minute
	// eventsinkLimit bounds the wait for the pre-published events.
	eventsinkLimit = 3 * time.Minute
)

// e2eKinds are the worker processes of the end-to-end broadcast.
var e2eKinds = []string{"fanout", "sender", "eventsink", "retry"}

// runE2E measures a broadcast to o.E2EDevices registered MiPush devices
// through fanout, sender, eventsink and retry processes: deliveries a
// second from publishing the request until the simulator accepted every
// delivery (MiPush calls of up to 1000 regIds, the default rate limit of
// 1000 calls/s), the seconds until every one's acked event is in
// ClickHouse, the events a second the sink inserted meanwhile, the peak
// RSS of each worker, of the broker and of ClickHouse, and what one
// delivery cost until its events were stored (and again once ClickHouse's
// merges settled): the CPU time of every process but the bench's, per
// process, and the rows ClickHouse wrote and read. With o.Profile the CPU
// profiles of the workers and the broker over the broadcast are saved
// beside the report with their top 10 functions. The same broadcast then
// runs again as another task, on top of the first one's stored events,
// deliveries and outcomes; its figures end in _second, so that a cost
// growing with history shows.
func runE2E(ctx context.Context, env *runEnv) ([]Figure, error) {
	region, n, conn, brokers, say := e2eRegion, env.o.E2EDevices, env.conn, env.brokers, env.say
	db := stackPrefix + region
	if err := prepareRegion(ctx, conn, brokers, region); err != nil {
		return nil, err
	}
	say("registering %d devices for the end-to-end broadcast", n)
	if err := registerDevices(ctx, conn, db, "mipush", 0, n); err != nil {
		return nil, err
	}
	if err := createBroadcastTemplate(ctx, conn, db); err != nil {
		return nil, err
	}
	sim, err := startMiPushSim(ctx, 100)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sim.Close() }()
	ws, err := startStack(ctx, env.o.Binary, env.work, stackConfig{region: region, brokers: brokers, chAddr: env.chAddr, simAddr: sim.Addr()}, e2eKinds...)
	if err != nil {
		return nil, err
	}
	defer ws.stop()
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	procs := env.infraProcs()
	for _, k := range e2eKinds {
		procs = append(procs, proc{k, ws[k].pid})
	}
	meter := newCostMeter(conn, append(procs, proc{procBench, os.Getpid})...)

	// Warm up: one unicast request through every stage, until its acked
	// event is in ClickHouse.
	say("warming up fanout, sender and eventsink with one unicast request")
	key, value := unicastRequest(region, 0)
	if err := p.Produce(ctx, []pipeline.Output{{Topic: pipeline.RequestsTopic(region), Key: key, Value: value}}); err != nil {
		return nil, fmt.Errorf("publishing the warm-up request: %w", err)
	}
	if err := waitUntil(ctx, 100*time.Millisecond, 2*time.Minute, "the warm-up request's acked event", func() (bool, error) {
		n, err := ackedEvents(ctx, conn, db, string(key))
		return n >= 1, err
	}); err != nil {
		return nil, err
	}

	figs, err := broadcastOnce(ctx, env, broadcastRun{task: e2eTask, msg: "bench-e2e-msg", profile: env.o.Profile}, sim, ws, p, meter, procs)
	if err != nil {
		return nil, err
	}
	// The same broadcast again, as another task and message, with the
	// first one's events, deliveries and outcomes stored: what a delivery
	// costs must not grow with history.
	second, err := broadcastOnce(ctx, env, broadcastRun{task: e2eTask + "-second", msg: "bench-e2e-msg-second", suffix: "_second"}, sim, ws, p, meter, procs)
	if err != nil {
		return nil, err
	}
	return append(figs, second...), nil
}

// broadcastRun is one measured broadcast of runE2E.
type broadcastRun struct {
	task, msg string
	// suffix ends the names of the run's figures ("" for the first).
	suffix  string
	profile bool
}

// broadcastOnce publishes one broadcast to the registered devices through
// the running workers ws and measures it (see runE2E).
func broadcastOnce(ctx context.Context, env *runEnv, run broadcastRun, sim *vendorsim.Server, ws map[string]*worker, p *pipeline.Producer, meter *costMeter, procs []proc) ([]Figure, error) {
	region, n, conn, say := e2eRegion, env.o.E2EDevices, env.conn, env.say
	db := stackPrefix + region
	var err error
	// The peaks from here on are the broadcast's.
	for _, pr := range procs {
		if err := resetPeakRSS(pr.pid()); err != nil {
			say("%v; its peak RSS covers the whole run", err)
		}
	}
	var prof *profiler
	if run.profile {
		targets := map[string]string{procKafka: env.broker.pprofAddr}
		for _, k := range e2eKinds {
			targets[k] = ws[k].healthAddr
		}
		if prof, err = startProfiler(ctx, filepath.Join(env.dir, "pprof"), targets, profileChunk, false); err != nil {
			return nil, err
		}
	}
	say("broadcasting %s to %d devices through fanout, sender, eventsink and retry", run.task, n)
	before, _ := sim.AppCounts(vendorsim.VendorMiPush, region, stackApp)
	base := before.Messages
	start, err := meter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	req := broadcastRequest(region, run.task, run.msg)
	t0 := time.Now()
	if err := p.Produce(ctx, []pipeline.Output{{Topic: pipeline.RequestsTopic(region), Key: []byte(run.task), Value: req}}); err != nil {
		return nil, fmt.Errorf("publishing the broadcast: %w", err)
	}
	var lastSaid int64
	err = waitUntil(ctx, 20*time.Millisecond, e2eDeliverLimit, fmt.Sprintf("%d MiPush messages of the broadcast", n), func() (bool, error) {
		got := mipushMessages(sim, region) - base
		if got/100_000 != lastSaid/100_000 {
			say("%d deliveries accepted by the simulator", got)
		}
		lastSaid = got
		return got >= int64(n), nil
	})
	if err != nil {
		return nil, err
	}
	delivered := time.Since(t0)
	after, _ := sim.AppCounts(vendorsim.VendorMiPush, region, stackApp)
	calls := after.Requests - before.Requests
	say("%d deliveries in %s; waiting for their acked events in ClickHouse", n, delivered.Round(time.Millisecond))
	// The polls count rows cheaply, then make sure with distinct event
	// ids; what they cost ClickHouse is left out of the cost figures.
	own := meter.own(ctx)
	err = waitUntil(ctx, 250*time.Millisecond, e2eSettleLimit, fmt.Sprintf("%d acked events of %s in %s", n, run.task, db), func() (bool, error) {
		var rows uint64
		if err := conn.QueryRow(own, "SELECT count() FROM "+db+".events WHERE app_id = ? AND task_id = ? AND event = 'acked'", stackApp, run.task).Scan(&rows); err != nil {
			return false, fmt.Errorf("counting the acked events of %s in %s: %w", run.task, db, err)
		}
		if rows < uint64(n) {
			return false, nil
		}
		got, err := ackedEvents(own, conn, db, run.task)
		return got >= uint64(n), err
	})
	if err != nil {
		return nil, err
	}
	settled := time.Since(t0)
	stored, err := meter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rss := map[string]float64{}
	for _, pr := range procs {
		ps, _ := readProc(pr.pid())
		rss[pr.name] = ps.PeakRSSMB
	}
	var profiles map[string][]string
	if prof != nil {
		var errs []string
		profiles, errs = prof.stop()
		for _, e := range errs {
			env.note("A CPU profile of the end-to-end broadcast is missing: %s.", e)
		}
	}
	say("waiting (at most %s) for ClickHouse's merges of %s to settle", e2eMergeLimit, db)
	if err := waitForMerges(own, conn, db, e2eMergeLimit, say); err != nil {
		return nil, err
	}
	merged, err := meter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	reads, readsErr := writeTopReaders(own, conn, start.at, n, filepath.Join(env.dir, "clickhouse-queries-e2e"+run.suffix+".txt"))
	if readsErr != nil {
		env.note("The ClickHouse queries of the end-to-end broadcast are not listed, and its rows read count every row ClickHouse read: %s.", readsErr)
	} else {
		say("ClickHouse queries by rows read in %s", filepath.Join(env.dir, "clickhouse-queries-e2e"+run.suffix+".txt"))
		if err := appendThreadCPU(filepath.Join(env.dir, "clickhouse-queries-e2e"+run.suffix+".txt"), start, merged, n); err != nil {
			env.note("ClickHouse's CPU by thread is not listed: %s.", err)
		}
	}
	var events uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events WHERE app_id = ? AND task_id = ?", stackApp, run.task).Scan(&events); err != nil {
		return nil, fmt.Errorf("counting the events of %s: %w", run.task, err)
	}
	figs := []Figure{
		{"e2e_broadcast_devices", float64(n), "devices"},
		{"e2e_broadcast_delivered_s", round(delivered.Seconds(), 3), "s"},
		{"e2e_broadcast_deliveries_per_s", round(float64(n)/delivered.Seconds(), 0), "deliveries/s"},
		{"e2e_broadcast_mipush_calls", float64(calls), "calls"},
		{"e2e_broadcast_regids_per_call", round(float64(n)/float64(max(calls, 1)), 1), "regIds"},
		{"e2e_broadcast_events_settled_s", round(settled.Seconds(), 3), "s"},
		{"e2e_broadcast_stored_after_delivered_s", round((settled - delivered).Seconds(), 3), "s"},
		{"e2e_broadcast_events", float64(events), "events"},
		{"e2e_broadcast_events_per_s", round(float64(events)/settled.Seconds(), 0), "events/s"},
	}
	order := append(append([]string{}, e2eKinds...), procKafka, procClickHouse, procBench)
	figs = append(figs, between(start, stored).figures("", "", n, order)...)
	if readsErr == nil {
		figs = reads.figures(figs, "", "", n)
	}
	untilMerged := between(start, merged).figures("", "_until_merged", n, nil)
	figs = append(figs, untilMerged[0], Figure{"e2e_broadcast_merged_s", round(merged.at.Sub(t0).Seconds(), 3), "s"})
	for _, name := range order {
		if v, ok := rss[name]; ok {
			figs = append(figs, Figure{"peak_rss_mb_" + name, round(v, 1), "MB"})
		}
	}
	if len(profiles) > 0 {
		set, err := writeTops(ctx, env.dir, "pprof", "the end-to-end broadcast", profileChunk, profiles)
		if err != nil {
			return nil, err
		}
		env.profiles = append(env.profiles, set)
		say("CPU profiles' top 10 in %s", filepath.Join(env.dir, "pprof-<process>.txt"))
	}
	for k := range figs {
		figs[k].Name += run.suffix
	}
	return figs, nil
}

// ackedEvents counts the distinct acked events of task in db.
func ackedEvents(ctx context.Context, conn driver.Conn, db, task string) (uint64, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM "+db+".events WHERE app_id = ? AND task_id = ? AND event = 'acked'", stackApp, task).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the acked events of %s in %s: %w", task, db, err)
	}
	return n, nil
}

// runEventsink measures one eventsink process alone: o.EventsinkEvents
// synthetic events are published onto push.events.ru first, then the
// process starts; the rate runs from the first rows seen in ClickHouse
// until all are there (polled every 100ms).
func runEventsink(ctx context.Context, o Options, work string, conn driver.Conn, brokers []string, chAddr string, say func(string, ...any)) ([]Figure, error) {
	region, n := eventsinkRegion, o.EventsinkEvents
	db := stackPrefix + region
	if err := prepareRegion(ctx, conn, brokers, region); err != nil {
		return nil, err
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	say("publishing %d events onto %s", n, pipeline.EventsTopic(region))
	events := eventsinkEvents(region, n)
	produced, _, err := produceParallel(ctx, p, n, eventsinkProduceChunk, eventsinkWriters, time.Hour, func(i int) pipeline.Output {
		b, _ := json.Marshal(events[i])
		return pipeline.Output{Topic: pipeline.EventsTopic(region), Key: []byte(events[i].MsgID), Value: b}
	})
	if err != nil {
		return nil, err
	}
	say("inserting them with one eventsink process")
	ws, err := startStack(ctx, o.Binary, work, stackConfig{region: region, brokers: brokers, chAddr: chAddr}, "eventsink")
	if err != nil {
		return nil, err
	}
	defer ws.stop()
	started := time.Now()
	var first uint64
	var t0 time.Time
	err = waitUntil(ctx, 100*time.Millisecond, eventsinkLimit, fmt.Sprintf("%d events in %s", produced, db), func() (bool, error) {
		var got uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".events").Scan(&got); err != nil {
			return false, fmt.Errorf("counting the events in %s: %w", db, err)
		}
		if got > 0 && t0.IsZero() {
			first, t0 = got, time.Now()
		}
		return got >= uint64(produced), nil
	})
	if err != nil {
		return nil, err
	}
	// Rows seen at the first look were inserted since the group join, at
	// most one poll interval before.
	el := time.Since(t0)
	rate := float64(uint64(produced)-first) / el.Seconds()
	if first >= uint64(produced) {
		rate = float64(produced) / time.Since(started).Seconds()
	}
	say("%d events inserted, %.0f events/s", produced, rate)
	return []Figure{
		{"eventsink_events", float64(produced), "events"},
		{"eventsink_events_per_s", round(rate, 0), "events/s"},
	}, nil
}

// eventsinkEvents returns n synthetic lifecycle events of region from the
// last hour, in the analytics figures' mix.
func eventsinkEvents(region string, n int) []schema.Event {
	out := make([]schema.Event, 0, n+8)
	from := time.Now().Add(-time.Hour)
	for i := 0; len(out) < n; i++ {
		out = SyntheticDelivery(out, i, n/5+1, from, time.Hour)
	}
	out = out[:n]
	for i := range out {
		out[i].Region = region
	}
	return out
}
