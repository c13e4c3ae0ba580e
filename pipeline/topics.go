package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// Regions returns the served region codes (see schema.Regions, the one
// list every package uses).
func Regions() []string { return schema.Regions() }

// ValidRegion reports whether r is one of Regions.
func ValidRegion(r string) bool { return schema.ValidRegion(r) }

// Topic names per region. Each function returns "<prefix>.<region>" and does
// not validate the region; check it with ValidRegion first. Apps share the
// topics, never keys: a key naming something an app owns is
// "<appId>/<id>" (schema.AppKey), so the same id of two apps is two keys.

// RequestsTopic is push.requests.R: push requests keyed by
// "<appId>/<task id>" (schema.Request.KafkaKey).
func RequestsTopic(region string) string { return "push.requests." + region }

// DeliveriesTopic is push.deliveries.R: one (message, device) pair per
// record, keyed by "<appId>/<device id>" (schema.Delivery.KafkaKey).
func DeliveriesTopic(region string) string { return "push.deliveries." + region }

// RetryTiers returns the delay tiers of the retry stage, shortest first:
// 1s, 5s, 30s, 2m, 10m and 1h. Each tier has its own topic
// (RetryTierTopic) and its own consumer group, so a delivery waiting an
// hour never holds up one waiting a second. Neighbouring tiers are 4 to 6
// times apart, so a delivery placed in the smallest tier that covers its
// wait (RetryTierFor) is held at most a few times its own wait; 10m covers
// the sender's default MaxBackoff (5m) and 1h a vendor Retry-After of up to
// an hour. A longer wait re-enters the 1h tier until it is due. The
// returned slice is a fresh copy.
func RetryTiers() []time.Duration {
	return []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour}
}

// ValidRetryTier reports whether tier is one of RetryTiers.
func ValidRetryTier(tier time.Duration) bool { return slices.Contains(RetryTiers(), tier) }

// RetryTierFor returns the tier a delivery due in wait goes to: the
// smallest tier whose delay is at least wait, or the largest tier when
// wait exceeds every tier (the retry stage then re-publishes the delivery
// to that tier until it is due). A wait of zero or less gives the smallest
// tier.
func RetryTierFor(wait time.Duration) time.Duration { return tierFor(RetryTiers(), wait) }

// tierFor returns the smallest of tiers (shortest first) whose delay is at
// least wait, or the largest one.
func tierFor(tiers []time.Duration, wait time.Duration) time.Duration {
	for _, t := range tiers {
		if wait <= t {
			return t
		}
	}
	return tiers[len(tiers)-1]
}

// RetryTierName is the short name of a tier used in its topic and consumer
// group: "1s", "5s", "30s", "2m", "10m", "1h" (whole hours, minutes or
// seconds; milliseconds otherwise).
func RetryTierName(tier time.Duration) string {
	switch {
	case tier%time.Hour == 0:
		return strconv.FormatInt(int64(tier/time.Hour), 10) + "h"
	case tier%time.Minute == 0:
		return strconv.FormatInt(int64(tier/time.Minute), 10) + "m"
	case tier%time.Second == 0:
		return strconv.FormatInt(int64(tier/time.Second), 10) + "s"
	}
	return strconv.FormatInt(tier.Milliseconds(), 10) + "ms"
}

// RetryTierTopic is push.retry.<tier>.R, e.g. push.retry.30s.eu: the
// deliveries waiting for their next attempt whose wait fits that tier (see
// RetryTierFor), keyed by "<appId>/<device id>". It does not check that
// tier is one of RetryTiers.
func RetryTierTopic(region string, tier time.Duration) string {
	return "push.retry." + RetryTierName(tier) + "." + region
}

// CallbackRetryTiers returns the delay tiers of business callbacks waiting
// for another attempt, shortest first: 5s, 30s, 2m and 10m. Each tier has
// its own topic (CallbackRetryTopic) and consumer group in the callbacks
// worker, so that a callback due in seconds never waits behind one due in
// minutes, and a receiver that is down never holds push.events.R. The
// largest tier bounds the callbacks worker's longest backoff. The returned
// slice is a fresh copy.
func CallbackRetryTiers() []time.Duration {
	return []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}
}

// CallbackRetryTierFor returns the callback tier a callback due in wait
// goes to: the smallest tier at least that long, or the largest tier.
func CallbackRetryTierFor(wait time.Duration) time.Duration {
	return tierFor(CallbackRetryTiers(), wait)
}

// CallbackRetryTopic is push.callbacks.retry.<tier>.R, e.g.
// push.callbacks.retry.30s.eu: the business callbacks waiting for their
// next attempt whose wait fits that tier (see CallbackRetryTierFor), keyed
// by the callback's host. It does not check that tier is one of
// CallbackRetryTiers.
func CallbackRetryTopic(region string, tier time.Duration) string {
	return "push.callbacks.retry." + RetryTierName(tier) + "." + region
}

// EventsTopic is push.events.R: lifecycle events keyed by "<appId>/<msg
// id>" (task id for task-level events, delivery id for a receipt naming
// nothing else; schema.Event.Key).
func EventsTopic(region string) string { return "push.events." + region }

// BindingsTopic is push.bindings.R: device reports, user binds and tag
// subscriptions keyed by "<appId>/<device id>" (user id for records of a
// user; schema.Binding.KafkaKey).
func BindingsTopic(region string) string { return "push.bindings." + region }

// ControlTopic is push.control.R (compacted): revokes keyed by
// "<appId>/msg:<id>" or "<appId>/task:<id>" (schema.Control.ControlKey).
func ControlTopic(region string) string { return "push.control." + region }

// SchedulesTopic is push.schedules.R (compacted): scheduled and loop pushes
// keyed by schedule id, which is derived from the app id among others
// (schema.NewScheduleID), so two apps never share one.
func SchedulesTopic(region string) string { return "push.schedules." + region }

// ApprovalsTopic is push.approvals.R (compacted): requests held for a
// second operator's approval, keyed like the request ("<appId>/<taskId>",
// schema.Approval.Key), with their decision.
func ApprovalsTopic(region string) string { return "push.approvals." + region }

// DLQTopic is push.dlq.R: raw bytes of records that could not be handled,
// keyed by the original key, with headers naming the reason and source.
func DLQTopic(region string) string { return "push.dlq." + region }

// TopicRegion returns the region a topic belongs to, i.e. the suffix after
// its last dot, and whether that suffix is a valid region. It works for
// every topic of this package and for tiered names such as
// push.retry.30s.eu.
func TopicRegion(topic string) (string, bool) {
	i := strings.LastIndexByte(topic, '.')
	if i < 0 {
		return "", false
	}
	r := topic[i+1:]
	return r, ValidRegion(r)
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	// Name is the topic name, e.g. RequestsTopic("eu").
	Name string
	// Compacted sets cleanup.policy=compact: the broker keeps the latest
	// record per key instead of deleting by age.
	Compacted bool
	// Retention, with Compacted, also deletes records older than this
	// (cleanup.policy=compact,delete and retention.ms): a compacted topic
	// whose keys stop mattering after a while does not grow forever.
	Retention time.Duration
	// ReplicationFactor is the number of replicas. 0 asks the broker for
	// its default (default.replication.factor).
	ReplicationFactor int16
}

// RegionTopics returns the specs of every topic a region uses (one retry
// topic per tier of RetryTiers, one callback retry topic per tier of
// CallbackRetryTiers), with push.control.R and push.schedules.R
// compacted. It returns nil for an invalid region.
func RegionTopics(region string) []TopicSpec {
	if !ValidRegion(region) {
		return nil
	}
	specs := []TopicSpec{
		{Name: RequestsTopic(region)},
		{Name: DeliveriesTopic(region)},
		{Name: EventsTopic(region)},
		{Name: BindingsTopic(region)},
		{Name: ControlTopic(region), Compacted: true, Retention: schema.ControlRetention},
		{Name: SchedulesTopic(region), Compacted: true},
		{Name: ApprovalsTopic(region), Compacted: true},
		{Name: DLQTopic(region)},
	}
	for _, t := range RetryTiers() {
		specs = append(specs, TopicSpec{Name: RetryTierTopic(region, t)})
	}
	for _, t := range CallbackRetryTiers() {
		specs = append(specs, TopicSpec{Name: CallbackRetryTopic(region, t)})
	}
	return specs
}

// EnsureTopics creates every topic in specs that does not exist yet, with
// the given number of partitions, and returns once the cluster metadata
// lists all of them with a leader for every partition. A topic that already
// exists is left as it is (its partition count is not changed), except that
// a topic flagged Compacted whose cleanup.policy does not include compact is
// reported as an error, since compaction cannot be assumed for it.
//
// A principal the brokers do not allow to create topics (no CREATE ACL)
// passes when the topics exist already, and fails naming the missing ones
// otherwise.
//
// EnsureTopics is idempotent and safe to call from every replica at start.
// It never relies on automatic topic creation. ctx bounds the whole
// operation; pass one with a deadline. Errors name the topics concerned;
// broker error codes can be tested with errors.Is (e.g.
// kafka.PolicyViolation). Every connection is secured with sec.
func EnsureTopics(ctx context.Context, brokers []string, sec KafkaSecurity, specs []TopicSpec, partitions int) error {
	if len(brokers) == 0 {
		return errors.New("pipeline: EnsureTopics: no brokers given: pass at least one host:port")
	}
	if partitions < 1 {
		return fmt.Errorf("pipeline: EnsureTopics: partitions is %d: use at least 1", partitions)
	}
	if len(specs) == 0 {
		return nil
	}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		if err := validTopicName(s.Name); err != nil {
			return fmt.Errorf("pipeline: EnsureTopics: %w", err)
		}
		if s.ReplicationFactor < 0 {
			return fmt.Errorf("pipeline: EnsureTopics: topic %s has ReplicationFactor %d: use 0 for the broker default or a positive count", s.Name, s.ReplicationFactor)
		}
		if slices.Contains(names, s.Name) {
			return fmt.Errorf("pipeline: EnsureTopics: topic %s is listed twice", s.Name)
		}
		names = append(names, s.Name)
	}

	// kafka-go also uses MetadataTTL as the timeout of each metadata
	// request, so it must not be tiny. Created topics are refreshed at
	// once regardless.
	transport := sec.Transport("pushpipe-admin")
	transport.MetadataTTL = time.Second
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport}

	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		rf := s.ReplicationFactor
		if rf == 0 {
			rf = -1
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: partitions, ReplicationFactor: int(rf)}
		switch {
		case s.Compacted && s.Retention > 0:
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact,delete"},
				{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(s.Retention.Milliseconds(), 10)}}
		case s.Compacted:
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("pipeline: creating topics %v on %v: %w", names, brokers, sec.Explain(err))
	}
	var errs []error
	var refused []string
	for _, name := range names {
		e := resp.Errors[name]
		switch {
		case e == nil || errors.Is(e, kafka.TopicAlreadyExists):
		case errors.Is(e, kafka.TopicAuthorizationFailed) || errors.Is(e, kafka.ClusterAuthorizationFailed):
			// A principal without CREATE is refused even for a topic that
			// exists: whether it does is checked next.
			refused = append(refused, name)
		default:
			errs = append(errs, fmt.Errorf("topic %s: %w", name, sec.Explain(e)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline: creating topics on %v: %w", brokers, errors.Join(errs...))
	}
	if err := checkExisting(ctx, client, sec, refused); err != nil {
		return fmt.Errorf("pipeline: creating topics on %v: %w", brokers, err)
	}

	if err := waitForTopics(ctx, client, names); err != nil {
		return fmt.Errorf("pipeline: waiting for topics %v to appear in metadata: %w", names, err)
	}
	return checkCompaction(ctx, client, specs)
}

// checkExisting returns nil when every topic of names exists, else an
// error naming the missing ones: they are the topics the brokers refused
// to create for lack of a CREATE ACL, which a locked-down principal
// (docs/operations.md, Kafka ACLs) does not have.
func checkExisting(ctx context.Context, client *kafka.Client, sec KafkaSecurity, names []string) error {
	if len(names) == 0 {
		return nil
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("checking topics %v this principal may not create: %w", names, sec.Explain(err))
	}
	var missing []string
	for _, n := range names {
		i := slices.IndexFunc(md.Topics, func(t kafka.Topic) bool { return t.Name == n })
		switch {
		case i < 0 || errors.Is(md.Topics[i].Error, kafka.UnknownTopicOrPartition):
			missing = append(missing, n)
		case md.Topics[i].Error != nil:
			return fmt.Errorf("topic %s: %w", n, sec.Explain(md.Topics[i].Error))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics %v do not exist and this principal may not create them (%w): "+
			"create them with an administrator's principal, or allow this one CREATE (docs/operations.md, Kafka ACLs)", missing, kafka.TopicAuthorizationFailed)
	}
	return nil
}

// validTopicName applies Kafka's topic naming rules.
func validTopicName(name string) error {
	if name == "" {
		return errors.New("a topic name is empty")
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name %.40q... is longer than 249 characters", name)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q contains %q: use only letters, digits, '.', '_' and '-'", name, r)
		}
	}
	return nil
}

// waitForTopics polls metadata until every topic is listed without error
// and every partition has a leader.
func waitForTopics(ctx context.Context, client *kafka.Client, names []string) error {
	var missing []string
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil {
			missing = missing[:0]
			seen := make(map[string]bool, len(md.Topics))
			for _, t := range md.Topics {
				if t.Error != nil || len(t.Partitions) == 0 {
					continue
				}
				ok := true
				for _, p := range t.Partitions {
					if p.Error != nil || p.Leader.Host == "" {
						ok = false
						break
					}
				}
				seen[t.Name] = ok
			}
			for _, n := range names {
				if !seen[n] {
					missing = append(missing, n)
				}
			}
			if len(missing) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last metadata error: %v)", ctx.Err(), err) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
			}
			return fmt.Errorf("%w (still missing: %v)", ctx.Err(), missing)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkCompaction verifies that every topic flagged Compacted has a
// cleanup.policy that includes compact.
func checkCompaction(ctx context.Context, client *kafka.Client, specs []TopicSpec) error {
	req := &kafka.DescribeConfigsRequest{}
	for _, s := range specs {
		if s.Compacted {
			req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name, ConfigNames: []string{"cleanup.policy"},
			})
		}
	}
	if len(req.Resources) == 0 {
		return nil
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("pipeline: describing cleanup.policy of compacted topics: %w", err)
	}
	var errs []error
	for _, r := range resp.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("topic %s: describing configs: %w", r.ResourceName, r.Error))
			continue
		}
		policy := "delete"
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				policy = e.ConfigValue
			}
		}
		compact := false
		for _, p := range strings.Split(policy, ",") {
			compact = compact || strings.TrimSpace(p) == "compact"
		}
		if !compact {
			errs = append(errs, fmt.Errorf("topic %s exists with cleanup.policy=%s but must be compacted: set cleanup.policy=compact on it (kafka-configs --alter --add-config cleanup.policy=compact)", r.ResourceName, policy))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline: %w", errors.Join(errs...))
	}
	return nil
}
