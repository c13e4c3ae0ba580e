package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestRevokeRacesATask revokes a 10,000-delivery broadcast while it is
// being sent (smooth push keeps it sending for several seconds). Every
// delivery must end exactly one way: acked (sent before the revoke, then
// recalled, with a recalled event) or revoked (never reaching the vendor),
// and the two add up to 10,000.
func TestRevokeRacesATask(t *testing.T) {
	const (
		n    = 10_000
		task = "revoke-race"
		rate = 2_000 // messages a second: the task takes about 5s to send
	)
	e := newEnvWith(t, func(c *config.Config) { c.Recall.Settle = 2 * time.Second }, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	ctx := context.Background()
	now := time.Now().UTC()
	rows := make([]schema.Device, n)
	for i := range rows {
		rows[i] = schema.Device{AppID: testApp, DeviceID: fmt.Sprintf("rv-%05d", i), Platform: schema.PlatformAndroid, Vendor: "mipush",
			VendorToken: fmt.Sprintf("rv-tok-%05d", i), TokenValid: true, UserID: fmt.Sprintf("rv-user-%05d", i),
			BoundAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)}
	}
	if err := store.NewDevices(e.conn, e.db("sg")).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "sale", Title: "Sale", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, map[string]any{"type": "BROADCAST", "region": "sg", "appId": testApp,
		"workspaceId": "default", "taskId": task, "taskName": task, "deliverType": schema.DeliverAndroid, "msgkey": task + "-msg",
		"templateName": "sale", "templateKeyValue": map[string]string{"text": "wrong price"}, "expiredSeconds": 3600, "pushStatus": schema.PushStatusBound, "bindPeriod": 1,
		"smoothRate": rate, "acceptedAt": time.Now().UnixMilli()}))

	// Revoke once the vendor has accepted some of it.
	e.waitFor("the first acked deliveries", 2*time.Minute, func() (bool, string) {
		a, _ := e.sim.AppCounts(vendorsim.VendorMiPush, "sg", testApp)
		return a.Messages >= 1_000, fmt.Sprintf("%d messages at the vendor", a.Messages)
	})
	revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: testApp, TaskID: task, TS: time.Now().UnixMilli(), Reason: "wrong price"}
	if err := schema.ValidateRevoke(&revoke, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.publish(jsonOut(pipeline.ControlTopic("sg"), revoke.ControlKey(), revoke))

	var c map[string]uint64
	e.waitFor("every delivery ended and every acked one recalled", 3*time.Minute, func() (bool, string) {
		c = e.eventCounts("sg", "task_id = ?", task)
		return c["acked"]+c["revoked"] >= n && c["recalled"] >= c["acked"], fmt.Sprint(c)
	})
	if c["valid"] != n || c["acked"]+c["revoked"] != n || c["failed"]+c["expired"] != 0 {
		t.Fatalf("events %v: want %d valid, acked + revoked = %d, none failed or expired", c, n, n)
	}
	if c["acked"] == 0 || c["revoked"] == 0 {
		t.Fatalf("events %v: the revoke did not race the sending (want some acked and some revoked)", c)
	}
	if c["recalled"] != c["acked"] {
		t.Fatalf("events %v: every acked delivery must be recalled once", c)
	}
	// Exactly one terminal event per delivery, and recalled only after
	// acked.
	rs, err := e.conn.Query(ctx, "SELECT delivery_id, groupUniqArray(event) FROM "+e.db("sg")+
		".events WHERE task_id = ? AND event IN ('acked','revoked','failed','expired','recalled') GROUP BY delivery_id", task)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rs.Close() }()
	deliveries := 0
	for rs.Next() {
		var id string
		var evs []string
		if err := rs.Scan(&id, &evs); err != nil {
			t.Fatal(err)
		}
		deliveries++
		set := map[string]bool{}
		for _, ev := range evs {
			set[ev] = true
		}
		ok := (set["acked"] && set["recalled"] && len(set) == 2) || (set["revoked"] && len(set) == 1)
		if !ok {
			t.Fatalf("delivery %s ended %v: want acked+recalled or revoked alone", id, evs)
		}
	}
	if deliveries != n {
		t.Fatalf("%d deliveries have an outcome, want %d", deliveries, n)
	}
	// Nothing revoked reached the vendor: it accepted exactly the acked.
	a, _ := e.sim.AppCounts(vendorsim.VendorMiPush, "sg", testApp)
	if uint64(a.Messages) != c["acked"] {
		t.Fatalf("the vendor accepted %d messages, %d deliveries were acked", a.Messages, c["acked"])
	}
	// The vendor confirmed each recall, and saw one recall per acked
	// delivery.
	if st := e.eventCounts("sg", "task_id = ? AND event = 'recalled' AND status_code = 2", task); st["recalled"] != c["acked"] {
		t.Fatalf("%d recalled events with status 2 (vendor confirmed), want %d", st["recalled"], c["acked"])
	}
	var recalls int64
	for _, n := range e.sim.Recalls(vendorsim.VendorMiPush, "sg", testApp) {
		recalls += n
	}
	if uint64(recalls) != c["acked"] {
		t.Fatalf("the vendor recalled %d deliveries, want the %d acked", recalls, c["acked"])
	}
	t.Logf("10,000-delivery task revoked mid-send: %d acked then recalled, %d revoked before sending; events %v", c["acked"], c["revoked"], c)
}
