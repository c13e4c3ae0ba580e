package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

// Sizes of the analytics figures.
const (
	// analyticsDays is the range the synthetic events cover and the stats
	// query asks for: the longest range a statistics query may cover.
	analyticsDays = 90
	// analyticsBatch is how many events one insert carries.
	analyticsBatch = 250_000
	// analyticsDeliveriesPerTask is the audience of each synthetic task.
	analyticsDeliveriesPerTask = 1000
	// statsQueryRuns and funnelQueryRuns are the measured runs of each
	// query (after one unmeasured warm-up run).
	statsQueryRuns  = 7
	funnelQueryRuns = 21
	// receiptsPerBody is the number of statuses in one Huawei receipt.
	receiptsPerBody = 100
	// receiptClients post receipts at once.
	receiptClients = 8
	// receiptsBudget bounds the time spent posting receipts.
	receiptsBudget = 20 * time.Second
)

// analyticsChannels are the channels of the synthetic deliveries, in
// rotation.
var analyticsChannels = []string{"mipush", "hms", "fcm", "apns", "oppo", "vivo"}

// analyticsVersions are the app versions of the synthetic devices; each
// device keeps one.
var analyticsVersions = []string{"3.2.0", "3.1.0", "3.0.1", "2.9.0", "2.8.5"}

// runAnalytics measures the statistics queries over o.AnalyticsEvents
// synthetic events in their own database of the bench ClickHouse
// (stats_query_p50_ms, funnel_query_p50_ms), and the receipts worker
// taking o.AnalyticsReceipts Huawei receipts (receipts_per_s,
// receipt_ack_p99_ms); a zero count skips its part.
func runAnalytics(ctx context.Context, o Options, work string, conn driver.Conn, brokers []string, say func(string, ...any)) ([]Figure, error) {
	const region = "sg"
	var figs []Figure
	if o.AnalyticsEvents > 0 {
		db := "bench_analytics_" + region
		if err := store.Migrate(ctx, conn, db, 0); err != nil {
			return nil, err
		}
		to := time.Now().UTC().Truncate(time.Minute)
		tasks, perS, err := insertSyntheticEvents(ctx, conn, db, o.AnalyticsEvents, to, say)
		if err != nil {
			return nil, err
		}
		if err := waitForMerges(ctx, conn, db, time.Minute, say); err != nil {
			return nil, err
		}
		qfigs, err := measureQueries(ctx, conn, db, to, tasks, say)
		if err != nil {
			return nil, err
		}
		figs = append(figs, Figure{"analytics_events", float64(o.AnalyticsEvents), "events"},
			Figure{"analytics_insert_events_per_s", round(perS, 0), "events/s"})
		figs = append(figs, qfigs...)
	}
	if o.AnalyticsReceipts > 0 {
		rfigs, err := measureReceipts(ctx, o.AnalyticsReceipts, work, region, brokers, say)
		if err != nil {
			return nil, fmt.Errorf("measuring the receipts worker: %w", err)
		}
		figs = append(figs, rfigs...)
	}
	return figs, nil
}

// splitmix64 is a fast deterministic hash of i.
func splitmix64(i uint64) uint64 {
	z := i + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// SyntheticDelivery appends the lifecycle events of delivery i (of app
// BENCH_APP, task bench-task-<i/1000>) to out: planned, valid, sent, then
// acked (98%) or failed, and for an acked one arrived (90%), of which 30%
// opened and half of the rest ignored. Its events share one timestamp;
// span spreads the deliveries evenly over [from, from+span). Its device
// (one of a million) reports one of five app versions. Deterministic: the
// same arguments give the same events.
func SyntheticDelivery(out []schema.Event, i, deliveries int, from time.Time, span time.Duration) []schema.Event {
	task := i / analyticsDeliveriesPerTask
	taskID := "bench-task-" + strconv.Itoa(task)
	channel := analyticsChannels[i%len(analyticsChannels)]
	platform := schema.PlatformAndroid
	if channel == "apns" {
		platform = schema.PlatformIOS
	}
	pushType := []schema.PushType{schema.PushSimple, schema.PushMultiple, schema.PushBroadcast}[task%3]
	dev := "bench-dev-" + strconv.Itoa(i%1_000_000)
	version := analyticsVersions[splitmix64(uint64(i%1_000_000)+1<<40)%uint64(len(analyticsVersions))]
	deliveryID := "bd" + strconv.Itoa(i)
	ts := from.Add(time.Duration(float64(span) * float64(i) / float64(deliveries))).UnixMilli()
	add := func(t schema.EventType, code int64) {
		out = append(out, schema.Event{EventID: string(t) + "-" + deliveryID, TS: ts, Region: "sg", AppID: "BENCH_APP",
			WorkspaceID: "bench", TaskID: taskID, MsgID: taskID + "-msg", PushType: pushType, Target: dev, DeviceID: dev,
			Platform: platform, Channel: channel, Event: t, StatusCode: code, DeliveryID: deliveryID, AppVersion: version})
	}
	h := splitmix64(uint64(i))
	u := func(shift uint) float64 { return float64((h>>shift)&0xffff) / 0x10000 }
	add(schema.EventPlanned, schema.StatusWaitingForVerify)
	add(schema.EventValid, schema.StatusWaitingForVerify)
	add(schema.EventSent, schema.StatusWaitingForVerify)
	if u(0) >= 0.98 {
		add(schema.EventFailed, schema.StatusBadDeviceToken)
		return out
	}
	add(schema.EventAcked, schema.StatusAcked)
	if u(16) >= 0.9 {
		return out
	}
	add(schema.EventArrived, schema.StatusAcked)
	switch {
	case u(32) < 0.3:
		add(schema.EventOpened, schema.StatusAcked)
	case u(48) < 0.5:
		add(schema.EventIgnored, schema.StatusAcked)
	}
	return out
}

// insertSyntheticEvents inserts n synthetic events spread over the
// analyticsDays before to, in time order and batches of analyticsBatch
// (so each insert touches few daily partitions), and returns the task ids
// it used and the events inserted per second.
func insertSyntheticEvents(ctx context.Context, conn driver.Conn, db string, n int, to time.Time, say func(string, ...any)) ([]string, float64, error) {
	// The expected events per delivery of SyntheticDelivery's mix, so
	// that the deliveries cover the whole range.
	const perDelivery = 3 + 0.98*(1+0.9*(1+0.3+0.7*0.5))
	deliveries := max(1, int(float64(n)/perDelivery))
	span := analyticsDays * 24 * time.Hour
	from := to.Add(-span)
	say("inserting %d synthetic events over %d days into %s", n, analyticsDays, db)
	start := time.Now()
	batch := make([]schema.Event, 0, analyticsBatch+8)
	inserted, i := 0, 0
	for inserted < n {
		batch = batch[:0]
		for len(batch) < analyticsBatch && inserted+len(batch) < n {
			// Past the planned deliveries (the mix came out richer than
			// expected) the timestamps stay within the range.
			batch = SyntheticDelivery(batch, i, max(deliveries, i+1), from, span)
			i++
		}
		batch = batch[:min(len(batch), n-inserted)]
		if err := store.InsertEvents(ctx, conn, db, batch); err != nil {
			return nil, 0, fmt.Errorf("inserting synthetic events (%d of %d done): %w", inserted, n, err)
		}
		inserted += len(batch)
		el := time.Since(start)
		say("%d of %d events inserted (%.0f events/s)", inserted, n, float64(inserted)/el.Seconds())
	}
	tasks := make([]string, 0, i/analyticsDeliveriesPerTask+1)
	for t := 0; t*analyticsDeliveriesPerTask < i; t++ {
		tasks = append(tasks, "bench-task-"+strconv.Itoa(t))
	}
	return tasks, float64(inserted) / time.Since(start).Seconds(), nil
}

// measureQueries times the 90-day stats query (day granularity) and the
// funnel of tasks spread over the range, after one unmeasured run of each.
func measureQueries(ctx context.Context, conn driver.Conn, db string, to time.Time, tasks []string, say func(string, ...any)) ([]Figure, error) {
	q := schema.StatsQuery{AppID: "BENCH_APP", From: to.Add(-analyticsDays * 24 * time.Hour), To: to, Granularity: schema.GranularityDay}
	say("running the %d-day stats query %d times", analyticsDays, statsQueryRuns)
	var stats []float64
	for r := 0; r <= statsQueryRuns; r++ {
		t0 := time.Now()
		res, err := store.QueryStats(ctx, conn, db, q)
		if err != nil {
			return nil, err
		}
		if r == 0 {
			say("stats over %d days: %d series points, pushed %d, arrived %d, opened %d", analyticsDays, len(res.Series),
				res.Total.Pushed, res.Total.Arrived, res.Total.Opened)
			continue
		}
		stats = append(stats, ms(time.Since(t0)))
	}
	say("running the funnel query of %d tasks", funnelQueryRuns)
	var funnels []float64
	for r := 0; r <= funnelQueryRuns; r++ {
		task := tasks[int(splitmix64(uint64(r))%uint64(len(tasks)))]
		t0 := time.Now()
		if _, err := store.QueryFunnel(ctx, conn, db, "BENCH_APP", task, ""); err != nil {
			return nil, err
		}
		if r > 0 {
			funnels = append(funnels, ms(time.Since(t0)))
		}
	}
	return []Figure{
		{"stats_query_p50_ms", round(percentile(stats, 0.5), 1), "ms"},
		{"funnel_query_p50_ms", round(percentile(funnels, 0.5), 1), "ms"},
	}, nil
}

// waitForMerges waits, at most limit, until ClickHouse ran no merge in
// db at three looks half a second apart: the queries are measured on
// settled tables, not against the background merges the insert started.
func waitForMerges(ctx context.Context, conn driver.Conn, db string, limit time.Duration, say func(string, ...any)) error {
	deadline := time.Now().Add(limit)
	for idle := 0; idle < 3; {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", db).Scan(&n); err != nil {
			return fmt.Errorf("reading the merges of %s: %w", db, err)
		}
		idle++
		if n > 0 {
			idle = 0
		}
		if time.Now().After(deadline) {
			say("%d merges still running in %s after %s; measuring anyway", n, db, limit)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the merges of %s: %w", db, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measureReceipts starts a receipts worker in this process and posts n
// Huawei receipts (receiptsPerBody statuses a request) from
// receiptClients clients at once, for at most receiptsBudget: receipts
// per second acknowledged, and the p99 of the time to the HTTP answer,
// which the worker gives after Kafka acknowledged the events.
func measureReceipts(ctx context.Context, n int, work, region string, brokers []string, say func(string, ...any)) ([]Figure, error) {
	cfg := &config.Config{StateDir: work, Regions: []string{region}, Kafka: config.KafkaConfig{Brokers: brokers}}
	cfg.Defaults()
	// The demo app's receipt credentials: the receipts are signed as
	// Huawei signs them, so the figures include checking them.
	key, err := demoSetup(cfg)
	if err != nil {
		return nil, err
	}
	appID, cb := cfg.Apps[0].AppID, *cfg.Apps[0].Receipts.Huawei[hms.Name]
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	srv, err := app.StartReceipts(ctx, app.Deps{Cfg: cfg, Brokers: brokers, Producer: p, Metrics: prometheus.NewRegistry(), Log: zerolog.Nop()},
		region, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Close() }()
	url := srv.URL() + "/receipts/hms?app=" + appID
	bodies := (n + receiptsPerBody - 1) / receiptsPerBody
	client := &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: receiptClients, MaxIdleConnsPerHost: receiptClients}}
	defer client.CloseIdleConnections()
	var nonces atomic.Int64 // each Huawei signature has its own nonce
	post := func(body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("posting receipts to %s: %w", url, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(receipts.HeaderHuaweiCallbackID, receipts.HuaweiCallbackID(cb.User, cb.Key, time.Now(), strconv.FormatInt(nonces.Add(1), 10)))
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("posting receipts to %s: %w", url, err)
		}
		defer func() { _ = resp.Body.Close() }()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("posting receipts to %s: answered %d %s", url, resp.StatusCode, answer)
		}
		return nil
	}
	// Warm up: connections and the producer's partition leaders.
	for w := 0; w < receiptClients; w++ {
		if err := post(hmsReceiptBody(key, appID, -1-w)); err != nil {
			return nil, err
		}
	}
	say("posting %d Huawei receipts (%d a request) from %d clients, for at most %s", bodies*receiptsPerBody, receiptsPerBody, receiptClients, receiptsBudget)
	rctx, cancel := context.WithTimeout(ctx, receiptsBudget)
	defer cancel()
	next := make(chan int)
	go func() {
		defer close(next)
		for b := 0; b < bodies; b++ {
			select {
			case next <- b:
			case <-rctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < receiptClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				body := hmsReceiptBody(key, appID, b)
				t0 := time.Now()
				err := post(body)
				took := ms(time.Since(t0))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil {
					lat = append(lat, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	if len(lat) == 0 {
		return nil, errors.New("no receipt request was answered within the budget")
	}
	acked := len(lat) * receiptsPerBody
	say("%d receipts acknowledged in %s", acked, elapsed.Round(time.Millisecond))
	return []Figure{
		{"receipts_acked", float64(acked), "receipts"},
		{"receipts_per_s", round(float64(acked)/elapsed.Seconds(), 0), "receipts/s"},
		{"receipt_ack_p99_ms", round(percentile(lat, 0.99), 1), "ms"},
	}, nil
}

// hmsReceiptBody is the Huawei receipt of request b: receiptsPerBody
// arrivals, each naming its own delivery by biTag.
func hmsReceiptBody(key schema.IDKey, appID string, b int) []byte {
	type status struct {
		BiTag     string `json:"biTag"`
		Token     string `json:"token"`
		Status    int    `json:"status"`
		Timestamp int64  `json:"timestamp"`
	}
	now := time.Now().UnixMilli()
	sts := make([]status, receiptsPerBody)
	for i := range sts {
		dev := "bench-receipt-dev-" + strconv.Itoa(b) + "-" + strconv.Itoa(i)
		sts[i] = status{BiTag: key.DeliveryID(appID, "bench-receipt-msg", dev), Token: "tok-" + dev, Timestamp: now}
	}
	body, _ := json.Marshal(map[string]any{"statuses": sts})
	return body
}

// demoSetup gives the apps of cfg demo credentials (app.AddDemoKeys) and
// cfg the id secret of its state folder, and returns its key.
func demoSetup(cfg *config.Config) (schema.IDKey, error) {
	if err := app.AddDemoKeys(cfg); err != nil {
		return schema.IDKey{}, err
	}
	if err := cfg.EnsureDevIDSecret(); err != nil {
		return schema.IDKey{}, err
	}
	return cfg.IDKey()
}
