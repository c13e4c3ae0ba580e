package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestAbuseInput: requests built to exhaust a stage (a template bomb, an
// audience list of 10,000 values) are refused at fan-out with their code
// and dead-lettered, an honest push behind them on the same partition is
// acked, and the refusals are counted; one app's revoke of a msg id never
// revokes another app's message with the same id.
func TestAbuseInput(t *testing.T) {
	t.Run("template bomb and unbounded lists", abuseInputBombs)
	t.Run("a revoke names its own app's message only", abuseRevokeOtherApp)
}

func abuseInputBombs(t *testing.T) {
	e := newEnv(t, "sg")
	d := e.deps()
	reg := prometheus.NewRegistry()
	d.Metrics = reg
	e.runStoppable(d, []string{"sg"}, app.Registry, app.Fanout, app.Sender, app.Eventsink)
	e.registerDevices("sg", device("sg", "abuse-dev", "abuse-regid"))
	ctx := context.Background()
	bomb := schema.Template{AppID: testApp, Name: "bomb", Title: "T", Content: strings.Repeat("#a#", schema.MaxContentChars/3)}
	small := schema.Template{AppID: testApp, Name: "small", Title: "T", Content: "Hello #a#"}
	for _, tpl := range []schema.Template{bomb, small} {
		if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, tpl); err != nil {
			t.Fatal(err)
		}
	}
	templated := func(task, tpl string, kv map[string]string) map[string]any {
		r := simpleRequest("sg", task, map[string]string{"abuse-dev": task + "-msg"})
		delete(r, "title")
		delete(r, "content")
		r["type"], r["templateName"], r["templateKeyValue"] = "TEMPLATE", tpl, kv
		return r
	}
	versions := make([]string, 10_000)
	for i := range versions {
		versions[i] = fmt.Sprintf("v%d", i)
	}
	lists := simpleRequest("sg", "abuse-lists", map[string]string{"abuse-dev": "abuse-lists-msg"})
	lists["appVersions"] = versions
	// All keyed alike, so they share a partition: the honest push comes
	// after the attacks on it.
	const key = "abuse"
	e.publish(
		jsonOut(pipeline.RequestsTopic("sg"), key, templated("abuse-bomb", "bomb", map[string]string{"a": strings.Repeat("v", schema.MaxTemplateValueByte)})),
		jsonOut(pipeline.RequestsTopic("sg"), key, lists),
		jsonOut(pipeline.RequestsTopic("sg"), key, templated("abuse-honest", "small", map[string]string{"a": "v"})),
	)
	e.waitFor("the honest push acked behind the attacks", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'abuse-honest'")
		return got["acked"] == 1, fmt.Sprint(got)
	})
	want := map[string]int64{"abuse-bomb": int64(schema.CodeMsgPayloadTooLong), "abuse-lists": int64(schema.CodeInvalidParam)}
	for task, code := range want {
		var got int64
		if err := e.conn.QueryRow(ctx, "SELECT any(status_code) FROM "+e.db("sg")+".events WHERE task_id = ? AND event = 'rejected'", task).Scan(&got); err != nil || got != code {
			t.Errorf("%s: rejected with %d (%v), want %d", task, got, err, code)
		}
	}
	dlq := readTopic(t, e.brokers, pipeline.DLQTopic("sg"), 2, 30*time.Second)
	for _, m := range dlq {
		if h := headers(m); h[pipeline.HeaderReason] == "" {
			t.Errorf("DLQ record without a reason: %v", h)
		}
	}
	if n := counter(reg, "pushpipe_stage_records_rejected_total", "stage", "fanout"); n != 2 {
		t.Errorf("fanout counted %v rejected records, want 2", n)
	}
	t.Logf("template bomb → 3050, 10,000 app versions → 3028, honest push behind them acked; pushpipe_stage_records_rejected_total{stage=fanout} = %v", counter(reg, "pushpipe_stage_records_rejected_total", "stage", "fanout"))
}

func abuseRevokeOtherApp(t *testing.T) {
	const other = "OTHERAPP000000001"
	e := newEnvWith(t, func(c *config.Config) {
		withApp(c, other, nil)
		c.Recall.Settle = time.Second
	}, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	victim := device("sg", "shared-dev", "victim-regid")
	attacker := device("sg", "shared-dev", "attacker-regid")
	attacker.AppID = other
	e.registerDevicesOf("sg", testApp, victim)
	e.registerDevicesOf("sg", other, attacker)
	// Both apps push the same msg id to a device of the same id; the
	// attacker revokes its own message before sending it.
	victimReq := simpleRequest("sg", "victim-task", map[string]string{"shared-dev": "shared-msg"})
	attackerReq := simpleRequest("sg", "attacker-task", map[string]string{"shared-dev": "shared-msg"})
	attackerReq["appId"] = other
	revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: other, MsgID: "shared-msg", TS: time.Now().UnixMilli()}
	e.publish(jsonOut(pipeline.ControlTopic("sg"), revoke.ControlKey(), revoke))
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "attacker-task", attackerReq), jsonOut(pipeline.RequestsTopic("sg"), "victim-task", victimReq))
	e.waitFor("both messages ended", time.Minute, func() (bool, string) {
		v := e.eventCounts("sg", "task_id = 'victim-task' AND app_id = ?", testApp)
		a := e.eventCounts("sg", "task_id = 'attacker-task' AND app_id = ?", other)
		return v["acked"] == 1 && a["revoked"] == 1, fmt.Sprintf("victim %v, attacker %v", v, a)
	})
	if v := e.eventCounts("sg", "app_id = ? AND event IN ('revoked', 'recalled')", testApp); len(v) != 0 {
		t.Fatalf("the other app's revoke reached the victim app: %v", v)
	}
}
