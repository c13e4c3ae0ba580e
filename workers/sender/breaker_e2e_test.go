package sender_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// stateChange is one logged breaker state change and when it was written.
type stateChange struct {
	at                       time.Time
	vendor, region, from, to string
}

// breakerLog collects the breaker state changes logged by the workers.
type breakerLog struct {
	mu      sync.Mutex
	changes []stateChange
}

func (l *breakerLog) Write(p []byte) (int, error) {
	at := time.Now()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var line struct {
			Message, Vendor, Region, From, To string
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "vendor circuit breaker state changed" {
			l.mu.Lock()
			l.changes = append(l.changes, stateChange{at, line.Vendor, line.Region, line.From, line.To})
			l.mu.Unlock()
		}
	}
	return len(p), nil
}

func (l *breakerLog) of(vendor, region string) []stateChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []stateChange
	for _, c := range l.changes {
		if c.vendor == vendor && c.region == region {
			out = append(out, c)
		}
	}
	return out
}

// outcomes follows the events of one region: the devices whose delivery
// was acked, and any that failed or expired.
type outcomes struct {
	mu       sync.Mutex
	acked    map[string]time.Time
	terminal map[string]string // device -> failed/expired
}

func followEvents(t *testing.T, e *env, region string) *outcomes {
	t.Helper()
	o := &outcomes{acked: map[string]time.Time{}, terminal: map[string]string{}}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, GroupID: "test-events-" + region, Topic: pipeline.EventsTopic(region),
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, SessionTimeout: 6 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				return
			}
			var ev schema.Event
			if json.Unmarshal(m.Value, &ev) != nil {
				continue
			}
			o.mu.Lock()
			switch ev.Event {
			case schema.EventAcked:
				if _, ok := o.acked[ev.DeviceID]; !ok {
					o.acked[ev.DeviceID] = time.Now()
				}
			case schema.EventFailed, schema.EventExpired:
				o.terminal[ev.DeviceID] = string(ev.Event)
			}
			o.mu.Unlock()
		}
	})
	t.Cleanup(func() { cancel(); _ = r.Close(); wg.Wait() })
	return o
}

// count returns the number of acked devices whose id starts with prefix,
// when the last of them was acked, and the devices of prefix that ended
// otherwise.
func (o *outcomes) count(prefix string) (int, time.Time, map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var last time.Time
	n := 0
	for d, at := range o.acked {
		if !strings.HasPrefix(d, prefix) {
			continue
		}
		n++
		if at.After(last) {
			last = at
		}
	}
	term := map[string]string{}
	for d, ev := range o.terminal {
		if strings.HasPrefix(d, prefix) {
			term[d] = ev
		}
	}
	return n, last, term
}

// TestBreakerStormOnOneEndpoint runs the sender and retry workers of
// regions sg and eu (one MiPush and one Huawei endpoint each, so one
// breaker each) while the simulator answers 503 to every MiPush call in
// sg. The sg MiPush breaker opens and lets only its probes reach the
// vendor; the other vendor of sg (Huawei) and MiPush in eu keep flowing;
// and once the storm ends every stormed delivery ends acked through the
// retry path: nothing is lost.
func TestBreakerStormOnOneEndpoint(t *testing.T) {
	const (
		perRegion = 200
		storm     = 3 * time.Second
		open      = 500 * time.Millisecond
		probes    = 1
	)
	logs := &breakerLog{}
	log := zerolog.New(logs).Level(zerolog.InfoLevel)
	regions := []string{"sg", "eu"}
	e := newEnv(t, regions, 2, log, func(c *config.Config) {
		c.Sender.Breaker = middleware.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: open, HalfOpenRequests: probes}
	})
	sg, eu := followEvents(t, e, "sg"), followEvents(t, e, "eu")
	reg := e.run(regions, app.Sender, app.Retry)

	if err := e.sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Region: "sg", Status: 503, Probability: 1}); err != nil {
		t.Fatal(err)
	}
	// One message per delivery: one vendor call each.
	e.publishDeliveries("sg", "storm", perRegion, true)
	e.publishDeliveries("eu", "calm", perRegion, true)
	e.publishDeliveriesOn("hms", "sg", "huawei", perRegion, true)

	var opened time.Time
	for deadline := time.Now().Add(30 * time.Second); opened.IsZero(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sg MiPush breaker never opened during the storm")
		}
		for _, c := range logs.of("mipush", "sg") {
			if c.to == "open" {
				opened = c.at
				break
			}
		}
	}
	if v, ok := gauge(reg, "pushpipe_vendor_breaker_state", map[string]string{"region": "sg", "vendor": "mipush"}); !ok || v == middleware.BreakerClosed {
		t.Fatalf("pushpipe_vendor_breaker_state{region=sg,vendor=mipush} = %v (present %v) during the storm, want half-open or open", v, ok)
	}
	time.Sleep(storm)
	stormEnd := time.Now()
	e.sim.ClearFailures()
	euDone, euLast, _ := eu.count("calm")
	hmsDone, hmsLast, hmsTerm := sg.count("huawei")

	// After the storm every sg delivery ends acked through the retry path.
	var acked int
	var term map[string]string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		acked, _, term = sg.count("storm")
		if acked == perRegion || len(term) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sg deliveries acked 60s after the storm", acked, perRegion)
		}
	}
	drained := time.Since(stormEnd)
	if len(term) > 0 {
		t.Fatalf("sg deliveries ended without being acked: %v", term)
	}

	// While the breaker was open the vendor saw only the probes. Calls
	// let through just before it opened may arrive right after (at most
	// the sender's concurrency in each of its concurrent batches).
	changes := logs.of("mipush", "sg")
	halfOpens := 0
	for _, c := range changes {
		if c.at.After(opened) && c.at.Before(stormEnd) && c.to == "half-open" {
			halfOpens++
		}
	}
	// Open intervals: from each change to open until the next change.
	// The first 50ms after opening are left out for calls admitted just
	// before.
	type interval struct{ from, to time.Time }
	var opens []interval
	for i, c := range changes {
		if c.to != "open" {
			continue
		}
		end := stormEnd
		if i+1 < len(changes) && changes[i+1].at.Before(end) {
			end = changes[i+1].at
		}
		opens = append(opens, interval{c.at.Add(50 * time.Millisecond), end})
	}
	var during, before, whileOpen int
	for _, r := range e.sim.Requests("mipush", "sg") {
		switch {
		case r.Time.Before(opened):
			before++
		case r.Time.Before(stormEnd):
			during++
		}
		for _, iv := range opens {
			if r.Time.After(iv.from) && r.Time.Before(iv.to) {
				whileOpen++
			}
		}
	}
	if whileOpen > 0 {
		t.Fatalf("the vendor saw %d calls while the breaker was open", whileOpen)
	}
	slack := e.cfg.Sender.Concurrency * max(1, e.cfg.Sender.ConcurrentBatches)
	if during > halfOpens*probes+slack {
		t.Fatalf("the vendor saw %d calls in the %s the breaker was open or probing (%d half-open periods × %d probes, + %d in flight allowed)",
			during, stormEnd.Sub(opened).Round(time.Millisecond), halfOpens, probes, slack)
	}
	if open := logs.of("mipush", "eu"); len(open) > 0 {
		t.Fatalf("the eu breaker changed state during the sg storm: %+v", open)
	}
	if euDone != perRegion || !euLast.Before(stormEnd) {
		t.Fatalf("eu: %d of %d acked during the sg storm (last at %s, storm ended %s)", euDone, perRegion, euLast, stormEnd)
	}
	if hmsDone != perRegion || !hmsLast.Before(stormEnd) || len(hmsTerm) > 0 {
		t.Fatalf("sg huawei: %d of %d acked during the sg MiPush storm (last at %s, storm ended %s; ended otherwise: %v)",
			hmsDone, perRegion, hmsLast, stormEnd, hmsTerm)
	}
	if changes := logs.of("hms", "sg"); len(changes) > 0 {
		t.Fatalf("the sg huawei breaker changed state during the sg MiPush storm: %+v", changes)
	}
	if got := e.sim.Stats().Vendors["hms"].Regions["sg"].Apps[e2eApp]; got == nil || got.Messages != perRegion {
		t.Fatalf("simulator stats for huawei sg: %+v, want %d messages", got, perRegion)
	}
	if v, _ := gauge(reg, "pushpipe_vendor_breaker_state", map[string]string{"region": "sg", "vendor": "mipush"}); v != middleware.BreakerClosed {
		t.Fatalf("sg breaker gauge %v after the storm, want closed", v)
	}
	var seq []string
	for _, c := range changes {
		seq = append(seq, c.from+"→"+c.to)
	}
	t.Logf("sg storm of %s: %d calls before the breaker opened, %d during the storm (%d half-open periods, %d probe each); "+
		"eu acked %d/%d and sg huawei %d/%d during the storm; all %d sg deliveries acked %s after the storm; sg breaker: %v",
		stormEnd.Sub(opened).Round(time.Millisecond), before, during, halfOpens, probes, euDone, perRegion, hmsDone, perRegion, perRegion,
		drained.Round(100*time.Millisecond), seq)
	if len(seq) == 0 || seq[len(seq)-1] != "half-open→closed" {
		t.Fatalf("sg breaker did not end closed: %v", seq)
	}
}
