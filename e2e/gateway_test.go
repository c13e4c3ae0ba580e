package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// startGateway configures a freshly made AccessKey for the test app under
// gateway.appKeys, as an operator would, and starts the region's gateway
// on a free port; it returns a client of the /v1 routes signing with it.
func (e *env) startGateway(region string) *gateway.Client {
	e.t.Helper()
	srv, key := e.startGatewayServer(region, nil)
	return &gateway.Client{BaseURL: srv.URL(), AccessKey: key}
}

// startGatewayServer starts the region's gateway with a new AccessKey of
// the test app (adjust may change its configuration) and returns it and
// the key.
func (e *env) startGatewayServer(region string, adjust func(*gateway.Config)) (*gateway.Server, gateway.AccessKey) {
	e.t.Helper()
	key, err := gateway.GenerateAccessKey()
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg.Gateway.AppKeys = []config.GatewayAppKey{{AppID: testApp, AccessKeys: []config.GatewayAccessKey{{AccessKeyID: key.ID, AccessKeySecret: key.Secret}}}}
	return e.startGatewayWith(region, adjust), key
}

// startGatewayWith starts the region's gateway for e.cfg.Gateway (which
// must list the AccessKeys), wired as `pushpipe gateway` wires it: the
// API on a free loopback port and, on another, the internal health
// server with its readiness and metrics (e.internalURL). adjust may
// change the gateway's configuration. Both stop when the test ends.
func (e *env) startGatewayWith(region string, adjust func(*gateway.Config)) *gateway.Server {
	e.t.Helper()
	if err := e.cfg.Validate(); err != nil {
		e.t.Fatal(err)
	}
	d := e.deps()
	reg := prometheus.NewRegistry()
	d.Metrics = reg
	cfg, err := app.GatewayConfig(d, region, "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	if adjust != nil {
		adjust(&cfg)
	}
	srv, err := gateway.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = srv.Close() })
	health := pipeline.NewHealthServer("127.0.0.1:0", reg, app.Probe(d.Log, "gateway", srv.Ready))
	if err := health.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = health.Close() })
	if e.internal == nil {
		e.internal = map[string]string{}
	}
	e.internal[srv.Addr()] = "http://" + health.Addr()
	return srv
}

// TestGatewayEndToEnd drives the pipeline through the HTTP gateway with
// really signed requests: a client bind, a push to devices and a push to
// the bound user go through registry, fanout, sender (MiPush against the
// simulator) and eventsink, and the gateway's statistics, task details and
// funnel show them.
func TestGatewayEndToEnd(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "gw-1", "regid-gw-1"), device("sg", "gw-2", "regid-gw-2"))
	c := e.startGateway("sg")
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)

	if _, err := c.Call(ctx, "/v1/client/bind", map[string]any{"appId": testApp, "workspaceId": "default", "userId": "u-gw", "deliveryToken": "gw-2"}); err != nil {
		t.Fatal(err)
	}
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("the bind applied by the registry", time.Minute, func() (bool, string) {
		got, err := devices.ByUser(ctx, testApp, []string{"u-gw"})
		return err == nil && len(got) == 1, fmt.Sprintf("%d devices, err %v", len(got), err)
	})

	toDevices, err := c.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default", TaskName: "gateway e2e",
		DeliverType: schema.DeliverAndroid, TargetMsgkey: schema.StringMap{"gw-1": "gw-msg-1", "gw-2": "gw-msg-2"},
		Title: "Through the gateway", Content: "Signed and validated", ExpiredSeconds: 300})
	if err != nil {
		t.Fatal(err)
	}
	toUser, err := c.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default", TaskName: "gateway e2e user",
		DeliverType: schema.DeliverUser, TargetMsgkey: schema.StringMap{"u-gw": "gw-msg-3"},
		Title: "To a user", Content: "Bound through the client API", ExpiredSeconds: 300})
	if err != nil {
		t.Fatal(err)
	}
	// A refusal is synchronous: nothing reaches the pipeline.
	if _, err := c.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default", DeliverType: 1,
		TargetMsgkey: schema.StringMap{"gw-1": "x"}, Title: "T", Content: "C", ExpiredSeconds: 300}); err == nil {
		t.Fatal("a push without taskName was accepted")
	}

	for task, n := range map[string]uint64{toDevices: 2, toUser: 1} {
		want := map[string]uint64{"accepted": 1, "planned": n, "valid": n, "sent": n, "acked": n}
		e.waitFor("the events of "+task, time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ? AND event IN ('accepted','planned','valid','sent','acked')", task)
			return equalCounts(got, want), fmt.Sprint(got)
		})
	}
	if n := len(e.sim.Requests("mipush", "sg")); n != 3 {
		t.Fatalf("the simulated MiPush got %d calls, want 3", n)
	}

	var stats gateway.Stats
	e.waitFor("statistics through the gateway", time.Minute, func() (bool, string) {
		err := c.Query(ctx, "/v1/stats", map[string]any{"appId": testApp, "workspaceId": "default", "granularity": "hour",
			"startTime": start.UnixMilli(), "endTime": time.Now().Add(time.Minute).UnixMilli()}, &stats)
		return err == nil && stats.PushTotalNum == 3 && stats.PushNum == 3, fmt.Sprintf("%+v, %v", stats, err)
	})
	var task gateway.TaskDetail
	if err := c.Query(ctx, "/v1/tasks/"+toDevices, map[string]any{"appId": testApp, "workspaceId": "default"}, &task); err != nil {
		t.Fatal(err)
	}
	if task.PushNum != 2 || task.PushSuccessNum != 2 || task.PushType != string(schema.PushSimple) || task.Funnel.Planned != 2 || task.Funnel.Acked != 2 {
		t.Fatalf("task details %+v", task)
	}
	var tasks []gateway.Task
	if err := c.Query(ctx, "/v1/tasks", map[string]any{"appId": testApp, "workspaceId": "default", "startTime": start.UnixMilli()}, &tasks); err != nil || len(tasks) != 2 {
		t.Fatalf("task list %+v, %v; want the two tasks", tasks, err)
	}
}
