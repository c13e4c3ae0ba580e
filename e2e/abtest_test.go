package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/schema"
)

// TestABTestEndToEnd runs an A/B copy test through the real pipeline: 300
// MiPush devices, 3 variants, a 10% sample, the decision 20 seconds after
// acceptance, and a simulator that opens every arrived message titled
// "[B]", half of "[C]" and a fifth of "[A]". It checks that each variant
// reached its 10 targets of the split (and only they its copy); that after
// the decision the other 270 devices, and only they, received B's copy,
// once; and that the decision recorded on the test (/v1/abtests/{taskId})
// names B with the three open rates it was made on, equal to the
// statistics /v1/stats gives for each variant's task.
func TestABTestEndToEnd(t *testing.T) {
	const devices, sample = 300, 30
	e := newEnvOpts(t, envOptions{simReceipts: &vendorsim.ReceiptsConfig{ArrivalRate: 1, OpenRate: 0,
		OpenRatesByTitle: []vendorsim.TitleOpenRate{{TitleContains: "[A]", OpenRate: 0.2}, {TitleContains: "[B]", OpenRate: 1}, {TitleContains: "[C]", OpenRate: 0.5}}}}, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.runScheduler("sg")
	ctx := context.Background()

	targets := map[string]string{}
	tokenOf := map[string]string{}
	devs := make([]schema.Binding, devices)
	for i := range devs {
		id := fmt.Sprintf("ab-%03d", i)
		devs[i] = device("sg", id, "regid-"+id)
		targets[id], tokenOf["regid-"+id] = "ab-msg-"+id, id
	}
	e.registerDevices("sg", devs...)

	const task = "task-ab-1"
	variants := []schema.ABVariant{{Title: "Sale [A]", Content: "copy A"}, {Title: "Sale [B]", Content: "copy B"}, {Title: "Sale [C]", Content: "copy C"}}
	gw := e.startGateway("sg")
	req := &schema.Request{Type: schema.PushSimple, Region: "sg", AppID: testApp, WorkspaceID: "default", TaskID: task, TaskName: "ab",
		DeliverType: schema.DeliverAndroid, ExpiredSeconds: 600, TargetMsgkey: targets,
		ABTest: &schema.ABTest{Variants: variants, SamplePercent: 10, Metric: schema.ABMetricOpenRate, DecisionSeconds: 20}}
	got, err := gw.Push(ctx, req)
	if err != nil || got != task {
		t.Fatalf("pushing the A/B test: %q, %v", got, err)
	}
	split := req.ABTest.Split(task, slices.Sorted(maps.Keys(targets)))
	part := func(p string) string { return schema.ABPartTaskID(task, p) }

	t.Run("each variant reaches its share of the sample", func(t *testing.T) {
		for i := range variants {
			p := schema.ABVariantName(i)
			e.waitFor("variant "+p+" acked and arrived", 2*time.Minute, func() (bool, string) {
				got := e.eventCounts("sg", "task_id = ?", part(p))
				return got["acked"] == sample/3 && got["arrived"] == sample/3, fmt.Sprint(got)
			})
			got := e.eventCounts("sg", "task_id = ?", part(p))
			if got["planned"] != sample/3 || got["valid"] != sample/3 {
				t.Fatalf("variant %s: %v, want %d planned and valid", p, got, sample/3)
			}
		}
	})

	t.Run("the rest receives the winner's copy once, after the decision", func(t *testing.T) {
		e.waitFor("the rest acked", 2*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ?", part(schema.ABRestPart))
			return got["acked"] == devices-sample, fmt.Sprint(got)
		})
		received := map[string][]string{} // device → titles received
		for _, r := range e.sim.Requests("mipush", "sg") {
			if r.AppID == vendorsim.UnknownApp || r.Status != 200 {
				continue
			}
			for _, tok := range r.RegIDs {
				if dev, ok := tokenOf[tok]; ok {
					received[dev] = append(received[dev], r.Form.Get("title"))
				}
			}
		}
		if len(received) != devices {
			t.Fatalf("%d of %d devices received a message", len(received), devices)
		}
		for dev, titles := range received {
			want := "Sale [B]"
			if p := split[dev]; p != schema.ABRestPart {
				want = variants[strings.Index("abcde", p)].Title
			}
			if len(titles) != 1 || titles[0] != want {
				t.Fatalf("device %s (part %s) received %q, want %q once", dev, split[dev], titles, want)
			}
		}
	})

	t.Run("the decision shows the three open rates of /v1/stats", func(t *testing.T) {
		var ab gateway.ABTest
		if err := gw.Query(ctx, "/v1/abtests/"+task, map[string]any{"appId": testApp, "workspaceId": "default"}, &ab); err != nil {
			t.Fatal(err)
		}
		d := ab.Decision
		if d == nil || d.Winner != "b" || d.Metric != schema.ABMetricOpenRate || len(d.Variants) != 3 || ab.Status != "sent" {
			t.Fatalf("A/B test %+v, decision %+v: want b decided by open_rate over 3 variants, sent", ab, d)
		}
		if ab.Rest.Targets != devices-sample || ab.Rest.Title != "Sale [B]" || ab.Rest.Succeeded != devices-sample {
			t.Fatalf("rest %+v, want %d targets acked with B's copy", ab.Rest, devices-sample)
		}
		var firstSent time.Time
		if err := e.conn.QueryRow(ctx, "SELECT min(ts) FROM "+e.db("sg")+".events WHERE app_id = ? AND task_id = ? AND event = 'sent'", testApp, ab.Rest.TaskID).Scan(&firstSent); err != nil {
			t.Fatal(err)
		}
		if d.DecidedAt < ab.DecisionAt || firstSent.UnixMilli() < d.DecidedAt {
			t.Fatalf("decision time %d, decided at %d, rest first sent at %d: the rest went out before the decision", ab.DecisionAt, d.DecidedAt, firstSent.UnixMilli())
		}
		from := time.UnixMilli(ab.AcceptedAt).Add(-time.Hour)
		for i, v := range d.Variants {
			if v.Part != schema.ABVariantName(i) || v.Targets != sample/3 || v.Pushed != sample/3 || v.Arrived != sample/3 {
				t.Fatalf("decision figures of variant %d: %+v", i, v)
			}
			var st gateway.Stats
			if err := gw.Query(ctx, "/v1/stats", map[string]any{"appId": testApp, "workspaceId": "default", "granularity": "hour",
				"taskId": v.TaskID, "startTime": from.UnixMilli(), "endTime": time.Now().Add(time.Minute).UnixMilli()}, &st); err != nil {
				t.Fatal(err)
			}
			if st.PushTotalNum != v.Pushed || st.ArrivalNum != v.Arrived || st.OpenNum != v.Opened || st.OpenRate != v.OpenRate || v.Rate != v.OpenRate {
				t.Fatalf("variant %s: decided on %+v, /v1/stats gives %+v", v.Part, v, st)
			}
			t.Logf("variant %s: pushed %d, arrived %d, opened %d, open rate %.2f", v.Part, v.Pushed, v.Arrived, v.Opened, v.OpenRate)
		}
		if d.Variants[1].Opened != sample/3 {
			t.Fatalf("variant b: %d of %d opened at open rate 1", d.Variants[1].Opened, sample/3)
		}
	})
}
