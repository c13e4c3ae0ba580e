package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// senderVendors are the channels the sender figures cover.
var senderVendors = []string{"mipush", "apns", "fcm", "hms", "honor", "harmonyos", "oppo", "vivo", "self"}

// senderRegion is the region of the sender and endpoint figures: the
// fan-out broadcast leaves its deliveries unsent on push.deliveries.sg,
// and a sender there would send those first.
const senderRegion = "cn"

// runSender measures, per vendor, the ceiling of the simulator's endpoint
// (with h2load, if o.EndpointCeilings; see endpointMeter) and right after
// it deliveries per second through one sender process against the
// simulator (its steady pace, see sendTiming.steadyRate, and the whole
// time from publishing to the last delivery accepted) with the CPU time
// (user+system) that process spent per delivery, and the p99 of its
// vendor calls (acked minus sent time of each delivery).
func runSender(ctx context.Context, env *runEnv) ([]Figure, error) {
	region, brokers, say := senderRegion, env.brokers, env.say
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), stackPartitions); err != nil {
		return nil, err
	}
	sim, err := startDemoSim(ctx, env.work, 1000)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sim.Close() }()
	var figs []Figure
	var meter *endpointMeter
	if env.o.EndpointCeilings {
		if meter, err = newEndpointMeter(ctx, env, sim, region); err != nil {
			return nil, err
		}
	}
	ws, err := startStack(ctx, env.o.Binary, env.work, stackConfig{region: region, brokers: brokers, demo: sim,
		noRateLimit: true, senderConcurrency: 16}, "sender")
	if err != nil {
		return nil, err
	}
	defer ws.stop()
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()

	n := env.o.SenderDeliveries
	// Warm up: the sender joins its group and opens its connections on a
	// small batch that is not measured.
	if _, err := sendAndWait(ctx, p, sim.Server, sim.key, "mipush", "warmup", stackApp, region, min(n, 500)); err != nil {
		return nil, err
	}
	pid := ws["sender"].pid()
	for _, v := range senderVendors {
		if meter != nil {
			figs = append(figs, meter.ceiling(ctx, v)...)
		}
		say("sending %d deliveries through one sender to %s", n, v)
		before, err := readProc(pid)
		if err != nil {
			return nil, err
		}
		st, err := sendAndWait(ctx, p, sim.Server, sim.key, v, "bench", stackApp, region, n)
		if err != nil {
			return nil, err
		}
		after, err := readProc(pid)
		if err != nil {
			return nil, err
		}
		figs = append(figs, Figure{"sender_deliveries_per_s_" + v, round(st.steadyRate(), 0), "deliveries/s"},
			Figure{"sender_whole_s_" + v, round(st.end.Sub(st.start).Seconds(), 3), "s"},
			Figure{"sender_cpu_us_per_delivery_" + v, round(float64((after.CPU-before.CPU).Microseconds())/float64(n), 1), "µs"})
	}
	lat, err := callLatencies(ctx, brokers, pipeline.EventsTopic(region))
	if err != nil {
		return nil, err
	}
	for _, v := range senderVendors {
		figs = append(figs, Figure{"vendor_call_p99_ms_" + v, round(percentile(lat[v], 0.99), 1), "ms"})
	}
	return figs, nil
}

// sendTiming is how one sendAndWait went: it published n deliveries at
// start, the simulator had accepted the last at end, and at the first
// looks that found at least a tenth and at least nine tenths of them
// accepted (at tenth and ninth) it had accepted tenthN and ninthN.
type sendTiming struct {
	n              int
	start, end     time.Time
	tenth, ninth   time.Time
	tenthN, ninthN int64
}

// steadyRate is the deliveries a second accepted between the looks at a
// tenth and at nine tenths: the sender's pace once it runs, without the
// publishing of the deliveries and the first fetches before it, and the
// tail of the last calls after it, as an endpoint's ceiling is h2load's
// pace over a load already under way. When the two looks are less than
// steadyMinSpan apart it is n over the whole: a batching vendor's
// 50,000 deliveries take well under a second, in calls of up to 1,000
// tokens that end in bursts, and one OPPO run's looks, a few ms apart,
// made 40,000 of them a pace of 785,000 a second.
func (t sendTiming) steadyRate() float64 {
	if span := t.ninth.Sub(t.tenth); span >= steadyMinSpan && t.ninthN > t.tenthN {
		return float64(t.ninthN-t.tenthN) / span.Seconds()
	}
	if whole := t.end.Sub(t.start).Seconds(); whole > 0 {
		return float64(t.n) / whole
	}
	return 0
}

// sendAndWait publishes n deliveries of one content to vendor v and waits
// until the simulator has accepted n more messages of it, looking every
// sendLook.
func sendAndWait(ctx context.Context, p *pipeline.Producer, sim *vendorsim.Server, key schema.IDKey, v, prefix, appID, region string, n int) (sendTiming, error) {
	accepted := func() int64 {
		a, _ := sim.AppCounts(v, region, appID)
		return a.Messages
	}
	base, err := settledCount(ctx, accepted, settleLook, settleBound)
	if err != nil {
		return sendTiming{}, fmt.Errorf("counting the simulator's %s messages before sending: %w", v, err)
	}
	outs := make([]pipeline.Output, 0, n)
	expire := time.Now().Add(time.Hour).UnixMilli()
	for i := 0; i < n; i++ {
		dev := fmt.Sprintf("%s-%s-%07d", prefix, v, i)
		token := benchToken(v, dev, i)
		msgID := prefix + "-" + v // one content per vendor: batching vendors batch
		d := schema.Delivery{DeliveryID: key.DeliveryID(appID, msgID, dev), MsgID: msgID, TaskID: msgID, AppID: appID,
			Region: region, PushType: schema.PushBroadcast, Target: dev, DeviceID: dev, Platform: "android", Channel: v,
			Token: token, Title: "Bench", Body: "Hello", ExpireAt: expire, AcceptedAt: time.Now().UnixMilli()}
		b, _ := json.Marshal(d)
		outs = append(outs, pipeline.Output{Topic: pipeline.DeliveriesTopic(region), Key: []byte(d.KafkaKey()), Value: b})
	}
	t := sendTiming{n: n, start: time.Now()}
	if err := p.Produce(ctx, outs); err != nil {
		return sendTiming{}, err
	}
	for {
		got, now := accepted()-base, time.Now()
		if t.tenth.IsZero() && got >= int64(n/10) {
			t.tenth, t.tenthN = now, got
		}
		if t.ninth.IsZero() && got >= int64(n*9/10) {
			t.ninth, t.ninthN = now, got
		}
		if got >= int64(n) {
			t.end = now
			return t, nil
		}
		select {
		case <-ctx.Done():
			return sendTiming{}, fmt.Errorf("waiting for %s deliveries (%d of %d): %w", v, got, n, ctx.Err())
		case <-time.After(sendLook):
		}
	}
}

// settledCount returns count() once it read the same twice look apart
// (through waitUntil), and fails if it did not within bound. The endpoint
// ceiling measured right before a sender figure leaves calls under way
// when h2load stops (64 OPPO calls of 1,000 tokens at 64×1), which the
// simulator goes on answering and counting: two full runs' OPPO figures,
// read from a count taken while those landed, were 253,669 and 784,985
// deliveries/s, at 2.2 µs of the sender's CPU a delivery instead of 12-16.
func settledCount(ctx context.Context, count func() int64, look, bound time.Duration) (int64, error) {
	last, seen := int64(0), false
	err := waitUntil(ctx, look, bound, "the simulator's count to settle", func() (bool, error) {
		now := count()
		settled := seen && now == last
		last, seen = now, true
		return settled, nil
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}

// settleLook and settleBound are sendAndWait's settledCount pace.
const (
	settleLook  = 100 * time.Millisecond
	settleBound = 10 * time.Second
)

// sendLook is how often sendAndWait looks at the simulator's count;
// steadyMinSpan the least time between its looks at a tenth and at nine
// tenths for a steady pace (see sendTiming.steadyRate): APNs and FCM take
// 1.5-2.5 s between them on the bench's machine, a batching vendor's
// whole 50,000 under one, and with half a second a HarmonyOS run still
// read twice its pace over the whole.
const (
	sendLook      = 5 * time.Millisecond
	steadyMinSpan = time.Second
)

// callLatencies reads every event on the topic and returns, per channel,
// acked.ts - sent.ts of each delivery in milliseconds.
func callLatencies(ctx context.Context, brokers []string, topic string) (map[string][]float64, error) {
	client := benchClient(brokers)
	total, err := topicSize(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: benchDialer(), Topic: topic, GroupID: "bench-latency", StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	sent := map[string]int64{}
	out := map[string][]float64{}
	for read := int64(0); read < total; read++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading %s (%d of %d): %w", topic, read, total, err)
		}
		var e schema.Event
		if json.Unmarshal(m.Value, &e) != nil {
			continue
		}
		key := e.DeliveryID + fmt.Sprint(e.Attempt)
		switch e.Event {
		case schema.EventSent:
			sent[key] = e.TS
		case schema.EventAcked:
			if ts, ok := sent[key]; ok {
				out[e.Channel] = append(out[e.Channel], float64(e.TS-ts))
			}
		}
	}
	return out, nil
}

func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}
