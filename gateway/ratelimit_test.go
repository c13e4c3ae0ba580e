package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/mpaas"
	dto "github.com/prometheus/client_model/go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

// throttled returns pushpipe_gateway_throttled_total of app.
func (e *env) throttled(appID string) float64 {
	e.t.Helper()
	var m dto.Metric
	if err := e.srv.m.throttled.WithLabelValues(appID).Write(&m); err != nil {
		e.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// headerRecorder is an http.RoundTripper that keeps the last answer's
// Retry-After header.
type headerRecorder struct {
	mu         sync.Mutex
	retryAfter string
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		h.mu.Lock()
		h.retryAfter = res.Header.Get("Retry-After")
		h.mu.Unlock()
	}
	return res, err
}

// wantThrottled checks a /v1 refusal of the rate limit: HTTP 429, 9000
// SYSTEM_ERROR with the Alibaba Cloud code and message first, Retry-After.
func wantThrottled(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	var ge *Error
	if !errors.As(err, &ge) || !ge.Throttled() || ge.Code != schema.CodeSystemError || ge.Name != "SYSTEM_ERROR" ||
		!strings.HasPrefix(ge.Message, ThrottlingCode+": "+ThrottlingMessage) || ge.RetryAfter != retryAfter || ge.RequestID == "" {
		t.Fatalf("got %v (%+v); want HTTP 429, 9000 SYSTEM_ERROR %q..., Retry-After %s", err, ge, ThrottlingCode+": "+ThrottlingMessage, retryAfter)
	}
}

// TestRateLimits: each app has its own token bucket, taken in both
// protocols after the signature and app are verified and before Kafka;
// a call over it is 429 with Retry-After, in the /v1 mPaaS shape and as
// the Alibaba Cloud Throttling.User error the SDK raises; one app's
// flood leaves another app's budget whole; the bucket refills at its
// rate; refusals are counted by app.
func TestRateLimits(t *testing.T) {
	clk := scheduler.NewManualClock(time.Now())
	e := newEnv(t, func(c *Config) {
		c.Now = clk.Now
		c.RateLimit = RateLimit{PerSecond: 1, Burst: 3} // testApp's, the default
		c.Apps[1].RateLimit = &RateLimit{PerSecond: 1, Burst: 5}
	})
	e.client.Now = clk.Now
	other := &Client{BaseURL: e.srv.URL(), AccessKey: testKey(1), Now: clk.Now}
	n := 0
	push := func(c *Client, appID string) error {
		n++
		_, err := c.Push(context.Background(), &schema.Request{Type: schema.PushSimple, AppID: appID, WorkspaceID: testSpace,
			TaskName: "limited", DeliverType: schema.DeliverAndroid, TargetMsgkey: schema.StringMap{"d1": "m" + string(rune('a'+n))},
			Title: "T", Content: "C", ExpiredSeconds: 300})
		return err
	}
	requests := pipeline.RequestsTopic("sg")

	t.Run("calls refused before the app is verified spend nothing", func(t *testing.T) {
		wrongSecret := &Client{BaseURL: e.srv.URL(), AccessKey: AccessKey{ID: testKey(0).ID, Secret: "not-the-secret-of-this-key-000"}, Now: clk.Now}
		for range 6 {
			_, err := other.Call(context.Background(), "/v1/push/revoke/task", app(map[string]any{"taskId": "t1"}))
			refused(t, err, http.StatusForbidden, schema.CodeAccountNoPermission)
			_, err = wrongSecret.Call(context.Background(), "/v1/push/revoke/task", app(map[string]any{"taskId": "t1"}))
			refused(t, err, http.StatusUnauthorized, schema.CodeSignatureMismatch)
		}
	})
	t.Run("an app's calls beyond its burst get 429 and write nothing", func(t *testing.T) {
		for i := range 3 {
			if err := push(e.client, testApp); err != nil {
				t.Fatalf("push %d of a burst of 3: %v", i+1, err)
			}
		}
		if got := len(e.records(requests)); got != 3 {
			t.Fatalf("%d requests published, want 3", got)
		}
		wantThrottled(t, push(e.client, testApp), time.Second)
		if got := e.records(requests); len(got) != 0 {
			t.Fatalf("a throttled push published %d records", len(got))
		}
	})
	t.Run("another app keeps its whole budget", func(t *testing.T) {
		for i := range 5 {
			if err := push(other, otherApp); err != nil {
				t.Fatalf("otherApp push %d of its burst of 5 while testApp is throttled: %v", i+1, err)
			}
		}
		wantThrottled(t, push(other, otherApp), time.Second)
		if got := len(e.records(requests)); got != 5 {
			t.Fatalf("%d requests of otherApp published, want 5", got)
		}
	})
	t.Run("the bucket refills at its rate", func(t *testing.T) {
		clk.Advance(time.Second)
		if err := push(e.client, testApp); err != nil {
			t.Fatalf("a second later: %v", err)
		}
		clk.Advance(200 * time.Millisecond) // 0.8 s until the next token: Retry-After rounds up
		wantThrottled(t, push(e.client, testApp), time.Second)
		if got := len(e.records(requests)); got != 1 {
			t.Fatalf("%d requests published, want 1", got)
		}
	})
	t.Run("the RPC API answers Throttling.User, which the SDK raises", func(t *testing.T) {
		rec := &headerRecorder{}
		sdk := e.sdk(testKey(0))
		sdk.SetTransport(rec)
		r := mpaas.CreatePushSimpleRequest()
		r.AppId, r.WorkspaceId, r.TaskName, r.DeliveryType = testApp, testSpace, "limited rpc", "1"
		r.TargetMsgkey, r.Title, r.Content, r.ExpiredSeconds = `{"d1":"rpc-1"}`, "T", "C", "300"
		_, err := sdk.PushSimple(r)
		var se *sdkerrors.ServerError
		if !errors.As(err, &se) || se.HttpStatus() != http.StatusTooManyRequests || se.ErrorCode() != ThrottlingCode ||
			se.Message() != ThrottlingMessage || !strings.Contains(se.Recommend(), testApp) || se.RequestId() == "" {
			t.Fatalf("got %v; want the SDK's ServerError 429 %s %q", err, ThrottlingCode, ThrottlingMessage)
		}
		if rec.retryAfter != "1" {
			t.Fatalf("Retry-After %q, want 1", rec.retryAfter)
		}
		if got := e.records(requests); len(got) != 0 {
			t.Fatalf("a throttled RPC push published %d records", len(got))
		}
	})
	t.Run("refusals are counted by app", func(t *testing.T) {
		if a, o := e.throttled(testApp), e.throttled(otherApp); a != 3 || o != 1 {
			t.Fatalf("throttled_total: %s %v, %s %v; want 3 and 1", testApp, a, otherApp, o)
		}
		if n := e.requests("/v1/push/simple", ThrottlingCode); n != 3 {
			t.Fatalf("requests_total{/v1/push/simple, %s} = %v, want 3", ThrottlingCode, n)
		}
		if n := e.requests("/v1/push/simple", "9000"); n != 0 {
			t.Fatalf("requests_total{code=9000} = %v: throttled calls must not look like Kafka failures", n)
		}
	})
}

// TestRateLimitBeforeClickHouse: with ClickHouse unreachable, the first
// query fails with 503 (its error logged, not shown) and the next one is
// 429: the bucket is taken before any query. Ready reports the cause.
func TestRateLimitBeforeClickHouse(t *testing.T) {
	clk := scheduler.NewManualClock(time.Now())
	e := newEnv(t, func(c *Config) {
		conn, err := store.OpenClickHouse(context.Background(), store.ClickHouseOptions{Addr: ch.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.Close()
		c.ClickHouse, c.Now, c.RateLimit = conn, clk.Now, RateLimit{PerSecond: 1, Burst: 1}
	})
	e.client.Now = clk.Now
	notReady := e.srv.Ready(context.Background())
	if notReady == nil {
		t.Fatal("Ready with ClickHouse closed: nil")
	}
	_, err := e.call("/v1/templates/list", app(nil))
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || ge.Code != schema.CodeSystemError || strings.Contains(ge.Message, notReady.Error()) {
		t.Fatalf("got %v; want 503 9000 without the internal error %q", err, notReady)
	}
	_, err = e.call("/v1/templates/list", app(nil))
	wantThrottled(t, err, time.Second)
}

func TestRateLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		limit   RateLimit
		wantErr string
	}{
		{RateLimit{}, ""},
		{RateLimit{PerSecond: 0.5}, ""},
		{RateLimit{PerSecond: 10, Burst: 20}, ""},
		{RateLimit{PerSecond: -1}, "perSecond -1 must be a finite number >= 0"},
		{RateLimit{PerSecond: 1, Burst: -1}, "burst -1 is negative"},
		{RateLimit{Burst: 5}, "burst 5 without perSecond"},
	} {
		err := tc.limit.Validate()
		if (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%+v: %v, want %q", tc.limit, err, tc.wantErr)
		}
	}
	if b := newBuckets(Config{Apps: []App{{AppID: "a"}}, RateLimit: RateLimit{PerSecond: 2.5}})["a"]; b == nil || b.limit.Burst != 3 {
		t.Fatalf("burst of 2.5 calls a second: %+v, want 3", b)
	}
}
