package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of a replica process started by TestStageTakeoverAfterKill.
const (
	replicaEnvBroker = "PIPELINE_TEST_REPLICA_BROKER"
	replicaEnvTopic  = "PIPELINE_TEST_REPLICA_TOPIC"
	replicaEnvOut    = "PIPELINE_TEST_REPLICA_OUT"
	replicaEnvGroup  = "PIPELINE_TEST_REPLICA_GROUP"
)

// runReplica runs a pass-through stage with default group timings until it
// is killed; it exits by itself after a minute.
func runReplica() int {
	testBrokers = []string{os.Getenv(replicaEnvBroker)}
	p, err := NewProducer(ProducerConfig{Brokers: testBrokers})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := NewStage(StageConfig{
		Name: "replica", Region: testRegion, Brokers: testBrokers,
		Topic: os.Getenv(replicaEnvTopic), GroupID: os.Getenv(replicaEnvGroup),
	}, &recorder{out: os.Getenv(replicaEnvOut)}, p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Println("RUNNING")
	_ = s.Run(ctx)
	return 2
}

// TestStageTakeoverAfterKill SIGKILLs a replica (no LeaveGroup, no final
// commit) and measures how long a replacement replica with the default
// group timings takes to handle the records that arrive afterwards.
func TestStageTakeoverAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a consumer-group session timeout")
	}
	tests := []struct {
		scenario string
		within   time.Duration
	}{
		{scenario: "replacement takes over a killed replica's partitions", within: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 3)
			out := testTopic(t, ctx, "out", 3)
			group := "g." + testName(t)
			p := testProducer(t)
			produceInputs(t, ctx, p, in, 30, 7, "before")

			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), replicaEnvBroker+"="+testBrokers[0], replicaEnvTopic+"="+in,
				replicaEnvOut+"="+out, replicaEnvGroup+"="+group)
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatalf("starting replica: %v", err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "RUNNING" {
				t.Fatalf("replica said %q, %v", line, err)
			}
			waitCommitted(t, ctx, group, in)

			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("SIGKILL: %v", err)
			}
			_ = cmd.Wait()
			killed := time.Now()
			produceInputs(t, ctx, p, in, 30, 7, "after")

			cfg := testStageConfig(t, in, group)
			cfg.SessionTimeout, cfg.HeartbeatInterval, cfg.RebalanceTimeout = 0, 0, 0 // the defaults under test
			startStage(t, cfg, &recorder{out: out}, p)
			waitCommitted(t, ctx, group, in)
			took := time.Since(killed)
			t.Logf("replacement handled the new records %s after the kill", took.Round(time.Millisecond))
			if took > tt.within {
				t.Fatalf("takeover took %s, want within %s", took, tt.within)
			}
		})
	}
}
