package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

// abuseApp2 is the second app of TestAbuseReceipts, which uses the same
// msg and device ids as testApp.
const abuseApp2 = "ONEX570DA89211799"

// TestAbuseReceipts runs the whole pipeline of region sg with the
// simulator posting an honest arrival receipt for every delivery (signed
// or tagged as each vendor does), and attacks the receipts worker the way
// issue 14 describes. Each attack is refused or contained and counted,
// while the honest receipts of the same run are stored exactly.
func TestAbuseReceipts(t *testing.T) {
	e := newEnvOpts(t, envOptions{
		simReceipts: &vendorsim.ReceiptsConfig{ArrivalRate: 1},
		configure: func(c *config.Config) {
			c.Apps = append(c.Apps, config.AppConfig{AppID: abuseApp2, WorkspaceID: "default",
				Credentials: map[string]any{mipush.Name: &mipush.App{AppSecret: channels.Secret("e2e-secret-2"), PackageName: "com.example.e2e2"}}})
		},
	}, "sg")
	reg := prometheus.NewRegistry()
	d := e.deps()
	d.Metrics = reg
	e.runStoppable(d, []string{"sg"}, app.Kinds()...)
	rs := e.receipts["sg"]
	client := &http.Client{Timeout: 30 * time.Second}
	ctx := context.Background()

	mi := device("sg", "ab-mi", "regid-ab-mi")
	hms := device("sg", "ab-hms", "token-ab-hms")
	hms.Vendor = "hms"
	honest := make([]schema.Binding, 5)
	honestTargets := map[string]string{}
	for i := range honest {
		id := fmt.Sprintf("ab-honest-%d", i)
		honest[i] = device("sg", id, "regid-"+id)
		honestTargets[id] = "ab-honest-msg"
	}
	dup1 := device("sg", "ab-dup", "regid-ab-dup-1")
	e.registerDevices("sg", append([]schema.Binding{mi, hms, dup1}, honest...)...)
	dup2 := device("sg", "ab-dup", "regid-ab-dup-2")
	dup2.AppID = abuseApp2
	e.publish(jsonOut(pipeline.BindingsTopic("sg"), dup2.KafkaKey(), dup2))
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("the second app's device registered", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(ctx, abuseApp2, []string{"ab-dup"})
		return err == nil && len(got) == 1, fmt.Sprint(got, err)
	})

	// Every push of the test; the simulator posts one arrival for each
	// delivery.
	pushes := []map[string]any{
		simpleRequest("sg", "ab-task-mi", map[string]string{"ab-mi": "ab-msg-mi"}),
		simpleRequest("sg", "ab-task-hms", map[string]string{"ab-hms": "ab-msg-hms"}),
		simpleRequest("sg", "ab-task-honest", honestTargets),
		simpleRequest("sg", "ab-task-dup-1", map[string]string{"ab-dup": "ab-dup-msg"}),
	}
	second := simpleRequest("sg", "ab-task-dup-2", map[string]string{"ab-dup": "ab-dup-msg"})
	second["appId"] = abuseApp2
	pushes = append(pushes, second)
	for _, p := range pushes {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), p["appId"].(string)+"/"+p["taskId"].(string), p))
	}
	e.waitFor("every push acked", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id LIKE 'ab-task-%'")
		return got["acked"] == 9, fmt.Sprint(got)
	})
	// settle waits until the simulator posted every receipt it decided
	// on, the event sink stored everything written to push.events.sg and
	// the registry everything written to push.bindings.sg.
	settle := func(t *testing.T) {
		t.Helper()
		e.flushSimReceipts()
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for _, w := range []struct{ group, topic string }{{"pushpipe.eventsink.sg", pipeline.EventsTopic("sg")}, {"pushpipe.registry.sg", pipeline.BindingsTopic("sg")}} {
			if err := pipeline.WaitCaughtUp(c, e.brokers, pipeline.KafkaSecurity{}, w.group, w.topic, 100*time.Millisecond); err != nil {
				t.Fatalf("%s did not catch up with %s: %v", w.group, w.topic, err)
			}
		}
	}
	e.waitFor("the honest arrivals stored", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id LIKE 'ab-task-%'")
		return got["arrived"] == 9, fmt.Sprint(got)
	})
	settle(t)
	refused := func(t *testing.T, vendor, reason string) float64 {
		t.Helper()
		return metricValue(t, httpGet(t, e.internalURL(rs.Addr())+"/metrics"), "pushpipe_receipts_auth_refused_total", map[string]string{"vendor": vendor, "reason": reason})
	}
	written := func(t *testing.T) int64 {
		t.Helper()
		var n int64
		for _, o := range e.offsets(ctx, pipeline.EventsTopic("sg"), "") {
			n += o
		}
		return n
	}
	tokenValid := func(t *testing.T, dev string) bool {
		t.Helper()
		got, err := devices.Lookup(ctx, testApp, []string{dev})
		if err != nil || len(got) != 1 {
			t.Fatalf("looking up %s: %v %v", dev, got, err)
		}
		return got[dev].TokenValid
	}
	miDelivery := e.deliveryID("ab-msg-mi", "ab-mi")

	t.Run("a: forged Huawei status 5 for a MiPush delivery", func(t *testing.T) {
		// The delivery id the old way: sha256 of the public msg and device
		// ids, which anyone could compute.
		h := sha256.New()
		for _, p := range []string{"ab-msg-mi", "ab-mi"} {
			_, _ = fmt.Fprintf(h, "%d:%s", len(p), p)
		}
		oldID := "d" + hex.EncodeToString(h.Sum(nil))[:24]
		if oldID == miDelivery {
			t.Fatal("the delivery id is still the public hash")
		}
		status5 := func(id string) string {
			return ourSample(sampleHMS, id, []string{mi.VendorToken}, `"status": 0`, `"status": 5`)
		}
		before := written(t)
		for _, a := range []struct {
			scenario, target, body, reason string
		}{
			{"the issue's POST: no app, no signature, the id computed outside", "/receipts/hms", status5(oldID), "no_app"},
			{"naming the app, without Huawei's signature", "/receipts/hms?app=" + testApp, status5(oldID), "no_signature"},
			{"the real delivery id (had it leaked), without a signature", "/receipts/hms?app=" + testApp, status5(miDelivery), "no_signature"},
		} {
			n := refused(t, "hms", a.reason)
			code, answer := httpPost(t, client, rs.URL()+a.target, ctJSON, a.body)
			if code != http.StatusUnauthorized {
				t.Fatalf("%s: answered %d %s, want 401", a.scenario, code, answer)
			}
			if got := refused(t, "hms", a.reason); got != n+1 {
				t.Fatalf("%s: auth_refused_total{hms,%s} %v, want %v", a.scenario, a.reason, got, n+1)
			}
		}
		if got := written(t); got != before {
			t.Fatalf("the refused receipts wrote %d records to push.events.sg", got-before)
		}
		settle(t)
		if got := e.eventCounts("sg", "task_id = 'ab-task-mi'"); got["failed"] != 0 || got["acked"] != 1 || got["arrived"] != 1 {
			t.Fatalf("the MiPush delivery's events %v, want acked and arrived, no failed", got)
		}
		if !tokenValid(t, "ab-mi") {
			t.Fatal("the MiPush token was marked invalid")
		}
		// Even signed by Huawei (a vendor misreporting, or its key
		// stolen), a status 5 naming a MiPush delivery kills nothing: its
		// channel is not the delivery's.
		mismatches := counter(reg, "pushpipe_eventsink_receipts_total", "outcome", "token_mismatch")
		if code, answer := e.postReceipt(t, client, rs.URL(), "hms", ctJSON, status5(miDelivery)); code != http.StatusOK {
			t.Fatalf("the signed receipt answered %d %s", code, answer)
		}
		settle(t)
		if !tokenValid(t, "ab-mi") {
			t.Fatal("a Huawei receipt invalidated a MiPush token")
		}
		if got := counter(reg, "pushpipe_eventsink_receipts_total", "outcome", "token_mismatch"); got != mismatches+1 {
			t.Fatalf("token_mismatch outcomes %v, want %v", got, mismatches+1)
		}
		// The honest Huawei status 5 of the Huawei delivery still works.
		if code, answer := e.postReceipt(t, client, rs.URL(), "hms", ctJSON,
			ourSample(sampleHMS, e.deliveryID("ab-msg-hms", "ab-hms"), []string{hms.VendorToken}, `"status": 0`, `"status": 5`)); code != http.StatusOK {
			t.Fatalf("the honest receipt answered %d %s", code, answer)
		}
		e.waitFor("the Huawei token invalidated", time.Minute, func() (bool, string) {
			return !tokenValid(t, "ab-hms"), "still valid"
		})
	})

	t.Run("b: forged arrivals and opens without credentials", func(t *testing.T) {
		honestID := e.deliveryID("ab-honest-msg", "ab-honest-0")
		stats := func() map[string]uint64 { return e.eventCounts("sg", "task_id = 'ab-task-honest'") }
		before := stats()
		if before["arrived"] != 5 || before["opened"] != 0 {
			t.Fatalf("honest task before the attack %v, want 5 arrived, none opened", before)
		}
		open := fmt.Sprintf(`{"events":[{"deliveryId":%q,"event":"open"},{"msgId":"ab-honest-msg","deviceId":"ab-honest-1","event":"open"}]}`, honestID)
		click := miPushForm(ourSample(sampleMiPushData, honestID, []string{"regid-ab-honest-0"}, `"type": 1`, `"type": 2`))
		otherKey, _ := schema.NewIDKey([]byte(strings.Repeat("x", 32)))
		forgedTag := miPushForm(ourSample(sampleMiPushData, otherKey.ReceiptParam("mipush", testApp, honestID), []string{"regid-ab-honest-0"}, `"type": 1`, `"type": 2`))
		writtenBefore := written(t)
		for _, a := range []struct {
			scenario, vendor, target, ct, body, reason string
			header                                     map[string]string
		}{
			{"client events without a signature", "client", "/receipts/client?app=" + testApp, ctJSON, open, "no_signature", nil},
			{"client events signed with a guessed key", "client", "/receipts/client?app=" + testApp, ctJSON, open, "bad_signature",
				map[string]string{receipts.HeaderClientTimestamp: strconv.FormatInt(time.Now().UnixMilli(), 10),
					receipts.HeaderClientSignature: receipts.ClientSignature(testApp, "guessed-client-key", time.Now(), []byte(open))}},
			{"a MiPush click with the bare delivery id", "mipush", "/receipts/mipush?app=" + testApp, ctForm, click, "bad_tag", nil},
			{"a MiPush click tagged under another secret", "mipush", "/receipts/mipush?app=" + testApp, ctForm, forgedTag, "bad_tag", nil},
		} {
			n := refused(t, a.vendor, a.reason)
			req, _ := http.NewRequest(http.MethodPost, rs.URL()+a.target, strings.NewReader(a.body))
			req.Header.Set("Content-Type", a.ct)
			for k, v := range a.header {
				req.Header.Set(k, v)
			}
			if code, answer := do(t, client, req); code != http.StatusUnauthorized {
				t.Fatalf("%s: answered %d %s, want 401", a.scenario, code, answer)
			}
			if got := refused(t, a.vendor, a.reason); got != n+1 {
				t.Fatalf("%s: auth_refused_total{%s,%s} %v, want %v", a.scenario, a.vendor, a.reason, got, n+1)
			}
		}
		if got := written(t); got != writtenBefore {
			t.Fatalf("the refused receipts wrote %d records", got-writtenBefore)
		}
		settle(t)
		if after := stats(); !equalCounts(after, before) {
			t.Fatalf("statistics moved: %v, before %v", after, before)
		}
		// The same open, signed by the app SDK, counts.
		if code, answer := e.postReceipt(t, client, rs.URL(), "client", ctJSON, open); code != http.StatusOK {
			t.Fatalf("the signed open answered %d %s", code, answer)
		}
		e.waitFor("the honest opens", time.Minute, func() (bool, string) {
			got := stats()
			return got["opened"] == 2 && got["arrived"] == 5, fmt.Sprint(got)
		})
	})

	t.Run("c: a 1 MiB body of unknown delivery ids", func(t *testing.T) {
		settle(t)
		ids := func(n int) []string {
			out := make([]string, n)
			for i := range out {
				var b [12]byte
				_, _ = rand.Read(b[:])
				out[i] = "d" + hex.EncodeToString(b[:])
			}
			return out
		}
		statuses := func(ids []string) string {
			items := make([]map[string]any, len(ids))
			for i, id := range ids {
				items[i] = map[string]any{"biTag": id, "token": "t-" + id, "status": 0, "timestamp": time.Now().UnixMilli()}
			}
			b, _ := json.Marshal(map[string]any{"statuses": items})
			return string(b)
		}
		// Just under the 1 MiB limit, unsigned: refused before it is read.
		per := len(statuses(ids(2))) - len(statuses(ids(1)))
		big := statuses(ids((1<<20 - 256) / per))
		if len(big) < 1<<20-4096 || len(big) > 1<<20 {
			t.Fatalf("the body is %d bytes, want about 1 MiB", len(big))
		}
		before := written(t)
		if code, answer := httpPost(t, client, rs.URL()+"/receipts/hms?app="+testApp, ctJSON, big); code != http.StatusUnauthorized {
			t.Fatalf("the unsigned 1 MiB body answered %d %.200s, want 401", code, answer)
		}
		// Signed by Huawei but over its 1000 statuses a receipt: refused.
		over := ids(receipts.MaxReceiptItems + 1)
		if code, answer := e.postReceipt(t, client, rs.URL(), "hms", ctJSON, statuses(over)); code != http.StatusBadRequest || !strings.Contains(answer, "at most 1000") {
			t.Fatalf("1001 statuses answered %d %.200s, want 400", code, answer)
		}
		if got := written(t); got != before {
			t.Fatalf("the refused bodies wrote %d records to push.events.sg", got-before)
		}
		// Signed and within the cap (a vendor's key stolen, or receipts
		// of deliveries another region made): 1000 receipts of unknown
		// deliveries are taken, waited for at most MaxWaits times each,
		// then dropped and counted, never stored.
		dropped := counter(reg, "pushpipe_eventsink_receipts_total", "outcome", "dropped")
		unknown := ids(receipts.MaxReceiptItems)
		if code, answer := e.postReceipt(t, client, rs.URL(), "hms", ctJSON, statuses(unknown)); code != http.StatusOK {
			t.Fatalf("the signed receipt answered %d %.200s", code, answer)
		}
		e.waitFor("the unknown receipts dropped", 2*time.Minute, func() (bool, string) {
			got := counter(reg, "pushpipe_eventsink_receipts_total", "outcome", "dropped")
			return got-dropped == float64(len(unknown)), fmt.Sprintf("%v dropped", got-dropped)
		})
		settle(t)
		writes := written(t) - before
		bound := int64(len(unknown) * (1 + 2)) // the receipts and at most DefaultMaxWaits (2) waits each
		t.Logf("%d receipts of unknown deliveries: %d records written to push.events.sg (bound %d), %d dropped", len(unknown), writes, bound, len(unknown))
		if writes < int64(len(unknown)) || writes > bound {
			t.Fatalf("%d records written for %d unknown receipts, want between %d and %d", writes, len(unknown), len(unknown), bound)
		}
		var stored uint64
		if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db("sg")+".events WHERE delivery_id IN (?)", unknown).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("%d events of unknown deliveries stored (%v)", stored, err)
		}
	})

	t.Run("d: two apps with the same msg id and device id", func(t *testing.T) {
		id1, id2 := e.key.DeliveryID(testApp, "ab-dup-msg", "ab-dup"), e.key.DeliveryID(abuseApp2, "ab-dup-msg", "ab-dup")
		if id1 == id2 {
			t.Fatal("two apps share a delivery id")
		}
		count := func(app, task, ev string) uint64 {
			var n uint64
			if err := e.conn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM "+e.db("sg")+".events WHERE app_id = ? AND task_id = ? AND event = ?",
				app, task, ev).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, w := range []struct{ app, task, id string }{{testApp, "ab-task-dup-1", id1}, {abuseApp2, "ab-task-dup-2", id2}} {
			var got string
			if err := e.conn.QueryRow(ctx, "SELECT any(delivery_id) FROM "+e.db("sg")+".events WHERE app_id = ? AND task_id = ? AND event = 'valid'", w.app, w.task).Scan(&got); err != nil || got != w.id {
				t.Fatalf("%s's delivery %q (%v), want %s", w.app, got, err, w.id)
			}
			if n := count(w.app, w.task, "arrived"); n != 1 {
				t.Fatalf("%s's delivery has %d arrivals, want its own simulated one", w.app, n)
			}
		}
		wrongApp := counter(reg, "pushpipe_eventsink_receipts_total", "outcome", "wrong_app")
		// App 2's SDK, signing correctly, names app 1's delivery: dropped.
		cross := fmt.Sprintf(`{"events":[{"deliveryId":%q,"event":"ignore"}]}`, id1)
		if code, answer := e.postReceiptAs(t, client, rs.URL(), abuseApp2, "client", ctJSON, cross); code != http.StatusOK {
			t.Fatalf("answered %d %s", code, answer)
		}
		// Each app's SDK reports by msg id and device id: each reaches its
		// own delivery.
		for _, a := range []struct{ app, ev string }{{testApp, "open"}, {abuseApp2, "ignore"}} {
			body := fmt.Sprintf(`{"events":[{"msgId":"ab-dup-msg","deviceId":"ab-dup","event":%q}]}`, a.ev)
			if code, answer := e.postReceiptAs(t, client, rs.URL(), a.app, "client", ctJSON, body); code != http.StatusOK {
				t.Fatalf("%s: answered %d %s", a.app, code, answer)
			}
		}
		e.waitFor("each app's report on its own delivery", time.Minute, func() (bool, string) {
			o1, i2 := count(testApp, "ab-task-dup-1", "opened"), count(abuseApp2, "ab-task-dup-2", "ignored")
			return o1 == 1 && i2 == 1, fmt.Sprintf("app 1 opened %d, app 2 ignored %d", o1, i2)
		})
		settle(t)
		for _, w := range []struct {
			app, task, ev string
			want          uint64
		}{{testApp, "ab-task-dup-1", "ignored", 0}, {testApp, "ab-task-dup-1", "opened", 1}, {abuseApp2, "ab-task-dup-2", "opened", 0}, {abuseApp2, "ab-task-dup-2", "ignored", 1}} {
			if n := count(w.app, w.task, w.ev); n != w.want {
				t.Errorf("%s: %d %s events, want %d", w.app, n, w.ev, w.want)
			}
		}
		if got := counter(reg, "pushpipe_eventsink_receipts_total", "outcome", "wrong_app"); got != wrongApp+1 {
			t.Fatalf("wrong_app outcomes %v, want %v", got, wrongApp+1)
		}
	})

	t.Run("e: the honest simulated receipts are exact", func(t *testing.T) {
		settle(t)
		sim := e.sim.ReceiptStats().Total()
		if sim.Arrivals.Decided != 9 || sim.Arrivals.Acked != 9 || sim.Arrivals.Failed != 0 || sim.Arrivals.Dropped != 0 {
			t.Fatalf("simulator arrivals %+v, want 9 decided and acked", sim.Arrivals)
		}
		now := time.Now()
		st, err := store.QueryStats(ctx, e.conn, e.db("sg"), schema.StatsQuery{AppID: testApp, From: now.Add(-time.Hour), To: now.Add(time.Minute),
			Granularity: schema.GranularityHour, TaskID: "ab-task-honest"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Total.Pushed != 5 || st.Total.Arrived != 5 || st.Total.Opened != 2 {
			t.Fatalf("statistics of the honest task %+v, want 5 pushed, 5 arrived, 2 opened", st.Total)
		}
	})
}

// metricValue reads the value of the series name{labels} from a
// Prometheus text exposition (0 when absent).
func metricValue(t *testing.T, exposition, name string, labels map[string]string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(exposition, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for k, v := range labels {
			ok = ok && strings.Contains(line, k+`="`+v+`"`)
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return f
	}
	return 0
}
