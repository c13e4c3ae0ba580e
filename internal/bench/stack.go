package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// The configuration the pipeline figures (unicast latency, end-to-end
// broadcast, eventsink alone) run the workers with: the shipped defaults
// (stage.batchWait 0: no wait, sender.concurrency 8, sender.concurrentBatches 4, the vendors' default rate
// limits) except for stage.batchSize, raised so that one sender batch fills
// MiPush calls of 1000 regIds.
//
// The eventsink runs its own batches' defaults (config.EventsinkConfig).
const (
	// stackBatchSize is stage.batchSize of the workers; the eventsink
	// sizes its batches (its inserts) with eventsink.batchSize instead.
	stackBatchSize = 2000
	// stackBatchWait is stage.batchWait of the workers (the default).
	stackBatchWait = config.DefaultStageBatchWait
	// stackApp is the app every pipeline figure pushes for.
	stackApp           = "BENCH_APP"
	stackPrefix        = "bench_"
	stackMiPushSecret  = "bench-mipush-secret"
	stackMiPushPackage = "com.example.bench"
	// stackPartitions is the partition count of every bench topic.
	stackPartitions = 4
)

// stackConfig is what a worker configuration of one bench region needs.
type stackConfig struct {
	region  string
	brokers []string
	// chAddr is ClickHouse's native address; "" leaves it out (workers
	// that use none).
	chAddr string
	// simAddr is the vendor simulator every vendor points at; "" leaves
	// the vendors unconfigured (workers that call none).
	simAddr string
	// demo, if set, is the simulator (simAddr is then its address) and
	// stackApp gets its demo credentials of every vendor; otherwise
	// stackApp has MiPush credentials only.
	demo *demoSim
	// limits replace the default rate limits of stackApp's vendors.
	limits []appLimit
	// noRateLimit turns every rate limit off.
	noRateLimit bool
	// senderConcurrency is sender.concurrency; 0 keeps the default.
	senderConcurrency int
}

// appLimit is the rate limit of stackApp on one vendor: rate tokens a
// second of unit ("calls" or "messages").
type appLimit struct {
	vendor string
	rate   float64
	unit   string
}

// writeStackConfig writes the YAML configuration of the bench workers of
// c.region to path.
func writeStackConfig(path string, c stackConfig) error {
	var b strings.Builder
	fmt.Fprintf(&b, "regions: [%s]\nkafka: {brokers: [%s], partitions: %d}\nlogLevel: warn\n", c.region, strings.Join(c.brokers, ", "), stackPartitions)
	if c.chAddr != "" {
		fmt.Fprintf(&b, "clickhouse: {addr: %q, databasePrefix: %s}\n", c.chAddr, stackPrefix)
	}
	fmt.Fprintf(&b, "stage: {batchSize: %d, batchWait: %s}\n", stackBatchSize, stackBatchWait)
	sec, err := securityYAML(filepath.Dir(path))
	if err != nil {
		return err
	}
	b.WriteString(sec)
	b.WriteString("sender:\n")
	if c.senderConcurrency > 0 {
		fmt.Fprintf(&b, "  concurrency: %d\n", c.senderConcurrency)
	}
	switch {
	case c.noRateLimit:
		b.WriteString("  rateLimit: {disabled: true}\n")
	case len(c.limits) > 0:
		b.WriteString("  rateLimit:\n    apps:\n")
		for _, l := range c.limits {
			fmt.Fprintf(&b, "      - {appId: %s, vendor: %s, rate: %g, unit: %s}\n", stackApp, l.vendor, l.rate, l.unit)
		}
	}
	switch {
	case c.demo != nil:
		fmt.Fprintf(&b, "vendors: {simulator: true, simulatorAddr: %s, simulatorTlsAddr: %s, simulatorCaFile: %s, simulatorReceipts: {enabled: false}}\n",
			c.demo.Addr(), c.demo.TLSAddr(), c.demo.caFile)
		b.WriteString(demoAppYAML(c.demo.app))
	case c.simAddr != "":
		fmt.Fprintf(&b, "vendors: {simulator: true, simulatorAddr: %s, simulatorReceipts: {enabled: false}}\n", c.simAddr)
		fallthrough
	default:
		fmt.Fprintf(&b, "apps: [{appId: %s, workspaceId: bench, mipush: {appSecret: %s, packageName: %s}}]\n",
			stackApp, stackMiPushSecret, stackMiPushPackage)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing the bench configuration %s: %w", path, err)
	}
	return nil
}

// securityYAML is the security section that gives every bench worker one
// id secret, kept in dir (made there if missing; demoSim's key is the
// same when dir is its work directory).
func securityYAML(dir string) (string, error) {
	sec := &config.Config{StateDir: dir}
	if err := sec.EnsureDevIDSecret(); err != nil {
		return "", err
	}
	return fmt.Sprintf("security: {idSecretFile: %q}\n", sec.DevIDSecretFile()), nil
}

// demoAppYAML is the apps section of a configuration giving stackApp the
// credentials of a.
func demoAppYAML(a config.AppConfig) string {
	ap, f, h, ho := config.AppCredentials[apns.App](&a), config.AppCredentials[fcm.App](&a), config.AppCredentials[hms.App](&a), config.AppCredentials[honor.App](&a)
	hos, o, v, se := config.AppCredentials[harmonyos.App](&a), config.AppCredentials[oppo.App](&a), config.AppCredentials[vivo.App](&a), config.AppCredentials[selfchannel.App](&a)
	return fmt.Sprintf(`apps:
  - appId: %s
    workspaceId: bench
    mipush: {appSecret: %s, packageName: %s}
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
`, stackApp, stackMiPushSecret, stackMiPushPackage,
		ap.TeamID, ap.KeyID, ap.BundleID, indent(ap.PrivateKey.Reveal(), 8),
		f.ProjectID, f.ClientEmail, f.PrivateKeyID, indent(f.PrivateKey.Reveal(), 8),
		h.AppID, h.AppSecret.Reveal(), ho.AppID, ho.ClientID, ho.ClientSecret.Reveal(),
		hos.ProjectID, hos.ClientID, hos.KeyID, hos.SubAccount, indent(hos.PrivateKey.Reveal(), 8),
		o.AppKey, o.MasterSecret.Reveal(), v.AppID, v.AppKey, v.AppSecret.Reveal(), se.AppKey.Reveal())
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

// startMiPushSim starts an in-process vendor simulator that accepts MiPush
// calls of stackApp without a quota and without posting receipts, keeping
// the last recorded requests for Requests.
func startMiPushSim(ctx context.Context, recorded int) (*vendorsim.Server, error) {
	sc := vendorsim.Config{Addr: "127.0.0.1:0", MaxRecordedRequests: recorded}
	sc.APNs.TLSAddr = "127.0.0.1:0"
	sc.MiPush.QuotaPerSecond = 1e9
	sc.MiPush.Apps = []vendorsim.MiPushApp{{AppID: stackApp, Secret: stackMiPushSecret, PackageName: stackMiPushPackage}}
	return allvendors.Start(ctx, sc)
}

// demoSim is an in-process vendor simulator that accepts the calls of
// stackApp to every vendor without quotas and without posting receipts;
// app holds stackApp's credentials (the demo keys, MiPush's bench
// secret), key the id key of the workers' id secret, and caFile the
// simulator's TLS certificate.
type demoSim struct {
	*vendorsim.Server
	app    config.AppConfig
	key    schema.IDKey
	caFile string
}

// startDemoSim starts a demoSim keeping the last recorded requests, makes
// the id secret of work (see securityYAML), and writes the simulator's
// certificate to <work>/vendorsim-ca.pem.
func startDemoSim(ctx context.Context, work string, recorded int) (*demoSim, error) {
	cfg := &config.Config{StateDir: work, Apps: []config.AppConfig{{AppID: stackApp, WorkspaceID: "bench"}}}
	cfg.Defaults()
	cfg.Apps = []config.AppConfig{{AppID: stackApp, WorkspaceID: "bench",
		Credentials: map[string]any{mipush.Name: &mipush.App{AppSecret: channels.Secret(stackMiPushSecret), PackageName: stackMiPushPackage}}}}
	key, err := demoSetup(cfg)
	if err != nil {
		return nil, err
	}
	sc := app.SimulatorConfig(cfg)
	sc.Addr, sc.APNs.TLSAddr, sc.MaxRecordedRequests, sc.Receipts = "127.0.0.1:0", "127.0.0.1:0", recorded, vendorsim.ReceiptsConfig{}
	big := 1e9
	sc.APNs.QuotaPerSecond, sc.HMS.QuotaPerSecond, sc.Honor.QuotaPerSecond, sc.HarmonyOS.QuotaPerSecond = big, big, big, big
	sc.OPPO.QuotaPerSecond, sc.Vivo.QuotaPerSecond, sc.Self.QuotaPerSecond, sc.FCM.QuotaPerMinute = big, big, big, big
	sc.MiPush.QuotaPerSecond = big
	sim, err := allvendors.Start(ctx, sc)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(work, "vendorsim-ca.pem")
	if err := os.WriteFile(caFile, sim.CACertPEM(), 0o644); err != nil {
		_ = sim.Close()
		return nil, fmt.Errorf("writing the simulator CA: %w", err)
	}
	return &demoSim{Server: sim, app: cfg.Apps[0], key: key, caFile: caFile}, nil
}

// deviceID and deviceToken name bench device i of a vendor: tokens are
// MiPush regIds, or 64 hex digits for APNs.
func deviceID(i int) string { return fmt.Sprintf("dev-%08d", i) }
func deviceToken(vendor string, i int) string {
	if vendor == "apns" {
		return fmt.Sprintf("%064x", i+1)
	}
	return fmt.Sprintf("regid-%08d", i)
}

// registerDevices inserts the devices [from, to) of stackApp on vendor
// (mipush: Android, apns: iOS) into db's devices table, 100,000 a batch.
func registerDevices(ctx context.Context, conn driver.Conn, db, vendor string, from, to int) error {
	devices := store.NewDevices(conn, db)
	platform := schema.PlatformAndroid
	if vendor == "apns" {
		platform = schema.PlatformIOS
	}
	now := time.Now().UTC()
	for start := from; start < to; start += 100_000 {
		rows := make([]schema.Device, 0, min(100_000, to-start))
		for i := start; i < min(start+100_000, to); i++ {
			rows = append(rows, schema.Device{AppID: stackApp, DeviceID: deviceID(i), Platform: platform,
				Vendor: vendor, VendorToken: deviceToken(vendor, i), TokenValid: true, UserID: fmt.Sprintf("user-%08d", i),
				BoundAt: now, UpdatedAt: now})
		}
		if err := devices.Insert(ctx, rows); err != nil {
			return fmt.Errorf("registering devices %d..%d in %s: %w", start, start+len(rows), db, err)
		}
	}
	return nil
}

// createBroadcastTemplate creates the template "news" of stackApp that
// broadcastRequest renders.
func createBroadcastTemplate(ctx context.Context, conn driver.Conn, db string) error {
	if err := store.NewTemplates(conn, db).Create(ctx, schema.Template{AppID: stackApp, Name: "news", Title: "News", Content: "#text#"}); err != nil {
		return fmt.Errorf("creating the broadcast template in %s: %w", db, err)
	}
	return nil
}

// broadcastRequest is the BROADCAST request of task to every device of
// stackApp in region, rendering the template "news".
func broadcastRequest(region, task, msgKey string) []byte {
	req, _ := json.Marshal(map[string]any{"type": "BROADCAST", "region": region, "appId": stackApp, "workspaceId": "bench",
		"taskId": task, "taskName": "bench", "deliverType": 1, "msgkey": msgKey, "templateName": "news",
		"templateKeyValue": map[string]string{"text": "hello"}, "expiredSeconds": 3600, "acceptedAt": time.Now().UnixMilli()})
	return req
}

// prepareRegion creates the topics of region and migrates its bench
// database.
func prepareRegion(ctx context.Context, conn driver.Conn, brokers []string, region string) error {
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), stackPartitions); err != nil {
		return fmt.Errorf("creating the topics of region %s: %w", region, err)
	}
	return store.Migrate(ctx, conn, stackPrefix+region, 0)
}

// startStack writes the configuration c to <work>/<region>.yaml and starts
// one worker process of each kind with it.
func startStack(ctx context.Context, bin, work string, c stackConfig, kinds ...string) (workerSet, error) {
	cfgPath := filepath.Join(work, c.region+".yaml")
	if err := writeStackConfig(cfgPath, c); err != nil {
		return nil, err
	}
	return startWorkers(ctx, bin, work, c.region, cfgPath, kinds...)
}

// workerSet is the worker processes of one figure.
type workerSet map[string]*worker

// startWorkers starts one process of each kind for region with the
// configuration at cfgPath, logging to <work>/<region>-<kind>.log. On
// error the ones started are stopped.
func startWorkers(ctx context.Context, bin, work, region, cfgPath string, kinds ...string) (workerSet, error) {
	ws := workerSet{}
	for _, k := range kinds {
		w, err := startWorker(ctx, bin, k, region, cfgPath, filepath.Join(work, region+"-"+k+".log"))
		if err != nil {
			ws.stop()
			return nil, err
		}
		ws[k] = w
	}
	return ws, nil
}

// stop stops every worker at once and waits for all of them.
func (ws workerSet) stop() {
	var wg sync.WaitGroup
	for k, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); w.stop() }()
		delete(ws, k)
	}
	wg.Wait()
}

// waitUntil calls done every interval until it reports true, fails, ctx
// ends or limit passed; what names the wait in the error.
func waitUntil(ctx context.Context, every, limit time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not done after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(every):
		}
	}
}

// produceParallel writes n records, built by record in chunks of chunk,
// from writers goroutines at once, and stops starting chunks once budget
// passed. It returns how many records the brokers acknowledged and the
// time that took.
func produceParallel(ctx context.Context, p *pipeline.Producer, n, chunk, writers int, budget time.Duration,
	record func(i int) pipeline.Output) (int, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, acked atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs := make([]pipeline.Output, 0, chunk)
			for time.Since(start) < budget {
				from := int(next.Add(int64(chunk))) - chunk
				if from >= n {
					return
				}
				outs = outs[:0]
				for i := from; i < min(from+chunk, n); i++ {
					outs = append(outs, record(i))
				}
				if err := p.Produce(ctx, outs); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("producing records %d..%d: %w", from, from+len(outs), err); cancel() })
					return
				}
				acked.Add(int64(len(outs)))
			}
		}()
	}
	wg.Wait()
	return int(acked.Load()), time.Since(start), firstErr
}

// benchClient is a Kafka admin client of the bench's own embedded broker,
// which always runs in plaintext on loopback (so the zero
// pipeline.KafkaSecurity).
func benchClient(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: pipeline.KafkaSecurity{}.Transport("pushpipe-bench"), Timeout: 10 * time.Second}
}

// benchDialer is the dialer of the bench's readers of its own embedded
// broker (plaintext on loopback).
func benchDialer() *kafka.Dialer { return pipeline.KafkaSecurity{}.Dialer("pushpipe-bench", 0) }
