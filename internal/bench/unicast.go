package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
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
	// unicastPublishers publish at once, each request in its own Produce
	// call, so that a slow acknowledgement does not hold the schedule.
	unicastPublishers = 32
	// unicastDrain bounds the wait for the last vendor calls of a rate.
	unicastDrain = 30 * time.Second
	// unicastMiPushCallsPerS is the MiPush budget of the bench app: every
	// unicast request is its own MiPush call (its own msg id), so
	// Xiaomi's default 1000 calls/s would cap the 2,000 req/s figure.
	unicastMiPushCallsPerS = 5000
)

// unicastRates are the request rates the latency figures are measured at.
var unicastRates = []int{500, 2000}

// runUnicast measures unicast latency: SIMPLE requests for one registered
// MiPush device each are published onto push.requests.eu at a fixed rate
// for o.UnicastDuration, with one fanout and one sender process running;
// a request's latency is the time the simulator received the MiPush call
// for its device minus the time its Produce call began. It reports the
// p50, p99 and p99.9 at each of unicastRates, the rate reached and how
// many calls arrived.
func runUnicast(ctx context.Context, o Options, work string, conn driver.Conn, brokers []string, chAddr string, say func(string, ...any)) ([]Figure, error) {
	region := unicastRegion
	if err := prepareRegion(ctx, conn, brokers, region); err != nil {
		return nil, err
	}
	counts := make([]int, len(unicastRates))
	total := unicastWarmup
	for i, r := range unicastRates {
		counts[i] = int(float64(r) * o.UnicastDuration.Seconds())
		total += counts[i]
	}
	say("registering %d devices for the unicast figures", total)
	if err := registerDevices(ctx, conn, stackPrefix+region, 0, total); err != nil {
		return nil, err
	}
	sim, err := startMiPushSim(ctx, total+1000)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	ws, err := startStack(ctx, o.Binary, work, stackConfig{region: region, brokers: brokers, chAddr: chAddr, simAddr: sim.Addr(),
		mipushCallsPerS: unicastMiPushCallsPerS}, "fanout", "sender")
	if err != nil {
		return nil, err
	}
	defer ws.stop()
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer p.Close()

	say("warming up fanout and sender with %d unicast requests", unicastWarmup)
	if _, _, err := publishUnicast(ctx, p, region, 0, unicastWarmup, 100); err != nil {
		return nil, err
	}
	if err := waitForMiPush(ctx, sim, region, unicastWarmup, 2*time.Minute); err != nil {
		return nil, err
	}

	type phase struct {
		rate       int
		pub, calls map[string]time.Time
	}
	var phases []phase
	var figs []Figure
	first := unicastWarmup
	for i, rate := range unicastRates {
		n := counts[i]
		if n == 0 {
			continue
		}
		say("publishing %d unicast requests at %d/s", n, rate)
		base := mipushMessages(sim, region)
		pub, reached, err := publishUnicast(ctx, p, region, first, n, rate)
		if err != nil {
			return nil, err
		}
		if err := waitForMiPush(ctx, sim, region, base+int64(n), unicastDrain); err != nil {
			say("%v; reporting the calls that arrived", err)
		}
		calls := firstCalls(sim.Requests(vendorsim.VendorMiPush, region), pub)
		lat := spans(pub, calls)
		say("%d of %d requests reached the simulator at %d/s (published at %.0f/s)", len(lat), n, rate, reached)
		sfx := fmt.Sprintf("_at_%drps", rate)
		figs = append(figs,
			Figure{"unicast_p50_ms" + sfx, round(percentile(lat, 0.5), 1), "ms"},
			Figure{"unicast_p99_ms" + sfx, round(percentile(lat, 0.99), 1), "ms"},
			Figure{"unicast_p999_ms" + sfx, round(percentile(lat, 0.999), 1), "ms"},
			Figure{"unicast_published_rps" + sfx, round(reached, 0), "req/s"},
			Figure{"unicast_delivered" + sfx, float64(len(lat)), "requests"},
		)
		phases = append(phases, phase{rate, pub, calls})
		first += n
	}
	// Where the time goes: the deliveries' append times split each
	// latency into fanout (request published -> delivery written) and
	// sender (delivery written -> vendor call).
	written, err := deliveryTimes(ctx, brokers, pipeline.DeliveriesTopic(region))
	if err != nil {
		return nil, err
	}
	for _, ph := range phases {
		sfx := fmt.Sprintf("_at_%drps", ph.rate)
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

// unicastRequest is the SIMPLE request for bench device i.
func unicastRequest(region string, i int) (key, value []byte) {
	task := fmt.Sprintf("uc-%08d", i)
	v, _ := json.Marshal(map[string]any{"type": "SIMPLE", "region": region, "appId": stackApp, "workspaceId": "bench",
		"taskId": task, "taskName": "bench-unicast", "deliverType": 1, "targetMsgkey": map[string]string{deviceID(i): task},
		"title": "Order shipped", "content": "Your order " + task + " is on its way", "expiredSeconds": 3600,
		"acceptedAt": time.Now().UnixMilli()})
	return []byte(task), v
}

// publishUnicast publishes the requests of devices [first, first+n), one
// a Produce call, request k due at k/rate after the start. It returns the
// time each Produce began by device token and the rate reached.
func publishUnicast(ctx context.Context, p *pipeline.Producer, region string, first, n, rate int) (map[string]time.Time, float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	times := make([]time.Time, n)
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for range unicastPublishers {
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
				key, value := unicastRequest(region, first+k)
				times[k] = time.Now()
				if err := p.Produce(ctx, []pipeline.Output{{Topic: pipeline.RequestsTopic(region), Key: key, Value: value}}); err != nil {
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
		pub[deviceToken(first+k)] = t
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
		for _, tok := range r.RegIDs {
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
	defer r.Close()
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
	a, _ := sim.AppCounts(vendorsim.VendorMiPush, region, stackApp)
	return a.Messages
}

// waitForMiPush waits, at most limit, until the simulator accepted want
// MiPush messages of stackApp in region.
func waitForMiPush(ctx context.Context, sim *vendorsim.Server, region string, want int64, limit time.Duration) error {
	return waitUntil(ctx, 10*time.Millisecond, limit, fmt.Sprintf("%d MiPush messages in %s", want, region), func() (bool, error) {
		return mipushMessages(sim, region) >= want, nil
	})
}
