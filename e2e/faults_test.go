package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/store"
)

// faultConfig is fastRetries with room for the many attempts a delivery
// may need while a fault lasts, and batches small enough that a fault
// lands between the handling of a batch and its commit.
func faultConfig(c *config.Config) {
	fastRetries(c)
	c.Retry.MaxAttempts = 100
	c.Stage.BatchSize = 50
}

// chainKinds are the stages every fault test runs: the chain from request
// to ClickHouse.
func chainKinds() []app.Kind { return []app.Kind{app.Fanout, app.Sender, app.Retry, app.Eventsink} }

// report logs the duplicate vendor calls a fault caused next to the
// replayed records that can explain them: the delivery records produced
// again, and uncommitted (when not negative), the input records of the
// faulted stage that were not committed at the fault.
func (o faultOutcome) report(t *testing.T, fault string, uncommitted int64) {
	t.Helper()
	msg := fmt.Sprintf("%s: terminal events %v, %d superseded (a second ending of a replayed attempt); the vendor accepted %d tokens more than once (%d duplicate vendor calls); "+
		"push.deliveries.sg holds %d records of which %d repeat an earlier delivery and attempt",
		fault, o.terminal, o.superseded, o.dupTokens, o.dupCalls, o.deliveryRecords, o.replayed)
	if uncommitted >= 0 {
		msg += fmt.Sprintf("; %d input records of the faulted stage were uncommitted at the fault (the most it could be handed again)", uncommitted)
	}
	t.Log(msg)
}

// TestWorkerSIGKILLMidStream runs one worker as its own `pushpipe <worker>`
// process and the rest of the chain in-process, streams 3,000 deliveries
// through it, kills the process with SIGKILL mid-stream and starts it
// again: every planned delivery still ends with exactly one terminal event
// and the statistics count each once. The sender has its own test
// (TestSenderSIGKILLMidStream).
func TestWorkerSIGKILLMidStream(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		scenario string
		kind     app.Kind
		// failNext is the number of first vendor calls answered 503, so
		// that the retry worker has work. The breaker is off for it, so
		// that the failures are answered to deliveries, not absorbed by
		// an open breaker. The worker is killed while failures are still
		// answered: a replayed retry may then meet another answer than
		// its original, and the delivery must still end once.
		failNext int
		// upstream is true when the killed worker feeds the sender: its
		// replays may reach the vendor, but only as replayed delivery
		// records. A killed event sink causes no vendor call at all.
		upstream bool
	}{
		{scenario: "fanout killed while requests stream in", kind: app.Fanout, upstream: true},
		{scenario: "retry killed while deliveries are retried", kind: app.Retry, failNext: 600, upstream: true},
		{scenario: "eventsink killed while events stream in", kind: app.Eventsink},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			e := newEnvWith(t, func(c *config.Config) {
				faultConfig(c)
				c.Sender.Breaker.Disabled = tt.failNext > 0
				if tt.failNext > 0 {
					// Retries wait up to 5s, so that many are waiting
					// when the worker is killed.
					c.Retry.BaseBackoff, c.Retry.MaxBackoff = 2*time.Second, 5*time.Second
				}
			}, "sg")
			var others []app.Kind
			for _, k := range chainKinds() {
				if k != tt.kind {
					others = append(others, k)
				}
			}
			e.run([]string{"sg"}, others...)
			cfgPath, log := e.workerConfig(), logFile(t)
			first := e.startWorker(bin, tt.kind, cfgPath, log)
			e.waitReady(first)
			p := faultPlan{prefix: "kill", devices: 3000, badEvery: 25}
			s := e.stream(p, 12, 400*time.Millisecond)
			e.waitWaves(s, 2)
			if tt.failNext > 0 {
				if err := e.sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Region: "sg", Status: 503, Next: tt.failNext}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.failNext == 0 {
				e.waitWaves(s, 4)
			}
			// Kill it while it has committed work behind it and records
			// not committed yet (read, in flight or waiting) in front.
			var committed, pending int64
			for deadline := time.Now().Add(time.Minute); committed == 0 || pending == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the %s process never had work in flight: %d records committed, %d pending", tt.kind, committed, pending)
				}
				committed, pending = e.progress(tt.kind)
			}
			first.kill(t)
			if s.finished() {
				t.Fatal("the stream ended before the kill; the test proves nothing")
			}
			_, uncommitted := e.progress(tt.kind)
			second := e.startWorker(bin, tt.kind, cfgPath, log)
			t.Cleanup(second.stop)
			<-s.done

			o := e.settle(p, 2*time.Minute)
			o.report(t, "SIGKILL of "+string(tt.kind), uncommitted)
			if tt.upstream && o.dupCalls > int64(o.replayed) {
				t.Errorf("%d duplicate vendor calls but only %d replayed delivery records: the sender repeated calls on its own", o.dupCalls, o.replayed)
			}
			if !tt.upstream && (o.dupCalls != 0 || o.replayed != 0) {
				t.Errorf("killing the %s caused %d duplicate vendor calls and %d replayed deliveries, want none", tt.kind, o.dupCalls, o.replayed)
			}
		})
	}
}

// TestBrokerRestartMidStream closes the Kafka broker (with a data
// directory) while the whole chain works through 4,000 deliveries and
// starts it again on the same port and directory three seconds later: the
// workers reconnect and resume from their committed offsets, and every
// planned delivery ends with exactly one terminal event.
func TestBrokerRestartMidStream(t *testing.T) {
	tests := []struct {
		scenario string
		down     time.Duration
	}{
		{scenario: "broker down for three seconds", down: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx := context.Background()
			bcfg := embeddedkafka.Config{DataDir: t.TempDir(), Port: freePort(t), GroupMinSessionTimeout: time.Second}
			broker, err := embeddedkafka.Start(ctx, bcfg)
			if err != nil {
				t.Fatal(err)
			}
			// Registered first, so it runs after the workers have stopped.
			t.Cleanup(func() { _ = broker.Close() })
			e := newEnvOpts(t, envOptions{brokers: []string{broker.Addr()}, configure: faultConfig}, "sg")
			e.run([]string{"sg"}, chainKinds()...)

			p := faultPlan{prefix: "brk", devices: 4000, badEvery: 25}
			s := e.stream(p, 4, 100*time.Millisecond)
			<-s.done
			accepted := func() int64 {
				a, _ := e.sim.AppCounts("mipush", "sg", testApp)
				return a.Messages + a.InvalidTokens
			}
			e.waitFor("the vendor to be mid-stream", time.Minute, func() (bool, string) {
				n := accepted()
				return n >= int64(p.devices/10), fmt.Sprintf("%d of %d deliveries at the vendor", n, p.devices)
			})
			_, uncommitted := e.progress(app.Sender)
			if err := broker.Close(); err != nil {
				t.Fatal(err)
			}
			atClose := accepted()
			if atClose >= int64(p.devices) {
				t.Fatalf("every delivery reached the vendor before the broker closed; the test proves nothing")
			}
			time.Sleep(tt.down)
			broker, err = embeddedkafka.Start(ctx, bcfg)
			if err != nil {
				t.Fatalf("restarting the broker on the same port and data directory: %v", err)
			}

			o := e.settle(p, 2*time.Minute)
			o.report(t, fmt.Sprintf("broker restart (%d of %d deliveries at the vendor when it closed)", atClose, p.devices), uncommitted)
		})
	}
}

// TestClickHouseUnreachable30s points the event sink at a TCP proxy to
// ClickHouse and cuts it for 30 seconds mid-stream: nothing is inserted
// while it is cut, the events wait in Kafka (the sink commits nothing),
// and once it is back every event is inserted, each counted once.
func TestClickHouseUnreachable30s(t *testing.T) {
	tests := []struct {
		scenario string
		outage   time.Duration
	}{
		{scenario: "event sink cut from ClickHouse for 30s", outage: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			e := newEnvWith(t, faultConfig, "sg")
			proxy := startCHProxy(t, ch.Addr())
			ctx := context.Background()
			sinkCH, err := store.OpenClickHouse(ctx, store.ClickHouseOptions{Addr: proxy.Addr()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sinkCH.Close() })
			sink := e.deps()
			sink.CH = sinkCH
			e.run([]string{"sg"}, app.Fanout, app.Sender, app.Retry)
			e.runStoppable(sink, []string{"sg"}, app.Eventsink)

			p := faultPlan{prefix: "chdown", devices: 3000, badEvery: 25}
			s := e.stream(p, 12, 500*time.Millisecond)
			stored := func() uint64 {
				var n uint64
				if err := e.conn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM "+e.db("sg")+".events WHERE "+p.where()).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			e.waitWaves(s, 3)
			e.waitFor("the event sink to insert", time.Minute, func() (bool, string) {
				n := stored()
				return n > 0, fmt.Sprintf("%d events stored", n)
			})
			proxy.setCut(true)
			cutAt := time.Now()
			// An insert in flight at the cut may still complete.
			time.Sleep(2 * time.Second)
			before := stored()
			time.Sleep(time.Until(cutAt.Add(tt.outage)))
			after := stored()
			committed, pending := e.progress(app.Eventsink)
			proxy.setCut(false)
			if after != before {
				t.Errorf("%d events were inserted while ClickHouse was unreachable: the outage did not hold", after-before)
			}
			if pending == 0 {
				t.Errorf("the event sink committed every event (%d) while ClickHouse was unreachable", committed)
			}
			if !s.finished() {
				t.Errorf("the stream did not go on during the outage")
			}
			t.Logf("%d events stored before the outage; %d records waiting in push.events.sg at its end", before, pending)

			o := e.settle(p, 2*time.Minute)
			o.report(t, "ClickHouse unreachable for "+tt.outage.String(), pending)
			if o.dupCalls != 0 || o.replayed != 0 {
				t.Errorf("the outage caused %d duplicate vendor calls and %d replayed deliveries, want none", o.dupCalls, o.replayed)
			}
		})
	}
}

// TestVendor5xxStormMidStream makes the simulator answer 503 to every
// MiPush call for 10 seconds while 3,000 deliveries stream through the
// chain: the stormed deliveries go through the retry path, and after the
// storm every one ends acked exactly once.
func TestVendor5xxStormMidStream(t *testing.T) {
	tests := []struct {
		scenario string
		storm    time.Duration
	}{
		{scenario: "every MiPush call answered 503 for 10s", storm: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			e := newEnvWith(t, faultConfig, "sg")
			e.run([]string{"sg"}, chainKinds()...)
			p := faultPlan{prefix: "storm", devices: 3000}
			s := e.stream(p, 20, time.Second)
			e.waitWaves(s, 3)
			e.waitFor("the vendor to accept deliveries", time.Minute, func() (bool, string) {
				a, _ := e.sim.AppCounts("mipush", "sg", testApp)
				return a.Messages > 0, fmt.Sprintf("%d accepted", a.Messages)
			})
			if err := e.sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Region: "sg", Status: 503, Probability: 1}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tt.storm)
			e.sim.ClearFailures()
			if s.finished() {
				t.Errorf("the stream ended during the storm; the storm did not hit it mid-stream")
			}
			a, _ := e.sim.AppCounts("mipush", "sg", testApp)
			if a.Injected == 0 {
				t.Fatal("no vendor call was answered by the storm")
			}

			o := e.settle(p, 2*time.Minute)
			retried := e.eventCounts("sg", p.where()+" AND event = 'retried'")["retried"]
			if retried == 0 {
				t.Error("no delivery was retried: the storm did not reach the deliveries")
			}
			t.Logf("%d vendor calls answered 503 by the storm; %d retried events", a.Injected, retried)
			o.report(t, "vendor 5xx storm of "+tt.storm.String(), -1)
		})
	}
}

// TestSenderReplicasScaled1To3To1 runs one in-process sender replica,
// adds two while 4,000 deliveries stream in, waits until each new replica
// has consumed deliveries, and removes them again (graceful stops) before
// the stream ends: the partitions move between replicas twice and every
// planned delivery still ends with exactly one terminal event.
func TestSenderReplicasScaled1To3To1(t *testing.T) {
	tests := []struct {
		scenario   string
		partitions int
		// from, peak: replica counts; up and down: the waves published
		// before scaling from -> peak and back.
		from, peak, up, down, waves int
	}{
		{scenario: "1 to 3 to 1 replicas on 4 partitions", partitions: 4, from: 1, peak: 3, up: 4, down: 14, waves: 24},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			e := newEnvWith(t, func(c *config.Config) {
				faultConfig(c)
				c.Kafka.Partitions = tt.partitions
			}, "sg")
			e.run([]string{"sg"}, app.Fanout, app.Retry, app.Eventsink)
			type replica struct {
				stop func()
				reg  *prometheus.Registry
			}
			var replicas []replica
			scale := func(n int) {
				for len(replicas) < n {
					d := e.deps()
					reg := prometheus.NewRegistry()
					d.Metrics = reg
					replicas = append(replicas, replica{e.runStoppable(d, []string{"sg"}, app.Sender), reg})
				}
				for len(replicas) > n {
					replicas[len(replicas)-1].stop()
					replicas = replicas[:len(replicas)-1]
				}
			}
			p := faultPlan{prefix: "scale", devices: 4000, badEvery: 25}
			scale(tt.from)
			s := e.stream(p, tt.waves, 500*time.Millisecond)
			e.waitWaves(s, tt.up)
			_, uncommitted := e.progress(app.Sender)
			scale(tt.peak)
			for i, r := range replicas[tt.from:] {
				e.waitFor(fmt.Sprintf("added replica %d to consume deliveries", i+1), time.Minute, func() (bool, string) {
					n := counter(r.reg, "pushpipe_stage_records_consumed_total")
					return n > 0, fmt.Sprintf("%g consumed", n)
				})
			}
			e.waitWaves(s, tt.down)
			_, u := e.progress(app.Sender)
			uncommitted += u
			scale(tt.from)
			if s.finished() {
				t.Errorf("the stream ended before the replicas were scaled back; it did not happen mid-stream")
			}
			o := e.settle(p, 2*time.Minute)
			o.report(t, fmt.Sprintf("sender replicas %d -> %d -> %d", tt.from, tt.peak, tt.from), uncommitted)
		})
	}
}

// counter sums the values of the counter (or gauge) called name in reg;
// given a label and a value, only of the series carrying label=value.
func counter(reg *prometheus.Registry, name string, labelValue ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := len(labelValue) < 2
			for _, lp := range m.GetLabel() {
				match = match || lp.GetName() == labelValue[0] && lp.GetValue() == labelValue[1]
			}
			if match {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
