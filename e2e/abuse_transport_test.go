package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestAbuseTransport runs the pipeline against a broker that requires
// SCRAM credentials and enforces ACLs: a client without credentials
// cannot write a push request, and an authenticated principal that may
// only read events cannot write requests or revokes; an upstream producer
// allowed to write requests gets its push acked in the same run, and the
// pipeline saw nothing of the attacks.
func TestAbuseTransport(t *testing.T) {
	const mech = pipeline.SASLScramSHA512
	allow := func(ops ...[2]string) []embeddedkafka.ACL {
		var out []embeddedkafka.ACL
		for _, op := range ops {
			out = append(out, embeddedkafka.ACL{Resource: "topic", Name: op[0], Operation: op[1]})
		}
		return out
	}
	users := []embeddedkafka.SASLUser{
		{Mechanism: mech, Username: "pushpipe", Password: "pushpipe-pw", Superuser: true},
		{Mechanism: mech, Username: "upstream", Password: "upstream-pw",
			Allow: allow([2]string{pipeline.RequestsTopic("sg"), "Write"}, [2]string{pipeline.RequestsTopic("sg"), "Describe"})},
		{Mechanism: mech, Username: "reader", Password: "reader-pw",
			Allow: allow([2]string{pipeline.EventsTopic("sg"), "Read"}, [2]string{pipeline.EventsTopic("sg"), "Describe"})},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := embeddedkafka.Start(ctx, embeddedkafka.Config{SASL: users, ACLs: true, GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	sec := func(user string) pipeline.KafkaSecurity {
		m, err := pipeline.NewSASL(mech, user, user+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		return pipeline.KafkaSecurity{SASL: m}
	}
	e := newEnvOpts(t, envOptions{brokers: []string{b.Addr()}, security: sec("pushpipe")}, "sg")
	e.run([]string{"sg"}, app.Registry, app.Fanout, app.Sender, app.Eventsink)
	e.registerDevices("sg", device("sg", "tr-dev", "tr-regid"))

	producer := func(s pipeline.KafkaSecurity) *pipeline.Producer {
		p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: []string{b.Addr()}, Security: s})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	attack := simpleRequest("sg", "tr-attack", map[string]string{"tr-dev": "tr-attack-msg"})
	revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: testApp, TaskID: "tr-honest", TS: time.Now().UnixMilli()}
	try := func(p *pipeline.Producer, out pipeline.Output) error {
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return p.Produce(c, []pipeline.Output{out})
	}
	refusals := 0
	t.Run("a client without credentials is refused", func(t *testing.T) {
		if err := try(producer(pipeline.KafkaSecurity{}), jsonOut(pipeline.RequestsTopic("sg"), testApp+"/tr-attack", attack)); err == nil {
			t.Fatal("an unauthenticated client wrote a push request")
		}
		refusals++
	})
	t.Run("a principal may write only what its ACLs allow", func(t *testing.T) {
		reader := producer(sec("reader"))
		for _, out := range []pipeline.Output{
			jsonOut(pipeline.RequestsTopic("sg"), testApp+"/tr-attack", attack),
			jsonOut(pipeline.ControlTopic("sg"), revoke.ControlKey(), revoke),
		} {
			// A topic the principal may not even describe looks absent to
			// it: either refusal means nothing was written.
			err := try(reader, out)
			if !errors.Is(err, kafka.TopicAuthorizationFailed) && !errors.Is(err, kafka.UnknownTopicOrPartition) {
				t.Fatalf("the events reader writing %s: %v, want it refused", out.Topic, err)
			}
			refusals++
		}
	})
	honest := simpleRequest("sg", "tr-honest", map[string]string{"tr-dev": "tr-honest-msg"})
	if err := try(producer(sec("upstream")), jsonOut(pipeline.RequestsTopic("sg"), testApp+"/tr-honest", honest)); err != nil {
		t.Fatalf("the upstream producer: %v", err)
	}
	e.waitFor("the honest push acked", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'tr-honest'")
		return got["acked"] == 1 && got["revoked"] == 0, fmt.Sprint(got)
	})
	if got := e.eventCounts("sg", "task_id = 'tr-attack'"); len(got) != 0 {
		t.Fatalf("the refused writes reached the pipeline: %v", got)
	}
	t.Logf("refused at the broker: %d writes (no credentials: 1; ACLs: requests and revokes); honest push acked", refusals)
}
