package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
)

// TestKafkaCompressionSetting publishes copies of the example request,
// more than pipeline.UncompressedRecords in one call, with the
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
			dir := t.TempDir()
			cfgPath, reqPath := filepath.Join(dir, "pushpipe.yaml"), filepath.Join(dir, "requests.json")
			if err := os.WriteFile(cfgPath, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			example, err := os.ReadFile("../../configs/examples/simple-push.json")
			if err != nil {
				t.Fatal(err)
			}
			var req map[string]any
			if err := json.Unmarshal(example, &req); err != nil {
				t.Fatal(err)
			}
			reqs := make([]map[string]any, pipeline.UncompressedRecords+4)
			for i := range reqs {
				reqs[i] = maps.Clone(req)
				reqs[i]["taskId"] = fmt.Sprintf("compression-%d", i)
			}
			b, _ := json.Marshal(reqs)
			if err := os.WriteFile(reqPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			root := newRoot()
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&bytes.Buffer{})
			root.SetArgs([]string{"publish", "--config", cfgPath, "--brokers", broker, "--region", "sg", reqPath})
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
