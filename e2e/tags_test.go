package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// tagsApp is the test app as the producer package names it.
var tagsApp = producer.App{Region: "sg", AppID: testApp, WorkspaceID: "default"}

// tagBroadcast is a BROADCAST of template "news" to Android devices, with
// tags when given.
func tagBroadcast(task string, tags []string) map[string]any {
	r := map[string]any{"type": "BROADCAST", "region": "sg", "appId": testApp, "workspaceId": "default",
		"taskId": task, "taskName": task, "deliverType": schema.DeliverAndroid, "msgkey": task + "-msg",
		"templateName": "news", "templateKeyValue": map[string]string{"text": "hello"}, "expiredSeconds": 3600,
		"acceptedAt": time.Now().UnixMilli()}
	if tags != nil {
		r["tags"] = tags
	}
	return r
}

// simulatedTokens returns how many messages the simulator accepted for the
// test app in sg, and per token how many, over every vendor.
func (e *env) simulatedTokens() (int64, map[string]int64) {
	var n int64
	tokens := map[string]int64{}
	for _, v := range e.sim.Stats().Vendors {
		if v.Regions["sg"] == nil || v.Regions["sg"].Apps[testApp] == nil {
			continue
		}
		a := v.Regions["sg"].Apps[testApp]
		n += a.Messages
		for tok, c := range a.Tokens {
			tokens[tok] += c
		}
	}
	return n, tokens
}

// queryTokens runs a one-column SQL query of vendor tokens.
func (e *env) queryTokens(query string, args ...any) []string {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(), query, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var tok string
		if err := rows.Scan(&tok); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// checkReached asserts that the simulator accepted exactly one message for
// each token of want and nothing else.
func (e *env) checkReached(what string, want []string) {
	e.t.Helper()
	n, tokens := e.simulatedTokens()
	got := make([]string, 0, len(tokens))
	for tok, c := range tokens {
		got = append(got, tok)
		if c != 1 {
			e.t.Errorf("%s: token %s got %d messages, want 1", what, tok, c)
		}
	}
	slices.Sort(got)
	if n != int64(len(want)) || !slices.Equal(got, want) {
		e.t.Fatalf("%s: the simulator accepted %d messages for tokens %v, want %d for %v", what, n, got, len(want), want)
	}
}

// TestBroadcastTags registers 100 Android devices on MiPush and Huawei
// bound to 45 users (10 devices unbound) and one iOS device, tags users
// through push.bindings with the producer package (vip: tu-00..tu-04,
// gold: tu-04..tu-09, vip removed again from tu-00, silver: tu-10, vip for
// a user without devices), then:
//
//   - a BROADCAST with tags ["vip","gold"] reaches exactly the devices an
//     independent SQL join of devices and tags in ClickHouse names, which
//     are the 18 devices of tu-01..tu-09 the test data implies: once each,
//     over both vendors, the iOS device of a gold user and the removed
//     membership left out;
//   - the same BROADCAST without tags reaches all 90 bound Android devices;
//   - a BROADCAST with a tag nobody carries is accepted and its task
//     details (gateway /v1/tasks/{taskId}) say its audience was empty.
func TestBroadcastTags(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	ctx := context.Background()
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "news", Title: "News", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}

	var devs []schema.Binding
	for i := 0; i < 100; i++ {
		d := device("sg", fmt.Sprintf("td-%03d", i), fmt.Sprintf("tok-td-%03d", i))
		if i%2 == 1 {
			d.Vendor = "hms"
		}
		devs = append(devs, d)
	}
	ios := schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, DeviceID: "td-ios", Platform: schema.PlatformIOS,
		Vendor: "apns", VendorToken: fmt.Sprintf("%064x", 5)}
	e.registerDevices("sg", append(devs, ios)...)
	now := time.Now().UnixMilli()
	var binds []pipeline.Output
	users := map[string]bool{}
	for i := 0; i < 90; i++ {
		id, user := fmt.Sprintf("td-%03d", i), fmt.Sprintf("tu-%02d", i/2)
		users[user] = true
		binds = append(binds, jsonOut(pipeline.BindingsTopic("sg"), id, schema.Binding{Op: schema.OpBind, Region: "sg", AppID: testApp, DeviceID: id, UserID: user, TS: now}))
	}
	binds = append(binds, jsonOut(pipeline.BindingsTopic("sg"), "td-ios", schema.Binding{Op: schema.OpBind, Region: "sg", AppID: testApp, DeviceID: "td-ios", UserID: "tu-05", TS: now}))
	e.publish(binds...)
	devices := store.NewDevices(e.conn, e.db("sg"))
	userIDs := make([]string, 0, len(users))
	for u := range users {
		userIDs = append(userIDs, u)
	}
	e.waitFor("90 Android devices and one iOS device bound", time.Minute, func() (bool, string) {
		got, err := devices.ByUser(ctx, testApp, userIDs)
		return err == nil && len(got) == 91, fmt.Sprintf("%d bound devices, err %v", len(got), err)
	})

	p, err := producer.New(producer.Config{Brokers: e.brokers, Region: "sg"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	tag := func(user string, tags ...string) {
		t.Helper()
		if err := p.AddTags(ctx, tagsApp, user, tags...); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= 9; i++ {
		user := fmt.Sprintf("tu-%02d", i)
		switch {
		case i < 4:
			tag(user, "vip")
		case i == 4:
			tag(user, "vip", "gold") // both tags
		default:
			tag(user, "gold")
		}
	}
	tag("tu-10", "silver")
	tag("tu-99", "vip") // a user without devices
	e.waitFor("the tags stored", time.Minute, func() (bool, string) {
		vip, nv, err1 := devices.TagUsers(ctx, testApp, "vip", 0, 100)
		_, ng, err2 := devices.TagUsers(ctx, testApp, "gold", 0, 100)
		return err1 == nil && err2 == nil && nv == 6 && ng == 6, fmt.Sprintf("vip %v (%d), gold %d, %v %v", vip, nv, ng, err1, err2)
	})
	// Removed again, once the addition is stored, so the removal is the
	// newer record.
	if err := p.RemoveTags(ctx, tagsApp, "tu-00", "vip"); err != nil {
		t.Fatal(err)
	}
	e.waitFor("vip removed from tu-00", time.Minute, func() (bool, string) {
		got, err := devices.UserTags(ctx, testApp, "tu-00")
		return err == nil && len(got) == 0, fmt.Sprintf("tags of tu-00 %v, %v", got, err)
	})

	// The audience as ClickHouse computes it, independently of fanout: a
	// join of the devices and the tags tables.
	audienceSQL := `SELECT DISTINCT d.vendor_token
		FROM (SELECT vendor_token, user_id, platform FROM ` + e.db("sg") + `.devices FINAL WHERE app_id = ?) AS d
		INNER JOIN (SELECT user_id FROM ` + e.db("sg") + `.tags FINAL WHERE app_id = ? AND tag IN ('vip', 'gold') AND deleted = 0) AS t
		ON d.user_id = t.user_id
		WHERE d.platform = 'android' AND d.user_id != ''`
	fromSQL := e.queryTokens(audienceSQL, testApp, testApp)
	var expected []string // tu-01..tu-09: devices 2..19
	for i := 2; i <= 19; i++ {
		expected = append(expected, fmt.Sprintf("tok-td-%03d", i))
	}
	if !slices.Equal(fromSQL, expected) {
		t.Fatalf("ClickHouse computes the audience %v, the test data implies %v", fromSQL, expected)
	}

	t.Run("tags reach exactly the tagged users' devices", func(t *testing.T) {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "bc-tags", tagBroadcast("bc-tags", []string{"vip", "gold"})))
		want := map[string]uint64{"accepted": 1, "planned": 18, "valid": 18, "sent": 18, "acked": 18}
		e.waitFor("the tagged broadcast acked", 2*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = 'bc-tags' AND event IN ('accepted','planned','valid','sent','acked')")
			return equalCounts(got, want), fmt.Sprint(got)
		})
		e.checkReached("tagged broadcast", fromSQL)
		mipush, hms := e.sim.Stats().Vendors["mipush"], e.sim.Stats().Vendors["hms"]
		if mipush.Regions["sg"].Apps[testApp].Messages != 9 || hms.Regions["sg"].Apps[testApp].Messages != 9 {
			t.Fatalf("MiPush got %d, Huawei %d messages; want 9 each", mipush.Regions["sg"].Apps[testApp].Messages, hms.Regions["sg"].Apps[testApp].Messages)
		}
	})

	t.Run("no tags reach every bound device", func(t *testing.T) {
		e.sim.Reset()
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "bc-all", tagBroadcast("bc-all", nil)))
		want := map[string]uint64{"accepted": 1, "planned": 90, "valid": 90, "sent": 90, "acked": 90}
		e.waitFor("the untagged broadcast acked", 2*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = 'bc-all' AND event IN ('accepted','planned','valid','sent','acked')")
			return equalCounts(got, want), fmt.Sprint(got)
		})
		bound := e.queryTokens("SELECT vendor_token FROM "+e.db("sg")+".devices FINAL WHERE app_id = ? AND platform = 'android' AND user_id != ''", testApp)
		if len(bound) != 90 {
			t.Fatalf("ClickHouse holds %d bound Android devices, want 90", len(bound))
		}
		e.checkReached("untagged broadcast", bound)
		// The tagged broadcast delivered nothing more meanwhile.
		if got := e.eventCounts("sg", "task_id = 'bc-tags' AND event IN ('planned','valid','acked')"); !equalCounts(got, map[string]uint64{"planned": 18, "valid": 18, "acked": 18}) {
			t.Fatalf("tagged broadcast events %v, want 18 planned, valid and acked", got)
		}
	})

	t.Run("an empty audience is said so", func(t *testing.T) {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), "bc-nobody", tagBroadcast("bc-nobody", []string{"nobody"})))
		e.waitFor("the empty broadcast accepted", time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = 'bc-nobody'")
			return got["accepted"] == 1, fmt.Sprint(got)
		})
		c := e.startGateway("sg")
		for task, empty := range map[string]bool{"bc-nobody": true, "bc-tags": false} {
			var d gateway.TaskDetail
			if err := c.Query(ctx, "/v1/tasks/"+task, map[string]any{"appId": testApp, "workspaceId": "default"}, &d); err != nil {
				t.Fatal(err)
			}
			if d.AudienceEmpty != empty || (empty && (d.Funnel.Planned != 0 || d.PushNum != 0)) {
				t.Fatalf("task details of %s: %+v; want audienceEmpty %v", task, d, empty)
			}
		}
		var desc string
		if err := e.conn.QueryRow(ctx, "SELECT status_desc FROM "+e.db("sg")+".events WHERE task_id = 'bc-nobody' AND event = 'accepted' LIMIT 1").Scan(&desc); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(desc, schema.AudienceEmptyDesc) || !strings.Contains(desc, "tags nobody") {
			t.Fatalf("accepted event of the empty broadcast says %q", desc)
		}
	})
}

// TestBroadcastTagsRefused publishes a request breaking each rule of the
// tags filter: each becomes a rejected event with 3028 and a DLQ record
// saying why, and the worker carries on with a valid tagged broadcast.
func TestBroadcastTagsRefused(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Fanout, app.Eventsink)
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(context.Background(), schema.Template{AppID: testApp, Name: "news", Title: "News", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, schema.MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	simple := simpleRequest("sg", "tags-simple", map[string]string{"d1": "m1"})
	simple["tags"] = []string{"vip"}
	unbound := tagBroadcast("tags-unbound", []string{"vip"})
	unbound["pushStatus"], unbound["unBindPeriod"] = schema.PushStatusUnbound, 1
	cases := []struct {
		task   string
		req    map[string]any
		reason string
	}{
		{"tags-empty-tag", tagBroadcast("tags-empty-tag", []string{"vip", ""}), "tags[1] is an empty tag"},
		{"tags-duplicate", tagBroadcast("tags-duplicate", []string{"vip", "gold", "vip"}), `tags[2] repeats tag "vip"`},
		{"tags-too-many", tagBroadcast("tags-too-many", many), "names 101 tags, at most 100"},
		{"tags-too-long", tagBroadcast("tags-too-long", []string{strings.Repeat("x", schema.MaxTagChars+1)}), "has 31 characters, at most 30"},
		{"tags-empty-list", tagBroadcast("tags-empty-list", []string{}), "tags is an empty list"},
		{"tags-unbound", unbound, "pushStatus 2 (unbound users) can never match"},
		{"tags-simple", simple, "tags filters BROADCAST pushes only"},
	}
	var outs []pipeline.Output
	for _, c := range cases {
		outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), c.task, c.req))
	}
	outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), "tags-good", tagBroadcast("tags-good", []string{"vip"})))
	e.publish(outs...)

	e.waitFor("the refusals and the good broadcast", time.Minute, func() (bool, string) {
		rej := e.eventCounts("sg", "event = 'rejected'")
		good := e.eventCounts("sg", "task_id = 'tags-good'")
		return rej["rejected"] == uint64(len(cases)) && good["accepted"] == 1, fmt.Sprint(rej, good)
	})
	for _, c := range cases {
		var code int64
		var desc string
		if err := e.conn.QueryRow(context.Background(), "SELECT status_code, status_desc FROM "+e.db("sg")+".events FINAL WHERE event = 'rejected' AND task_id = ?", c.task).Scan(&code, &desc); err != nil {
			t.Fatalf("rejected event of %s: %v", c.task, err)
		}
		if code != int64(schema.CodeInvalidParam) || !strings.Contains(desc, c.reason) {
			t.Errorf("%s rejected with %d %q, want 3028 saying %q", c.task, code, desc, c.reason)
		}
	}
	byKey := map[string]map[string]string{}
	for _, m := range readTopic(t, e.brokers, pipeline.DLQTopic("sg"), len(cases), 30*time.Second) {
		byKey[string(m.Key)] = headers(m)
	}
	for _, c := range cases {
		h, ok := byKey[c.task]
		if !ok || h[pipeline.HeaderResultCode] != "3028" || !strings.Contains(h[pipeline.HeaderReason], c.reason) || h[pipeline.HeaderSourceTopic] != pipeline.RequestsTopic("sg") {
			t.Errorf("DLQ record of %s: %v, want code 3028 and reason %q", c.task, h, c.reason)
		}
	}
}

// TestTagManagementThroughGateway adds, lists and removes tags with the
// gateway's signed routes and lists the users of a tag a page at a time,
// as the registry stored them.
func TestTagManagementThroughGateway(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Registry)
	c := e.startGateway("sg")
	ctx := context.Background()
	ref := func(fields map[string]any) map[string]any {
		fields["appId"], fields["workspaceId"] = testApp, "default"
		return fields
	}
	userTags := func(user string) []string {
		var got gateway.UserTags
		if err := c.Query(ctx, "/v1/tags/list", ref(map[string]any{"userId": user}), &got); err != nil {
			t.Fatal(err)
		}
		return got.Tags
	}

	resp, err := c.Call(ctx, "/v1/tags/add", ref(map[string]any{"userId": "u-gw", "tags": []string{"alpha", "beta"}}))
	if err != nil || resp.PushResult.Data != "u-gw" {
		t.Fatalf("adding tags: %+v, %v", resp, err)
	}
	e.waitFor("alpha and beta listed", time.Minute, func() (bool, string) {
		got := userTags("u-gw")
		return slices.Equal(got, []string{"alpha", "beta"}), fmt.Sprint(got)
	})
	if _, err := c.Call(ctx, "/v1/tags/remove", ref(map[string]any{"userId": "u-gw", "tags": []string{"beta"}})); err != nil {
		t.Fatal(err)
	}
	e.waitFor("beta removed", time.Minute, func() (bool, string) {
		got := userTags("u-gw")
		return slices.Equal(got, []string{"alpha"}), fmt.Sprint(got)
	})

	for i := 1; i <= 5; i++ {
		if _, err := c.Call(ctx, "/v1/tags/add", ref(map[string]any{"userId": fmt.Sprintf("gw-u%02d", i), "tags": []string{"alpha"}})); err != nil {
			t.Fatal(err)
		}
	}
	page := func(n, size int) gateway.TagUsers {
		var got gateway.TagUsers
		if err := c.Query(ctx, "/v1/tags/users", ref(map[string]any{"tag": "alpha", "pageNumber": n, "pageSize": size}), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	e.waitFor("six users of alpha", time.Minute, func() (bool, string) {
		got := page(1, 2)
		return got.TotalCount == 6, fmt.Sprintf("%+v", got)
	})
	for _, tc := range []struct {
		n    int
		want []string
	}{{1, []string{"gw-u01", "gw-u02"}}, {3, []string{"gw-u05", "u-gw"}}, {4, []string{}}} {
		if got := page(tc.n, 2); got.TotalCount != 6 || !slices.Equal(got.List, tc.want) {
			t.Errorf("page %d of alpha = %+v, want %v of 6", tc.n, got, tc.want)
		}
	}
	if got := page(1, 2); got.PageNumber != 1 || got.PageSize != 2 || got.Tag != "alpha" {
		t.Errorf("page echo %+v", got)
	}

	var ge *gateway.Error
	for _, tc := range []struct {
		path string
		body map[string]any
		want schema.ResultCode
	}{
		{"/v1/tags/add", ref(map[string]any{"userId": "u-gw", "tags": []string{strings.Repeat("x", 31)}}), schema.CodeInvalidParam},
		{"/v1/tags/add", ref(map[string]any{"tags": []string{"alpha"}}), schema.CodeNeedUserID},
		{"/v1/tags/users", ref(map[string]any{"tag": "alpha", "pageSize": gateway.MaxPageSize + 1}), schema.CodeInvalidParam},
	} {
		if _, err := c.Call(ctx, tc.path, tc.body); !errors.As(err, &ge) || ge.Code != tc.want {
			t.Errorf("%s %v = %v, want %d", tc.path, tc.body, err, tc.want)
		}
	}
	if got := userTags("u-gw"); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("a refused call changed the tags of u-gw: %v", got)
	}
}
