package sender

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// retryTierOf reports the tier of topic if it is one of the retry tier
// topics of region.
func retryTierOf(topic, region string) (time.Duration, bool) {
	for _, tier := range pipeline.RetryTiers() {
		if topic == pipeline.RetryTierTopic(region, tier) {
			return tier, true
		}
	}
	return 0, false
}

// TestRetryGoesToTheSmallestTierCoveringItsWait fails one vendor call per
// scenario at the simulator (503, with or without a Retry-After) and checks
// the retry record: its wait honours the Retry-After and the jittered,
// capped backoff, and it is on the smallest tier whose delay covers the
// time until it is due (its not-before time, or its expiry if sooner).
func TestRetryGoesToTheSmallestTierCoveringItsWait(t *testing.T) {
	now := time.Now()
	const base, maxBackoff = time.Second, time.Minute // as newSender configures them
	for _, tc := range []struct {
		scenario   string
		attempt    int
		retryAfter time.Duration
		validity   time.Duration
		// wantTier is the tier when the scenario fixes it; 0 checks only
		// that the tier is the smallest covering the wait.
		wantTier time.Duration
	}{
		{scenario: "first retry: a wait within BaseBackoff, the 1s tier", validity: time.Hour, wantTier: time.Second},
		{scenario: "Retry-After 3s: waits 3s, the 5s tier", retryAfter: 3 * time.Second, validity: time.Hour, wantTier: 5 * time.Second},
		{scenario: "Retry-After 40s: waits 40s, the 2m tier", retryAfter: 40 * time.Second, validity: time.Hour, wantTier: 2 * time.Minute},
		{scenario: "Retry-After 2h: longer than every tier, the largest", retryAfter: 2 * time.Hour, validity: 24 * time.Hour, wantTier: time.Hour},
		{scenario: "validity ends before the Retry-After: tier by the time to expiry", retryAfter: 40 * time.Second, validity: 3 * time.Second, wantTier: 5 * time.Second},
		{scenario: "tenth retry: backoff capped at MaxBackoff", attempt: 9, validity: time.Hour},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h, sim := newSender(t, now)
			f := vendorsim.Failure{Vendor: "mipush", Status: 503, Next: 1}
			if tc.retryAfter > 0 {
				f.RetryAfter = vendorsim.Duration(tc.retryAfter)
			}
			if err := sim.InjectFailures(f); err != nil {
				t.Fatal(err)
			}
			var d schema.Delivery
			if err := json.Unmarshal(delivery("d1", "r1", "mipush", now.Add(tc.validity).UnixMilli()).Value, &d); err != nil {
				t.Fatal(err)
			}
			d.Attempt = tc.attempt
			res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: mustJSON(t, d)}})
			if err != nil {
				t.Fatal(err)
			}
			var got []schema.Delivery
			var tiers []time.Duration
			for _, o := range res[0].Outputs {
				if tier, ok := retryTierOf(o.Topic, "sg"); ok {
					var r schema.Delivery
					if err := json.Unmarshal(o.Value, &r); err != nil {
						t.Fatal(err)
					}
					got, tiers = append(got, r), append(tiers, tier)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d retry records, want 1; outputs %+v", len(got), res[0].Outputs)
			}
			r, tier := got[0], tiers[0]
			if r.Attempt != tc.attempt+1 {
				t.Errorf("attempt %d, want %d", r.Attempt, tc.attempt+1)
			}
			wait := time.UnixMilli(r.NotBefore).Sub(now.Truncate(time.Millisecond))
			jitterCap := min(base<<tc.attempt, maxBackoff)
			if wait < tc.retryAfter || wait > max(jitterCap, tc.retryAfter) {
				t.Errorf("wait %s, want within [%s, %s]", wait, tc.retryAfter, max(jitterCap, tc.retryAfter))
			}
			if want := pipeline.RetryTierFor(time.UnixMilli(workers.RetryDueAt(r)).Sub(now)); tier != want {
				t.Errorf("tier %s for a record due in %s, want %s", tier, time.UnixMilli(workers.RetryDueAt(r)).Sub(now), want)
			}
			if tc.wantTier != 0 && tier != tc.wantTier {
				t.Errorf("tier %s, want %s", tier, tc.wantTier)
			}
		})
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	for _, tc := range []struct {
		scenario        string
		base, max, want time.Duration
		attempt         int
	}{
		{scenario: "first retry: BaseBackoff", base: time.Second, max: 5 * time.Minute, attempt: 0, want: time.Second},
		{scenario: "doubles per attempt", base: 200 * time.Millisecond, max: 5 * time.Minute, attempt: 3, want: 1600 * time.Millisecond},
		{scenario: "capped at MaxBackoff", base: time.Second, max: 5 * time.Minute, attempt: 9, want: 5 * time.Minute},
		{scenario: "a huge attempt number does not overflow", base: time.Hour, max: 24 * time.Hour, attempt: 1000, want: 24 * time.Hour},
		{scenario: "a negative attempt number counts as the first", base: time.Second, max: time.Minute, attempt: -3, want: time.Second},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h := &Handler{cfg: Config{BaseBackoff: tc.base, MaxBackoff: tc.max}}
			if got := h.backoff(tc.attempt); got != tc.want {
				t.Fatalf("backoff(%d) = %s, want %s", tc.attempt, got, tc.want)
			}
		})
	}
}

func TestConfigValidateBackoffs(t *testing.T) {
	ok := Config{Region: "sg", Channels: map[string]channels.Channel{"mipush": nil}}
	for _, tc := range []struct {
		scenario string
		base     time.Duration
		max      time.Duration
		wantErr  string
	}{
		{scenario: "defaults", wantErr: ""},
		{scenario: "base within the default max", base: 10 * time.Second, wantErr: ""},
		{scenario: "negative base", base: -time.Second, wantErr: "must not be negative"},
		{scenario: "base above max", base: time.Minute, max: time.Second, wantErr: "exceeds MaxBackoff"},
		{scenario: "base above the default max", base: time.Hour, wantErr: "exceeds MaxBackoff"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := ok
			c.BaseBackoff, c.MaxBackoff = tc.base, tc.max
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
