package pipeline

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "fanout", "eu")
	m.addConsumed(3)
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := NewHealthServer("127.0.0.1:0", reg, ready.Load)
	if err := h.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() { _ = h.Close() }()
	if err := h.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	base := "http://" + h.Addr()
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	tests := []struct {
		scenario string
		ready    bool
		path     string
		wantCode int
		wantBody string
	}{
		{scenario: "liveness while not ready", ready: false, path: "/healthz", wantCode: 200, wantBody: "ok"},
		{scenario: "readiness before ready", ready: false, path: "/readyz", wantCode: 503, wantBody: "not ready"},
		{scenario: "readiness once ready", ready: true, path: "/readyz", wantCode: 200, wantBody: "ready"},
		{scenario: "metrics of the registry", ready: true, path: "/metrics", wantCode: 200,
			wantBody: `pushpipe_stage_records_consumed_total{region="eu",stage="fanout"} 3`},
		{scenario: "runtime profiles index", ready: true, path: "/debug/pprof/", wantCode: 200, wantBody: "goroutine"},
		{scenario: "a goroutine profile", ready: true, path: "/debug/pprof/goroutine?debug=1", wantCode: 200, wantBody: "goroutine profile: total"},
		{scenario: "unknown path", ready: true, path: "/nope", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ready.Store(tt.ready)
			code, body := get(tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}

	t.Run("context cancel stops serving; Close is idempotent", func(t *testing.T) {
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := client.Get(base + "/healthz"); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("server still serving after ctx cancel")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := h.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestHealthServerCloseWithoutStart(t *testing.T) {
	h := NewHealthServer("", nil, nil)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewMetrics(reg, "sender", "cn")
	b := NewMetrics(reg, "sender", "cn")
	a.addProduced(2)
	b.addProduced(3)
	c := NewMetrics(reg, "sender", "ru")
	c.addProduced(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pushpipe_stage_records_produced_total" {
			continue
		}
		got := map[string]float64{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "region" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
		if got["cn"] != 5 || got["ru"] != 1 {
			t.Fatalf("produced by region = %v, want cn=5 ru=1", got)
		}
		return
	}
	t.Fatal("produced counter not gathered")
}

func TestRegisterWithoutRegistryLeavesTheCollectorUnregistered(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pushpipe_test_total", Help: "test"})
	if got := Register(nil, c); got != c {
		t.Fatalf("Register(nil, c) = %v, want c itself", got)
	}
}
