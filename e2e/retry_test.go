package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// retryKinds are the stages the retry tests run: the whole chain without
// the callbacks worker.
func retryKinds() []app.Kind {
	return []app.Kind{app.Registry, app.Fanout, app.Sender, app.Retry, app.Eventsink}
}

// retryPerDevice is one delivery's events, by distinct event id.
type retryPerDevice struct {
	retried    []int                    // attempt numbers of the retried events
	terminal   map[schema.EventType]int // acked, failed, expired, revoked
	acked      int                      // attempt of the acked event
	expiredTS  time.Time
	expiredSts int64
}

// fastRetries makes retries come within the tests' short validity: a wait
// of at most 200ms·2^(n-1), capped at 1s, so every retry goes through the
// 1s tier; and a circuit breaker that, once open, probes the vendor again
// after 500ms, since while open it asks for a retry no sooner than that.
func fastRetries(c *config.Config) {
	c.Retry.BaseBackoff, c.Retry.MaxBackoff = 200*time.Millisecond, time.Second
	c.Sender.Breaker.OpenTimeout = 500 * time.Millisecond
}

// pushToDevices registers n MiPush devices named prefix-NNN in sg and
// publishes SIMPLE pushes (10 targets each) of the given validity to them;
// it returns the task ids and a time no later than their acceptedAt.
func (e *env) pushToDevices(prefix string, n, expiredSeconds int) ([]string, time.Time) {
	e.t.Helper()
	devs := make([]schema.Binding, n)
	for i := range devs {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		devs[i] = device("sg", id, "regid-"+id)
	}
	e.registerDevices("sg", devs...)
	var tasks []string
	var outs []pipeline.Output
	accepted := time.Now()
	for start := 0; start < n; start += 10 {
		task := fmt.Sprintf("task-%s-%d", prefix, start/10)
		targets := map[string]string{}
		for _, d := range devs[start:min(start+10, n)] {
			targets[d.DeviceID] = "msg-" + d.DeviceID
		}
		req := simpleRequest("sg", task, targets)
		req["expiredSeconds"] = expiredSeconds
		outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), task, req))
		tasks = append(tasks, task)
	}
	e.publish(outs...)
	return tasks, accepted
}

// warmUpRetry pushes to one device while the simulator fails its first
// MiPush call, and waits until that delivery is acked on its retry: from
// then on the sender, the 1s retry tier and the event sink are consuming.
func (e *env) warmUpRetry() {
	e.t.Helper()
	if err := e.sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Region: "sg", Status: 503, Next: 1}); err != nil {
		e.t.Fatal(err)
	}
	e.registerDevices("sg", device("sg", "warm-up", "regid-warm-up"))
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-warm-up", simpleRequest("sg", "task-warm-up", map[string]string{"warm-up": "msg-warm-up"})))
	e.waitFor("the warm-up delivery acked after a retry", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'task-warm-up'")
		return got["retried"] == 1 && got["acked"] == 1, fmt.Sprint(got)
	})
}

// retryOutcomes reads the events of tasks per device, counting each event
// id once (a replayed event has the same id).
func (e *env) retryOutcomes(tasks []string) map[string]*retryPerDevice {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(),
		"SELECT any(device_id), any(event), any(status_code), any(attempt), min(ts) FROM "+e.db("sg")+
			".events WHERE has(?, task_id) AND event IN ('retried', 'acked', 'failed', 'expired', 'revoked') GROUP BY event_id", tasks)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]*retryPerDevice{}
	for rows.Next() {
		var (
			dev, ev string
			status  int64
			attempt uint16
			ts      time.Time
		)
		if err := rows.Scan(&dev, &ev, &status, &attempt, &ts); err != nil {
			e.t.Fatal(err)
		}
		p := out[dev]
		if p == nil {
			p = &retryPerDevice{terminal: map[schema.EventType]int{}}
			out[dev] = p
		}
		switch t := schema.EventType(ev); t {
		case schema.EventRetried:
			p.retried = append(p.retried, int(attempt))
		default:
			p.terminal[t]++
			if t == schema.EventAcked {
				p.acked = int(attempt)
			}
			if t == schema.EventExpired {
				p.expiredTS, p.expiredSts = ts, status
			}
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// ended counts the devices with at least one terminal event.
func ended(o map[string]*retryPerDevice) int {
	n := 0
	for _, p := range o {
		if len(p.terminal) > 0 {
			n++
		}
	}
	return n
}

// stormedPush starts the chain in sg with fastRetries, makes the simulator
// answer 503 to every MiPush call, and pushes to devices fresh devices with
// the given validity; it returns the env, the task ids and a time no later
// than the pushes' acceptedAt.
func stormedPush(t *testing.T, prefix string, devices, expiredSeconds int) (*env, []string, time.Time) {
	t.Helper()
	e := newEnvWith(t, fastRetries, "sg")
	e.run([]string{"sg"}, retryKinds()...)
	e.warmUpRetry()
	if err := e.sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Region: "sg", Status: 503, Probability: 1}); err != nil {
		t.Fatal(err)
	}
	tasks, accepted := e.pushToDevices(prefix, devices, expiredSeconds)
	return e, tasks, accepted
}

// outcomesOnceEnded waits (within a generous bound) until each of the
// devices' deliveries has a terminal event, waits two seconds more so that
// anything wrongly emitted after it lands too, and returns the outcomes.
func (e *env) outcomesOnceEnded(tasks []string, devices int) map[string]*retryPerDevice {
	e.t.Helper()
	e.waitFor("every delivery to end", 2*time.Minute, func() (bool, string) {
		n := ended(e.retryOutcomes(tasks))
		return n == devices, fmt.Sprintf("%d of %d deliveries ended", n, devices)
	})
	time.Sleep(2 * time.Second)
	got := e.retryOutcomes(tasks)
	if len(got) != devices {
		e.t.Fatalf("events for %d devices, want %d", len(got), devices)
	}
	return got
}

// TestRetryUntilExpiry pushes to 50 devices with expiredSeconds 3 while
// MiPush answers 503 to every call: every delivery is retried at least once
// and then ends expired with status 0 DeviceNotOnlineOrNoResponse, never
// before its validity ended, with exactly one terminal event.
func TestRetryUntilExpiry(t *testing.T) {
	const devices, validity = 50, 3
	e, tasks, accepted := stormedPush(t, "exp", devices, validity)
	retried := 0
	for dev, p := range e.outcomesOnceEnded(tasks, devices) {
		if len(p.terminal) != 1 || p.terminal[schema.EventExpired] != 1 {
			t.Errorf("%s: terminal events %v, want exactly one expired", dev, p.terminal)
			continue
		}
		if p.expiredSts != schema.StatusDeviceNotOnlineOrNoResponse {
			t.Errorf("%s: expired with status %d, want %d DeviceNotOnlineOrNoResponse", dev, p.expiredSts, schema.StatusDeviceNotOnlineOrNoResponse)
		}
		if p.expiredTS.Before(accepted.Add(validity * time.Second).Truncate(time.Millisecond)) {
			t.Errorf("%s: expired at %s, before its validity ended (accepted after %s, valid %ds)", dev, p.expiredTS, accepted, validity)
		}
		if len(p.retried) == 0 {
			t.Errorf("%s: expired without any retried event", dev)
		}
		retried += len(p.retried)
	}
	t.Logf("%d retried events for %d deliveries before they expired", retried, devices)
}

// TestRetryUntilTheVendorRecovers pushes to 50 devices while MiPush answers
// 503 to every call for two seconds: every delivery ends acked exactly
// once, and its retried events carry the attempt numbers 1..k where k is
// the acked event's attempt.
func TestRetryUntilTheVendorRecovers(t *testing.T) {
	const devices = 50
	e, tasks, _ := stormedPush(t, "rec", devices, 300)
	time.Sleep(2 * time.Second)
	e.sim.ClearFailures()

	retriedDeliveries := 0
	for dev, p := range e.outcomesOnceEnded(tasks, devices) {
		if len(p.terminal) != 1 || p.terminal[schema.EventAcked] != 1 {
			t.Errorf("%s: terminal events %v, want exactly one acked", dev, p.terminal)
			continue
		}
		slices.Sort(p.retried)
		want := make([]int, p.acked)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(p.retried, want) {
			t.Errorf("%s: acked at attempt %d with retried attempts %v, want %v", dev, p.acked, p.retried, want)
		}
		if len(p.retried) > 0 {
			retriedDeliveries++
		}
	}
	if retriedDeliveries == 0 {
		t.Fatal("no delivery was retried: the storm did not reach the deliveries")
	}
	t.Logf("%d of %d deliveries needed a retry", retriedDeliveries, devices)
}
