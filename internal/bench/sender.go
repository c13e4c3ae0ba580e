package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// senderVendors are the channels the sender figures cover.
var senderVendors = []string{"mipush", "apns", "fcm", "hms", "honor", "harmonyos", "oppo", "vivo", "self"}

// runSender measures, per vendor, deliveries per second through one
// sender process against the simulator, and the p99 of its vendor calls
// (acked minus sent time of each delivery).
func runSender(ctx context.Context, o Options, work string, brokers []string, say func(string, ...any)) ([]Figure, error) {
	// The sender figures run in a region of their own: the fan-out
	// broadcast leaves its deliveries unsent on push.deliveries.sg, and a
	// sender there would send those first.
	const region, appID = "cn", "BENCH_APP"
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), stackPartitions); err != nil {
		return nil, err
	}
	cfg := &config.Config{StateDir: work, Regions: []string{region},
		Apps: []config.AppConfig{{AppID: appID, WorkspaceID: "bench"}}}
	cfg.Defaults()
	cfg.Apps = []config.AppConfig{{AppID: appID, WorkspaceID: "bench"}}
	key, err := demoSetup(cfg)
	if err != nil {
		return nil, err
	}
	sc := app.SimulatorConfig(cfg)
	sc.Addr, sc.APNs.TLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	sc.MaxRecordedRequests = 1000
	big := 1e9
	sc.APNs.QuotaPerSecond, sc.HMS.QuotaPerSecond, sc.Honor.QuotaPerSecond, sc.HarmonyOS.QuotaPerSecond = big, big, big, big
	sc.OPPO.QuotaPerSecond, sc.Vivo.QuotaPerSecond, sc.Self.QuotaPerSecond, sc.FCM.QuotaPerMinute = big, big, big, big
	sc.MiPush.QuotaPerSecond = big
	sc.MiPush.Apps = []vendorsim.MiPushApp{{AppID: appID, Secret: "bench-mipush-secret", PackageName: "com.example.bench"}}
	sim, err := vendorsim.Start(ctx, sc)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	caPath := filepath.Join(work, "vendorsim-ca.pem")
	if err := os.WriteFile(caPath, sim.CACertPEM(), 0o644); err != nil {
		return nil, fmt.Errorf("writing the simulator CA: %w", err)
	}
	a := cfg.Apps[0]
	yaml := fmt.Sprintf(`regions: [%s]
kafka: {brokers: [%s], partitions: 4}
logLevel: warn
security: {idSecretFile: %q}
stage: {batchSize: 2000}
sender:
  concurrency: 16
  rateLimit: {disabled: true}
vendors:
  simulator: true
  simulatorAddr: %s
  simulatorTlsAddr: %s
  simulatorCaFile: %s
apps:
  - appId: %s
    workspaceId: bench
    mipush: {appSecret: bench-mipush-secret, packageName: com.example.bench}
    apns:
      teamId: %s
      keyId: %s
      bundleId: %s
      privateKey: |
%s
    fcm:
      projectId: %s
      clientEmail: %s
      privateKeyId: %s
      privateKey: |
%s
    hms: {appId: %q, appSecret: %q}
    honor: {appId: %q, clientId: %q, clientSecret: %q}
    harmonyos:
      projectId: %q
      clientId: %q
      keyId: %q
      subAccount: %q
      privateKey: |
%s
    oppo: {appKey: %q, masterSecret: %q}
    vivo: {appId: %q, appKey: %q, appSecret: %q}
    self: {appKey: %q}
`, region, brokers[0], cfg.DevIDSecretFile(), sim.Addr(), sim.TLSAddr(), caPath, appID,
		a.APNs.TeamID, a.APNs.KeyID, a.APNs.BundleID, indent(a.APNs.PrivateKey.Reveal(), 8),
		a.FCM.ProjectID, a.FCM.ClientEmail, a.FCM.PrivateKeyID, indent(a.FCM.PrivateKey.Reveal(), 8),
		a.HMS.AppID, a.HMS.AppSecret.Reveal(), a.Honor.AppID, a.Honor.ClientID, a.Honor.ClientSecret.Reveal(),
		a.HarmonyOS.ProjectID, a.HarmonyOS.ClientID, a.HarmonyOS.KeyID, a.HarmonyOS.SubAccount, indent(a.HarmonyOS.PrivateKey.Reveal(), 8),
		a.OPPO.AppKey, a.OPPO.MasterSecret.Reveal(), a.Vivo.AppID, a.Vivo.AppKey, a.Vivo.AppSecret.Reveal(), a.Self.AppKey.Reveal())
	cfgPath := filepath.Join(work, "sender.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return nil, fmt.Errorf("writing sender config: %w", err)
	}
	worker, err := startWorker(ctx, o.Binary, "sender", region, cfgPath, filepath.Join(work, "sender.log"))
	if err != nil {
		return nil, err
	}
	defer worker.stop()
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer p.Close()

	var figs []Figure
	n := o.SenderDeliveries
	// Warm up: the sender joins its group and opens its connections on a
	// small batch that is not measured.
	if _, err := sendAndWait(ctx, p, sim, key, "mipush", "warmup", appID, region, min(n, 500)); err != nil {
		return nil, err
	}
	for _, v := range senderVendors {
		say("sending %d deliveries through one sender to %s", n, v)
		el, err := sendAndWait(ctx, p, sim, key, v, "bench", appID, region, n)
		if err != nil {
			return nil, err
		}
		figs = append(figs, Figure{"sender_deliveries_per_s_" + v, round(float64(n)/el.Seconds(), 0), "deliveries/s"})
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

// sendAndWait publishes n deliveries of one content to vendor v and waits
// until the simulator has accepted n more messages of it.
func sendAndWait(ctx context.Context, p *pipeline.Producer, sim *vendorsim.Server, key schema.IDKey, v, prefix, appID, region string, n int) (time.Duration, error) {
	accepted := func() int64 {
		a, _ := sim.AppCounts(v, region, appID)
		return a.Messages
	}
	base := accepted()
	outs := make([]pipeline.Output, 0, n)
	expire := time.Now().Add(time.Hour).UnixMilli()
	for i := 0; i < n; i++ {
		dev := fmt.Sprintf("%s-%s-%07d", prefix, v, i)
		token := "tok-" + dev
		if v == "apns" {
			token = fmt.Sprintf("%064x", i+1)
		}
		msgID := prefix + "-" + v // one content per vendor: batching vendors batch
		d := schema.Delivery{DeliveryID: key.DeliveryID(appID, msgID, dev), MsgID: msgID, TaskID: msgID, AppID: appID,
			Region: region, PushType: schema.PushBroadcast, Target: dev, DeviceID: dev, Platform: "android", Channel: v,
			Token: token, Title: "Bench", Body: "Hello", ExpireAt: expire, AcceptedAt: time.Now().UnixMilli()}
		b, _ := json.Marshal(d)
		outs = append(outs, pipeline.Output{Topic: pipeline.DeliveriesTopic(region), Key: []byte(d.KafkaKey()), Value: b})
	}
	start := time.Now()
	if err := p.Produce(ctx, outs); err != nil {
		return 0, err
	}
	for accepted()-base < int64(n) {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %s deliveries (%d of %d): %w", v, accepted()-base, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return time.Since(start), nil
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

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
	defer r.Close()
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
