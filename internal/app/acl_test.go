package app

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/pipeline"
)

// docACLs reads the kafka-acls.sh commands of docs/operations.md and
// returns what they allow each principal (User:<name> → its ACLs).
func docACLs(t *testing.T) map[string][]embeddedkafka.ACL {
	t.Helper()
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	out := map[string][]embeddedkafka.ACL{}
	commands := 0
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "kafka-acls.sh" {
			continue
		}
		commands++
		var principals, ops []string
		type res struct{ kind, name string }
		var resources []res
		prefixed := false
		for i := 1; i < len(f); i++ {
			arg := func() string {
				if i+1 >= len(f) {
					t.Fatalf("docs/operations.md: %q ends after %s", line, f[i])
				}
				i++
				return f[i]
			}
			switch f[i] {
			case "--allow-principal":
				principals = append(principals, strings.TrimPrefix(arg(), "User:"))
			case "--operation":
				ops = append(ops, arg())
			case "--topic":
				resources = append(resources, res{"topic", arg()})
			case "--group":
				resources = append(resources, res{"group", arg()})
			case "--cluster":
				resources = append(resources, res{"cluster", "kafka-cluster"})
			case "--resource-pattern-type":
				prefixed = arg() == "prefixed"
			case "$ADMIN", "--add":
			default:
				t.Fatalf("docs/operations.md: %q has %s, which this test does not understand", line, f[i])
			}
		}
		if len(principals) == 0 || len(ops) == 0 || len(resources) == 0 {
			t.Fatalf("docs/operations.md: %q lacks a principal, operation or resource", line)
		}
		for _, p := range principals {
			for _, op := range ops {
				for _, r := range resources {
					out[p] = append(out[p], embeddedkafka.ACL{Resource: r.kind, Name: r.name, Prefixed: prefixed, Operation: op})
				}
			}
		}
	}
	if commands < 10 {
		t.Fatalf("found %d kafka-acls.sh commands in docs/operations.md", commands)
	}
	return out
}

// aclRegion is the region of the documented ACLs.
const aclRegion = "sg"

// aclConsumes is what each worker reads: a topic, and the consumer group
// it commits in ("" for a reader without a group), as the code does.
func aclConsumes() map[string][][2]string {
	c := map[string][][2]string{
		"sender":  {{pipeline.ControlTopic(aclRegion), ""}},
		"retry":   {{pipeline.ControlTopic(aclRegion), ""}},
		"gateway": {{pipeline.SchedulesTopic(aclRegion), ""}},
		// fanout's device cache follows the bindings.
		// fanout's approval gate follows the held pushes.
		"fanout": {{pipeline.BindingsTopic(aclRegion), ""}, {pipeline.ApprovalsTopic(aclRegion), ""}},
		// The scheduler's consumer group shares push.schedules.R; its
		// approval sweeper follows the held pushes.
		"scheduler": {{pipeline.SchedulesTopic(aclRegion), groupID(Scheduler, aclRegion)}, {pipeline.ApprovalsTopic(aclRegion), ""}},
	}
	for _, k := range Kinds() {
		if k == Retry {
			for _, tier := range pipeline.RetryTiers() {
				name := string(Retry) + "." + pipeline.RetryTierName(tier)
				c["retry"] = append(c["retry"], [2]string{pipeline.RetryTierTopic(aclRegion, tier), groupID(Kind(name), aclRegion)})
			}
			continue
		}
		c[string(k)] = append(c[string(k)], [2]string{k.inputTopic(aclRegion), groupID(k, aclRegion)})
	}
	return c
}

// aclWrites is what each worker writes, as the code does.
func aclWrites() map[string][]string {
	r := aclRegion
	var tiers []string
	for _, tier := range pipeline.RetryTiers() {
		tiers = append(tiers, pipeline.RetryTierTopic(r, tier))
	}
	rejects := []string{pipeline.EventsTopic(r), pipeline.DLQTopic(r)} // every stage's rejections
	return map[string][]string{
		"registry":       rejects,
		"fanout":         append([]string{pipeline.DeliveriesTopic(r), pipeline.SchedulesTopic(r), pipeline.ApprovalsTopic(r)}, rejects...),
		"sender":         append(append([]string{pipeline.BindingsTopic(r)}, tiers...), rejects...),
		"retry":          append(append([]string{pipeline.DeliveriesTopic(r)}, tiers...), rejects...),
		"eventsink":      append([]string{pipeline.BindingsTopic(r)}, rejects...),
		"callbacks":      rejects,
		"recall":         rejects,
		"scheduler":      append([]string{pipeline.RequestsTopic(r), pipeline.SchedulesTopic(r), pipeline.ApprovalsTopic(r)}, rejects...),
		"receipts":       {pipeline.EventsTopic(r)},
		"gateway":        {pipeline.RequestsTopic(r), pipeline.ControlTopic(r), pipeline.BindingsTopic(r), pipeline.SchedulesTopic(r)},
		"orders-service": {pipeline.RequestsTopic(r)},
	}
}

// rejectAll rejects every record, so a stage writes a rejected event and
// a dead letter for it, and commits.
type rejectAll struct{}

func (rejectAll) HandleBatch(_ context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	res := make([]pipeline.Result, len(msgs))
	for i := range res {
		res[i].Reject = &pipeline.Rejection{Code: 3028, Reason: "ACL test"}
	}
	return res, nil
}

// TestKafkaACLExample runs every worker's principal against a broker
// that enforces exactly the ACLs docs/operations.md documents: each
// passes the start-up checks without creating topics, consumes and
// commits what it reads (rejecting the records, which writes the events
// and dead-letter topics), writes every topic it writes, and is refused
// every other read and write.
func TestKafkaACLExample(t *testing.T) {
	acls := docACLs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const mech = pipeline.SASLScramSHA512
	users := []embeddedkafka.SASLUser{{Mechanism: mech, Username: "admin", Password: "admin-pw", Superuser: true}}
	principals := slices.Sorted(maps.Keys(acls))
	for _, p := range principals {
		users = append(users, embeddedkafka.SASLUser{Mechanism: mech, Username: p, Password: p + "-pw", Allow: acls[p]})
	}
	b, err := embeddedkafka.Start(ctx, embeddedkafka.Config{SASL: users, ACLs: true, GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	brokers := []string{b.Addr()}
	security := func(user string) pipeline.KafkaSecurity {
		m, err := pipeline.NewSASL(mech, user, user+"-pw")
		if user == "admin" {
			m, err = pipeline.NewSASL(mech, "admin", "admin-pw")
		}
		if err != nil {
			t.Fatal(err)
		}
		return pipeline.KafkaSecurity{SASL: m}
	}
	admin := security("admin")
	topics := pipeline.RegionTopics(aclRegion)
	var names []string
	for _, s := range topics {
		names = append(names, s.Name)
	}

	t.Run("a principal without Create names the topics that are missing", func(t *testing.T) {
		err := pipeline.EnsureTopics(ctx, brokers, security("pushpipe-fanout"), topics, 2)
		if !errors.Is(err, kafka.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "do not exist and this principal may not create them") {
			t.Fatalf("EnsureTopics before the topics exist = %v, want the missing topics named", err)
		}
	})
	if err := pipeline.EnsureTopics(ctx, brokers, admin, topics, 2); err != nil {
		t.Fatal(err)
	}
	ap, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ap.Close() }()
	consumes, writes := aclConsumes(), aclWrites()
	var seed []pipeline.Output
	for _, n := range names {
		seed = append(seed, pipeline.Output{Topic: n, Key: []byte("seed"), Value: []byte("seed")})
	}
	if err := ap.Produce(ctx, seed); err != nil {
		t.Fatal(err)
	}

	var workers []string
	for _, p := range principals {
		if w, ok := strings.CutPrefix(p, "pushpipe-"); ok {
			workers = append(workers, w)
		}
	}
	if len(workers) != len(Kinds())+3 { // + scheduler, receipts, gateway
		t.Fatalf("the ACLs name the workers %v, want one principal per worker", workers)
	}
	for _, p := range principals {
		w := strings.TrimPrefix(p, "pushpipe-")
		sec := security(p)
		t.Run(p, func(t *testing.T) {
			if strings.HasPrefix(p, "pushpipe-") {
				if err := pipeline.CheckKafka(ctx, brokers, sec, 0); err != nil {
					t.Fatal(err)
				}
				if err := pipeline.EnsureTopics(ctx, brokers, sec, topics, 2); err != nil {
					t.Fatalf("start-up topic check: %v", err)
				}
			}
			// Writes: allowed exactly where the worker writes. One record
			// a call: kafka-go fails a whole batch when one of its topics
			// is hidden from the principal. A pushpipe principal sees
			// every topic (Describe) and is refused the write; another
			// does not even see the topics it may not use.
			seesAll := strings.HasPrefix(p, "pushpipe-")
			prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = prod.Close() }()
			for _, n := range names {
				err := prod.Produce(ctx, []pipeline.Output{{Topic: n, Key: []byte(p), Value: []byte("write test")}})
				switch want := slices.Contains(writes[w], n); {
				case want && err != nil:
					t.Errorf("may not write %s, which it must: %v", n, err)
				case !want && err == nil:
					t.Errorf("wrote %s, which it must not", n)
				case !want && seesAll && !errors.Is(err, kafka.TopicAuthorizationFailed):
					t.Errorf("writing %s failed with %v, want TOPIC_AUTHORIZATION_FAILED", n, err)
				}
			}
			// Reads: allowed exactly where the worker reads.
			transport := sec.Transport("acl-test")
			defer transport.CloseIdleConnections()
			client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: 10 * time.Second}
			for _, n := range names {
				resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: n, Partition: 0, Offset: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 10 * time.Millisecond})
				if err == nil {
					err = resp.Error
				}
				reads := slices.ContainsFunc(consumes[w], func(c [2]string) bool { return c[0] == n })
				switch {
				case reads && err != nil:
					t.Errorf("may not read %s, which it must: %v", n, err)
				case !reads && err == nil:
					t.Errorf("read %s, which it must not", n)
				case !reads && seesAll && !errors.Is(err, kafka.TopicAuthorizationFailed):
					t.Errorf("reading %s gave %v, want TOPIC_AUTHORIZATION_FAILED", n, err)
				}
			}
			// Consumer groups: a stage consumes, rejects and commits.
			var wg sync.WaitGroup
			for _, c := range consumes[w] {
				if c[1] == "" {
					continue
				}
				wg.Go(func() {
					sctx, stop := context.WithCancel(ctx)
					defer stop()
					st, err := pipeline.NewStage(pipeline.StageConfig{Name: "acl", Region: aclRegion, Brokers: brokers, Security: sec,
						Topic: c[0], GroupID: c[1], Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)}, rejectAll{}, ap)
					if err != nil {
						t.Error(err)
						return
					}
					done := make(chan error, 1)
					go func() { done <- st.Run(sctx) }()
					wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
					defer wcancel()
					if err := pipeline.WaitCaughtUp(wctx, brokers, admin, c[1], c[0], 20*time.Millisecond); err != nil {
						t.Errorf("group %s did not commit %s: %v", c[1], c[0], err)
					}
					stop()
					if err := <-done; err != nil {
						t.Errorf("stage on %s: %v", c[0], err)
					}
				})
			}
			wg.Wait()
			// The recall worker waits for the event sink's commits, and
			// fanout's device cache for the registry's.
			for _, g := range []struct {
				waiter string
				owner  Kind
				topic  string
			}{{"recall", Eventsink, pipeline.EventsTopic(aclRegion)}, {"fanout", Registry, pipeline.BindingsTopic(aclRegion)}} {
				resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID(g.owner, aclRegion),
					Topics: map[string][]int{g.topic: {0}}})
				if err == nil {
					err = resp.Error
				}
				switch {
				case w == g.waiter && err != nil && !errors.Is(err, kafka.GroupIdNotFound): // a group that committed nothing yet
					t.Errorf("may not read the %s's committed offsets, which it waits for: %v", g.owner, err)
				case w != g.waiter && w != string(g.owner) && (err == nil || seesAll && !errors.Is(err, kafka.GroupAuthorizationFailed)):
					t.Errorf("reading the %s's committed offsets gave %v, want GROUP_AUTHORIZATION_FAILED", g.owner, err)
				}
			}
		})
	}
}
