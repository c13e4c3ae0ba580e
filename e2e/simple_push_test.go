package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func simpleRequest(region, taskID string, targets map[string]string) map[string]any {
	return map[string]any{
		"type": "SIMPLE", "region": region, "appId": testApp, "workspaceId": "default", "taskId": taskID,
		"taskName": "e2e", "deliverType": 1, "targetMsgkey": targets, "title": "Flash sale",
		"content": "Everything half price until midnight", "expiredSeconds": 300, "pushStyle": 0,
		"acceptedAt": time.Now().UnixMilli(),
	}
}

func equalCounts(got map[string]uint64, want map[string]uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestSimplePushEndToEnd publishes a SIMPLE push for three registered
// devices and one unknown device onto push.requests.sg and follows it
// through registry, fanout, sender (MiPush against the simulator), retry
// and eventsink into ClickHouse; then it sends the same request to the eu
// topic and checks that sg is untouched.
func TestSimplePushEndToEnd(t *testing.T) {
	e := newEnv(t, "sg", "eu")
	e.run([]string{"sg", "eu"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "dev-1", "regid-1"), device("sg", "dev-2", "regid-2"), device("sg", "dev-3", "regid-3"))

	targets := map[string]string{"dev-1": "msg-1", "dev-2": "msg-2", "dev-3": "msg-3", "dev-unknown": "msg-4"}
	req := simpleRequest("sg", "task-e2e-1", targets)
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-e2e-1", req))

	want := map[string]uint64{"accepted": 1, "planned": 4, "invalid_device": 1, "valid": 3, "sent": 3, "acked": 3}
	e.waitFor("the task's events in push_sg.events", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", "task-e2e-1")
		return equalCounts(got, want), fmt.Sprint(got)
	})
	// The unknown device is NoBindInfo (status 1).
	var code int64
	if err := e.conn.QueryRow(context.Background(), "SELECT any(status_code) FROM "+e.db("sg")+".events WHERE event = 'invalid_device' AND task_id = 'task-e2e-1'").Scan(&code); err != nil || code != schema.StatusNoBindInfo {
		t.Fatalf("invalid_device status = %d (%v), want 1 NoBindInfo", code, err)
	}

	// The simulator received exactly one MiPush call per device, as MiPush
	// documents the request.
	reqs := e.sim.Requests("mipush", "sg")
	if len(reqs) != 3 {
		t.Fatalf("simulator got %d MiPush calls in sg, want 3", len(reqs))
	}
	var regIDs []string
	for _, r := range reqs {
		if r.Path != "/mipush/sg/v3/message/regid" {
			t.Errorf("path = %s", r.Path)
		}
		if r.Auth != "key="+testSecret {
			t.Errorf("Authorization = %q", r.Auth)
		}
		if got := r.Form.Get("title"); got != "Flash sale" {
			t.Errorf("title = %q", got)
		}
		if got := r.Form.Get("description"); got != "Everything half price until midnight" {
			t.Errorf("description = %q", got)
		}
		if got := r.Form.Get("restricted_package_name"); got != testPackage {
			t.Errorf("restricted_package_name = %q", got)
		}
		regIDs = append(regIDs, r.RegIDs...)
	}
	sort.Strings(regIDs)
	if strings.Join(regIDs, ",") != "regid-1,regid-2,regid-3" {
		t.Fatalf("regIds = %v", regIDs)
	}

	// Region isolation: the same request (region sg) on the eu topic is
	// rejected by the eu fanout; sg sees nothing new and no vendor is called.
	sgBefore := e.eventCounts("sg", "1 = 1")
	e.publish(jsonOut(pipeline.RequestsTopic("eu"), "task-e2e-1", req))
	e.waitFor("the eu rejection", time.Minute, func() (bool, string) {
		got := e.eventCounts("eu", "event = 'rejected' AND status_code = ?", int64(schema.CodeInvalidParam))
		return got["rejected"] == 1, fmt.Sprint(got)
	})
	time.Sleep(time.Second) // let anything that wrongly crossed regions land
	if after := e.eventCounts("sg", "1 = 1"); !equalCounts(after, sgBefore) {
		t.Fatalf("push_sg.events changed after a request on the eu topic: before %v after %v", sgBefore, after)
	}
	if n := len(e.sim.Requests("mipush", "sg")); n != 3 {
		t.Fatalf("sg MiPush endpoint called %d times after the eu request, want still 3", n)
	}
	if n := len(e.sim.Requests("mipush", "eu")); n != 0 {
		t.Fatalf("eu MiPush endpoint called %d times for a foreign request", n)
	}
	if got := e.eventCounts("eu", "event != 'rejected'"); len(got) != 0 {
		t.Fatalf("push_eu.events has non-rejected events: %v", got)
	}
}

// TestBadRequestsAreRejectedAndDeadLettered sends malformed JSON and a
// request without a task name, then a good request: the bad ones become
// rejected events with their result codes and DLQ records with headers, and
// the worker keeps consuming.
func TestBadRequestsAreRejectedAndDeadLettered(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "dev-1", "regid-1"))

	noName := simpleRequest("sg", "task-bad-2", map[string]string{"dev-1": "m-2"})
	noName["taskName"] = ""
	e.publish(
		pipeline.Output{Topic: pipeline.RequestsTopic("sg"), Key: []byte("task-bad-1"), Value: []byte(`{"type":"SIMPLE",`)},
		jsonOut(pipeline.RequestsTopic("sg"), "task-bad-2", noName),
		jsonOut(pipeline.RequestsTopic("sg"), "task-good", simpleRequest("sg", "task-good", map[string]string{"dev-1": "m-3"})),
	)
	e.waitFor("rejections and the good push", time.Minute, func() (bool, string) {
		rej := e.eventCounts("sg", "event = 'rejected'")
		good := e.eventCounts("sg", "task_id = 'task-good'")
		return rej["rejected"] == 2 && good["acked"] == 1, fmt.Sprint(rej, good)
	})
	codes := map[int64]int{}
	rows, err := e.conn.Query(context.Background(), "SELECT status_code FROM "+e.db("sg")+".events FINAL WHERE event = 'rejected'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c int64
		_ = rows.Scan(&c)
		codes[c]++
	}
	_ = rows.Close()
	if codes[int64(schema.CodeInvalidParam)] != 1 || codes[int64(schema.CodeTaskNameNull)] != 1 {
		t.Fatalf("rejected status codes = %v, want one 3028 and one 3019", codes)
	}

	dlq := readTopic(t, e.brokers, pipeline.DLQTopic("sg"), 2, 30*time.Second)
	byCode := map[string]kafka.Message{}
	for _, m := range dlq {
		h := headers(m)
		for _, k := range []string{pipeline.HeaderReason, pipeline.HeaderSourceTopic, pipeline.HeaderSourcePartition, pipeline.HeaderSourceOffset, pipeline.HeaderStage} {
			if h[k] == "" {
				t.Errorf("DLQ record lacks header %s: %v", k, h)
			}
		}
		if h[pipeline.HeaderSourceTopic] != pipeline.RequestsTopic("sg") || h[pipeline.HeaderStage] != "fanout" {
			t.Errorf("DLQ headers = %v", h)
		}
		byCode[h[pipeline.HeaderResultCode]] = m
	}
	if string(byCode["3028"].Value) != `{"type":"SIMPLE",` {
		t.Errorf("DLQ record of the malformed request holds %q, want the raw bytes", byCode["3028"].Value)
	}
	if m, ok := byCode["3019"]; !ok || !strings.Contains(headers(m)[pipeline.HeaderReason], "taskName") {
		t.Errorf("DLQ record of the nameless request missing or without reason: %v", headers(m))
	}
}

func headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// readTopic reads n records from every partition of topic, from the start.
func readTopic(t *testing.T, brokers []string, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, GroupID: "e2e-reader-" + topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d records from %s: %v", len(out), n, topic, err)
		}
		out = append(out, m)
	}
	return out
}
