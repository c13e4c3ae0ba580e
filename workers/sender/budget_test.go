package sender

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/pipeline"
)

func TestShareOf(t *testing.T) {
	stable := func(parts ...[]int) pipeline.GroupAssignment {
		g := pipeline.GroupAssignment{State: pipeline.GroupStable}
		for i, p := range parts {
			g.Members = append(g.Members, pipeline.GroupMember{ID: string(rune('a' + i)), Partitions: p})
		}
		return g
	}
	for _, c := range []struct {
		scenario string
		g        pipeline.GroupAssignment
		mine     []int
		current  float64
		want     float64
	}{
		{scenario: "alone", g: stable([]int{0, 1, 2, 3}), mine: []int{2}, current: 1, want: 1},
		{scenario: "two equal members", g: stable([]int{0, 1}, []int{2, 3}), mine: []int{3}, current: 1, want: 0.5},
		{scenario: "three members on four partitions: the one with two", g: stable([]int{0, 1}, []int{2}, []int{3}), mine: []int{0, 1}, current: 1, want: 0.5},
		{scenario: "three members on four partitions: one with one", g: stable([]int{0, 1}, []int{2}, []int{3}), mine: []int{3}, current: 0.5, want: 0.25},
		{scenario: "more members than partitions: an idle member gets nothing", g: stable([]int{0}, []int{1}, []int{}), mine: nil, current: 1, want: 1.0 / 3},
		{scenario: "a member left: the rest share it all", g: stable([]int{0, 1, 2, 3}), mine: []int{0}, current: 0.5, want: 1},
		{scenario: "rebalancing: only down, to 1/members", g: pipeline.GroupAssignment{State: pipeline.GroupPreparingRebalance,
			Members: []pipeline.GroupMember{{ID: "a"}, {ID: "b"}, {ID: "c"}}}, mine: []int{0}, current: 0.5, want: 1.0 / 3},
		{scenario: "rebalancing never raises the share", g: pipeline.GroupAssignment{State: pipeline.GroupCompletingRebalance,
			Members: []pipeline.GroupMember{{ID: "a"}}}, mine: []int{0}, current: 0.25, want: 0.25},
		{scenario: "answer from before this replica joined", g: stable([]int{0, 1, 2, 3}), mine: []int{5}, current: 1, want: 0.5},
		{scenario: "nobody in the group", g: pipeline.GroupAssignment{State: pipeline.GroupEmpty}, mine: []int{0}, current: 0.5, want: 0.5},
	} {
		if got := ShareOf(c.g, c.mine, c.current); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: ShareOf = %v, want %v", c.scenario, got, c.want)
		}
	}
}

// TestBudgetFollowsTheGroup tracks a replica's share against a real
// embedded broker while other members join and leave the group.
func TestBudgetFollowsTheGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := embeddedkafka.Start(ctx, embeddedkafka.Config{GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	const topic, group, partitions = "push.deliveries.sg", "pushpipe.sender.sg", 4
	brokers := []string{b.Addr()}
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, []pipeline.TopicSpec{{Name: topic}}, partitions); err != nil {
		t.Fatal(err)
	}
	readers := map[string]*kafka.Reader{}
	join := func(name string) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, Topic: topic,
			SessionTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
			JoinGroupBackoff: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond})
		readers[name] = r
		go func() { _, _ = r.FetchMessage(ctx) }()
	}
	defer func() {
		for _, r := range readers {
			_ = r.Close()
		}
	}()
	w, err := pipeline.NewGroupWatcher(pipeline.GroupWatcherConfig{Brokers: brokers, GroupID: group, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	// partitionsOfSomeMember waits for a stable group of n members and
	// returns the partitions of one of them: "this replica".
	partitionsOfSomeMember := func(n int) []int {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			g, err := w.Describe(ctx)
			if err == nil && g.Stable() && g.Size() == n && g.AssignedPartitions() == partitions {
				for _, m := range g.Members {
					if len(m.Partitions) > 0 {
						return m.Partitions
					}
				}
			}
		}
		t.Fatalf("no stable group of %d members", n)
		return nil
	}

	var mu sync.Mutex
	var applied []float64
	budget, err := NewBudget(BudgetConfig{Brokers: brokers, GroupID: group, Topic: topic, Refresh: 200 * time.Millisecond},
		func(s float64) { mu.Lock(); applied = append(applied, s); mu.Unlock() }, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	waitShare := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if math.Abs(budget.Share()-want) < 1e-9 {
				return
			}
		}
		t.Fatalf("share %v, want %v", budget.Share(), want)
	}

	for _, step := range []struct {
		scenario string
		act      func()
		members  int
		want     float64
	}{
		{scenario: "alone in the group", act: func() { join("a") }, members: 1, want: 1},
		{scenario: "a second replica joins", act: func() { join("b") }, members: 2, want: 0.5},
		{scenario: "a third replica joins (4 partitions: 2/1/1)", act: func() { join("c") }, members: 3},
		{scenario: "two replicas leave", act: func() { _ = readers["b"].Close(); _ = readers["c"].Close(); delete(readers, "b"); delete(readers, "c") }, members: 1, want: 1},
	} {
		step.act()
		mine := partitionsOfSomeMember(step.members)
		want := step.want
		if want == 0 {
			want = float64(len(mine)) / partitions
		}
		// One batch from this replica's partitions, tracked while the
		// group is as it is now.
		stop := budget.Track(ctx, mine)
		waitShare(want)
		stop()
		t.Logf("%s: partitions %v, share %v", step.scenario, mine, budget.Share())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) == 0 {
		t.Fatal("the limiter was never told a share")
	}
}
