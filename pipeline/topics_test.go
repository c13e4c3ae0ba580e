package pipeline

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestTopicNames(t *testing.T) {
	tests := []struct {
		scenario string
		got      string
		want     string
	}{
		{scenario: "requests", got: RequestsTopic("eu"), want: "push.requests.eu"},
		{scenario: "deliveries", got: DeliveriesTopic("cn"), want: "push.deliveries.cn"},
		{scenario: "retry tier of seconds", got: RetryTierTopic("ru", 30*time.Second), want: "push.retry.30s.ru"},
		{scenario: "retry tier of minutes", got: RetryTierTopic("eu", 2*time.Minute), want: "push.retry.2m.eu"},
		{scenario: "retry tier of an hour", got: RetryTierTopic("cn", time.Hour), want: "push.retry.1h.cn"},
		{scenario: "retry tier under a second", got: RetryTierTopic("sg", 250*time.Millisecond), want: "push.retry.250ms.sg"},
		{scenario: "events", got: EventsTopic("in"), want: "push.events.in"},
		{scenario: "bindings", got: BindingsTopic("sg"), want: "push.bindings.sg"},
		{scenario: "control", got: ControlTopic("eu"), want: "push.control.eu"},
		{scenario: "schedules", got: SchedulesTopic("eu"), want: "push.schedules.eu"},
		{scenario: "dlq", got: DLQTopic("eu"), want: "push.dlq.eu"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestRegions(t *testing.T) {
	if got := Regions(); !slices.Equal(got, []string{"cn", "ru", "in", "eu", "sg"}) {
		t.Fatalf("Regions() = %v", got)
	}
	Regions()[0] = "xx"
	if Regions()[0] != "cn" {
		t.Fatal("Regions() returned shared state")
	}
	tests := []struct {
		scenario string
		region   string
		valid    bool
	}{
		{scenario: "every region is valid", region: "eu", valid: true},
		{scenario: "upper case is not", region: "EU", valid: false},
		{scenario: "empty is not", region: "", valid: false},
		{scenario: "unknown is not", region: "us", valid: false},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := ValidRegion(tt.region); got != tt.valid {
				t.Fatalf("ValidRegion(%q) = %v, want %v", tt.region, got, tt.valid)
			}
		})
	}
	for _, r := range Regions() {
		specs := RegionTopics(r)
		if want := 8 + len(RetryTiers()) + len(CallbackRetryTiers()); len(specs) != want {
			t.Fatalf("RegionTopics(%s) has %d topics, want %d", r, len(specs), want)
		}
		for _, tier := range RetryTiers() {
			if !slices.ContainsFunc(specs, func(s TopicSpec) bool { return s.Name == RetryTierTopic(r, tier) }) {
				t.Errorf("RegionTopics(%s) lacks the retry tier topic %s", r, RetryTierTopic(r, tier))
			}
		}
		for _, tier := range CallbackRetryTiers() {
			if !slices.ContainsFunc(specs, func(s TopicSpec) bool { return s.Name == CallbackRetryTopic(r, tier) }) {
				t.Errorf("RegionTopics(%s) lacks the callback retry topic %s", r, CallbackRetryTopic(r, tier))
			}
		}
		for _, s := range specs {
			if got, ok := TopicRegion(s.Name); !ok || got != r {
				t.Errorf("TopicRegion(%s) = %q, %v", s.Name, got, ok)
			}
			wantCompact := s.Name == ControlTopic(r) || s.Name == SchedulesTopic(r) || s.Name == ApprovalsTopic(r)
			if s.Compacted != wantCompact {
				t.Errorf("%s compacted = %v, want %v", s.Name, s.Compacted, wantCompact)
			}
		}
	}
	if RegionTopics("us") != nil {
		t.Error("RegionTopics of an unknown region is not nil")
	}
	if r, ok := TopicRegion("push.retry.30s.in"); !ok || r != "in" {
		t.Errorf("TopicRegion of a tiered retry topic = %q, %v", r, ok)
	}
}

func TestRetryTierFor(t *testing.T) {
	tests := []struct {
		scenario string
		wait     time.Duration
		want     time.Duration
	}{
		{scenario: "already due: the smallest tier", wait: 0, want: time.Second},
		{scenario: "negative wait: the smallest tier", wait: -time.Minute, want: time.Second},
		{scenario: "exactly a tier: that tier", wait: 5 * time.Second, want: 5 * time.Second},
		{scenario: "just over a tier: the next one", wait: time.Second + time.Millisecond, want: 5 * time.Second},
		{scenario: "default max backoff of 5m: the 10m tier", wait: 5 * time.Minute, want: 10 * time.Minute},
		{scenario: "Retry-After of an hour: the 1h tier", wait: time.Hour, want: time.Hour},
		{scenario: "longer than every tier: the largest", wait: 26 * time.Hour, want: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := RetryTierFor(tt.wait); got != tt.want {
				t.Fatalf("RetryTierFor(%s) = %s, want %s", tt.wait, got, tt.want)
			}
			if !ValidRetryTier(RetryTierFor(tt.wait)) {
				t.Fatalf("RetryTierFor(%s) is not one of RetryTiers()", tt.wait)
			}
		})
	}
	tiers := RetryTiers()
	if !slices.IsSorted(tiers) {
		t.Fatalf("RetryTiers() = %v is not shortest first", tiers)
	}
	tiers[0] = time.Nanosecond
	if RetryTiers()[0] != time.Second {
		t.Fatal("RetryTiers() returned shared state")
	}
	if ValidRetryTier(3 * time.Second) {
		t.Fatal("3s is not a tier")
	}
}

func TestCallbackRetryTierFor(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		wait     time.Duration
		want     time.Duration
	}{
		{"already due: the smallest tier", 0, 5 * time.Second},
		{"exactly a tier: that tier", 30 * time.Second, 30 * time.Second},
		{"just over a tier: the next one", 2*time.Minute + time.Millisecond, 10 * time.Minute},
		{"longer than every tier: the largest", time.Hour, 10 * time.Minute},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := CallbackRetryTierFor(tt.wait); got != tt.want {
				t.Fatalf("CallbackRetryTierFor(%s) = %s, want %s", tt.wait, got, tt.want)
			}
		})
	}
	if got := CallbackRetryTopic("eu", 30*time.Second); got != "push.callbacks.retry.30s.eu" {
		t.Fatalf("CallbackRetryTopic = %s", got)
	}
	if tiers := CallbackRetryTiers(); !slices.IsSorted(tiers) {
		t.Fatalf("CallbackRetryTiers() = %v is not shortest first", tiers)
	}
}

func cleanupPolicy(t *testing.T, ctx context.Context, topic string) string {
	t.Helper()
	return topicConfig(t, ctx, topic, "cleanup.policy")
}

func topicConfig(t *testing.T, ctx context.Context, topic, name string) string {
	t.Helper()
	resp, err := testClient(t).DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
	}}})
	if err != nil {
		t.Fatalf("DescribeConfigs(%s): %v", topic, err)
	}
	for _, r := range resp.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue
			}
		}
	}
	return ""
}

func TestEnsureTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := "test." + testName(t)
	plain := TopicSpec{Name: prefix + ".plain.eu"}
	compact := TopicSpec{Name: prefix + ".compact.eu", Compacted: true}
	tests := []struct {
		scenario   string
		brokers    []string
		specs      []TopicSpec
		partitions int
		wantErr    string
	}{
		{scenario: "creates missing topics", brokers: testBrokers, specs: []TopicSpec{plain, compact}, partitions: 3},
		{scenario: "existing topics are fine", brokers: testBrokers, specs: []TopicSpec{plain, compact}, partitions: 3},
		{scenario: "a different partition count leaves existing topics alone", brokers: testBrokers, specs: []TopicSpec{plain}, partitions: 5},
		{scenario: "region topics again", brokers: testBrokers, specs: RegionTopics(testRegion), partitions: 3},
		{scenario: "existing plain topic declared compacted", brokers: testBrokers, specs: []TopicSpec{{Name: plain.Name, Compacted: true}}, partitions: 3, wantErr: "must be compacted"},
		{scenario: "no brokers", specs: []TopicSpec{plain}, partitions: 3, wantErr: "no brokers"},
		{scenario: "zero partitions", brokers: testBrokers, specs: []TopicSpec{plain}, partitions: 0, wantErr: "partitions is 0"},
		{scenario: "invalid name", brokers: testBrokers, specs: []TopicSpec{{Name: "push requests"}}, partitions: 1, wantErr: "contains ' '"},
		{scenario: "duplicate name", brokers: testBrokers, specs: []TopicSpec{plain, plain}, partitions: 1, wantErr: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			err := EnsureTopics(ctx, tt.brokers, KafkaSecurity{}, tt.specs, tt.partitions)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EnsureTopics() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EnsureTopics() = %v", err)
			}
			for _, s := range tt.specs {
				if n := len(partitionsOf(t, ctx, s.Name)); n != 3 {
					t.Errorf("%s has %d partitions, want 3", s.Name, n)
				}
				policy := cleanupPolicy(t, ctx, s.Name)
				want := map[bool]string{true: "compact"}[s.Compacted]
				if s.Compacted && s.Retention > 0 {
					want = "compact,delete"
				}
				if want != "" && policy != want || want == "" && strings.Contains(policy, "compact") {
					t.Errorf("%s cleanup.policy = %q, want %q", s.Name, policy, want)
				}
				if s.Retention > 0 {
					if got, want := topicConfig(t, ctx, s.Name, "retention.ms"), strconv.FormatInt(s.Retention.Milliseconds(), 10); got != want {
						t.Errorf("%s retention.ms = %q, want %q", s.Name, got, want)
					}
				}
			}
		})
	}
}
