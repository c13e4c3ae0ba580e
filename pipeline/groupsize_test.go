package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
)

// TestGroupWatcherFollowsMembers joins and leaves a consumer group with
// real kafka-go readers on a real embedded broker and checks what the
// watcher reports at each step.
func TestGroupWatcherFollowsMembers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := embeddedkafka.Start(ctx, embeddedkafka.Config{GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	const topic, group, partitions = "push.deliveries.sg", "pushpipe.sender.sg", 4
	if err := EnsureTopics(ctx, []string{b.Addr()}, KafkaSecurity{}, []TopicSpec{{Name: topic}}, partitions); err != nil {
		t.Fatal(err)
	}
	w, err := NewGroupWatcher(GroupWatcherConfig{Brokers: []string{b.Addr()}, GroupID: group, Topic: topic, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}

	readers := map[string]*kafka.Reader{}
	join := func(name string) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, GroupID: group, Topic: topic,
			SessionTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
			JoinGroupBackoff: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond})
		readers[name] = r
		// Fetching is what makes a kafka-go reader join its group.
		go func() { _, _ = r.FetchMessage(ctx) }()
	}
	leave := func(name string) {
		if err := readers[name].Close(); err != nil {
			t.Errorf("closing reader %s: %v", name, err)
		}
		delete(readers, name)
	}
	defer func() {
		for name := range readers {
			leave(name)
		}
	}()

	for _, step := range []struct {
		scenario    string
		act         func()
		wantMembers int
	}{
		{scenario: "nobody joined yet", act: func() {}, wantMembers: 0},
		{scenario: "two readers join", act: func() { join("a"); join("b") }, wantMembers: 2},
		{scenario: "one reader leaves", act: func() { leave("b") }, wantMembers: 1},
		{scenario: "a third reader joins", act: func() { join("c") }, wantMembers: 2},
	} {
		step.act()
		var last GroupAssignment
		var lastErr error
		deadline := time.Now().Add(20 * time.Second)
		for {
			last, lastErr = w.Describe(ctx)
			if lastErr == nil && last.Size() == step.wantMembers &&
				(step.wantMembers == 0 || last.Stable() && last.AssignedPartitions() == partitions) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: want %d members holding %d partitions in a stable group; last answer %+v, error %v",
					step.scenario, step.wantMembers, partitions, last, lastErr)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for p := range partitions {
			if _, ok := last.Owner(p); !ok && step.wantMembers > 0 {
				t.Errorf("%s: partition %d has no owner in %+v", step.scenario, p, last)
			}
		}
		t.Logf("%s: state %s, members %s", step.scenario, last.State, describeMembers(last))
	}
}

func describeMembers(g GroupAssignment) string {
	s := ""
	for _, m := range g.Members {
		s += fmt.Sprintf("[%d partitions %v] ", len(m.Partitions), m.Partitions)
	}
	return s
}

func TestGroupWatcherConfigValidate(t *testing.T) {
	for _, c := range []struct {
		scenario string
		cfg      GroupWatcherConfig
		ok       bool
	}{
		{scenario: "complete", cfg: GroupWatcherConfig{Brokers: []string{"127.0.0.1:9092"}, GroupID: "g", Topic: "t"}, ok: true},
		{scenario: "no brokers", cfg: GroupWatcherConfig{GroupID: "g", Topic: "t"}},
		{scenario: "no group", cfg: GroupWatcherConfig{Brokers: []string{"127.0.0.1:9092"}, Topic: "t"}},
		{scenario: "no topic", cfg: GroupWatcherConfig{Brokers: []string{"127.0.0.1:9092"}, GroupID: "g"}},
		{scenario: "negative timeout", cfg: GroupWatcherConfig{Brokers: []string{"127.0.0.1:9092"}, GroupID: "g", Topic: "t", Timeout: -1}},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.scenario, err, c.ok)
		}
	}
}
