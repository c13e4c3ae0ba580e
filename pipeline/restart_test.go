package pipeline

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestStageSurvivesBrokerRestart stops the broker under a running stage
// and starts it again on the same port and data directory: the stage turns
// not ready, then resumes where its group committed, without losing
// records.
func TestStageSurvivesBrokerRestart(t *testing.T) {
	tests := []struct {
		scenario string
		down     time.Duration
	}{
		{scenario: "broker down for a few seconds", down: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			bcfg := embeddedkafka.Config{DataDir: t.TempDir(), Port: freePort(t)}
			b, err := embeddedkafka.Start(ctx, bcfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			brokers := []string{b.Addr()}
			in, out := "test.restart.in."+testRegion, "test.restart.out."+testRegion
			specs := append(RegionTopics(testRegion), TopicSpec{Name: in}, TopicSpec{Name: out})
			if err := EnsureTopics(ctx, brokers, KafkaSecurity{}, specs, 2); err != nil {
				t.Fatal(err)
			}
			p, err := NewProducer(ProducerConfig{Brokers: brokers, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			cfg := testStageConfig(t, in, "g.restart")
			cfg.Brokers = brokers
			h := &recorder{out: out}
			rs := startStage(t, cfg, h, p)

			outs := func(prefix string, n int) ([]Output, []string) {
				var o []Output
				var v []string
				for i := range n {
					v = append(v, prefix+string(rune('a'+i)))
					o = append(o, Output{Topic: in, Key: []byte{byte(i)}, Value: []byte(v[i])})
				}
				return o, v
			}
			before, wantBefore := outs("before-", 10)
			if err := p.Produce(ctx, before); err != nil {
				t.Fatal(err)
			}
			waitHandled(t, ctx, h, wantBefore)
			if err := b.Close(); err != nil {
				t.Fatalf("closing broker: %v", err)
			}
			deadline := time.Now().Add(3*cfg.ProbeInterval + 2*time.Second)
			for rs.stage.Ready(context.Background()) == nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if rs.stage.Ready(context.Background()) == nil {
				t.Error("stage still ready with the broker down")
			}
			time.Sleep(tt.down)

			if b, err = embeddedkafka.Start(ctx, bcfg); err != nil {
				t.Fatalf("restarting broker: %v", err)
			}
			t.Cleanup(func() { _ = b.Close() })
			after, wantAfter := outs("after-", 10)
			for {
				if err := p.Produce(ctx, after); err == nil {
					break
				}
				if !Pause(ctx, 100*time.Millisecond) {
					t.Fatal("producer never recovered")
				}
			}
			waitHandled(t, ctx, h, wantAfter)
			if rs.stage.Ready(context.Background()) != nil {
				t.Error("stage not ready after the broker came back")
			}
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}
		})
	}
}

// waitHandled waits until h has handled every value in want.
func waitHandled(t *testing.T, ctx context.Context, h *recorder, want []string) {
	t.Helper()
	for {
		got := values(h.seen())
		missing := false
		for _, v := range want {
			if _, ok := slices.BinarySearch(got, v); !ok {
				missing = true
				break
			}
		}
		if !missing {
			return
		}
		if !Pause(ctx, 20*time.Millisecond) {
			t.Fatalf("handled %v, still missing some of %v", got, want)
		}
	}
}
