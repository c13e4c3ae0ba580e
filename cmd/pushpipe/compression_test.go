package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
)

// TestKafkaCompressionSetting publishes the example request with the
// configuration's kafka.compression and checks the codec of the batch the
// broker stored: the setting reaches the binary's producers, and without
// it they write DefaultCompression.
func TestKafkaCompressionSetting(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		config   string
		want     protocol.Attributes
	}{
		{"default", "", protocol.Snappy},
		{"zstd", "kafka: {compression: zstd}\n", protocol.Zstd},
		{"none", "kafka: {compression: none}\n", 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			broker := testinfra.Kafka(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := pipeline.EnsureTopics(ctx, []string{broker}, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 1); err != nil {
				t.Fatal(err)
			}
			cfgPath := filepath.Join(t.TempDir(), "pushpipe.yaml")
			if err := os.WriteFile(cfgPath, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			root := newRoot()
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&bytes.Buffer{})
			root.SetArgs([]string{"publish", "--config", cfgPath, "--brokers", broker, "--region", "sg", "../../configs/examples/simple-push.json"})
			if err := root.Execute(); err != nil {
				t.Fatalf("publish: %v", err)
			}
			got, ok := testinfra.StoredCompression(t, ctx, []string{broker}, pipeline.RequestsTopic("sg"), 1)[0]
			if !ok || got != tc.want {
				t.Fatalf("push.requests.sg holds a batch compressed with %v (records: %t), want %v", got, ok, tc.want)
			}
		})
	}
}
