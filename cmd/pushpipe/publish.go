package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func newPublishCmd() *cobra.Command {
	var region, kind string
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "publish [FILE|-]",
		Short: "Publish push requests or device bindings from a JSON file to a region's Kafka topic",
		Long: `Publish JSON records to push.requests.<region> (--kind request, the default) or
push.bindings.<region> (--kind binding). FILE holds one JSON object, a JSON array of
objects, or one object per line; '-' or no FILE reads stdin.

Requests are keyed by task id (derived from the request when taskId is empty) and get
acceptedAt stamped when missing; a request without a region gets --region. Bindings are
keyed by device id. Records are published as written: validation happens in the
workers, so a bad request shows up as a 'rejected' event and in push.dlq.<region>.`,
		Example: `  pushpipe publish --region sg examples/simple-push.json
  pushpipe publish --region sg --kind binding examples/devices.jsonl
  echo '{"op":"report","appId":"A","deviceId":"d1","platform":"android","vendor":"mipush","vendorToken":"t1"}' | pushpipe publish --region sg --kind binding -
  echo '{"op":"activity_token","appId":"A","deviceId":"d2","activityId":"order-42","activityToken":"80a1..."}' | pushpipe publish --region sg --kind binding -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(region) {
				return fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
			}
			var in io.Reader = os.Stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fail("reading %s: %v", args[0], err)
				}
				defer func() { _ = f.Close() }()
				in = f
			}
			records, err := readJSONRecords(in)
			if err != nil {
				return fail("%v", err)
			}
			var outs []pipeline.Output
			for i, raw := range records {
				out, summary, err := prepareRecord(kind, region, raw)
				if err != nil {
					return fail("record %d: %v", i+1, err)
				}
				outs = append(outs, out)
				_, _ = fmt.Fprintln(cmd.OutOrStdout(), summary)
			}
			brokers, sec, err := ep.kafka(cfg)
			if err != nil {
				return err
			}
			p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Logger: log})
			if err != nil {
				return err
			}
			defer func() { _ = p.Close() }()
			if err := p.Produce(cmd.Context(), outs); err != nil {
				return fmt.Errorf("publishing %d record(s): %w", len(outs), err)
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "published %d record(s) to %s\n", len(outs), outs[0].Topic)
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "sg", "region whose topic receives the records")
	cmd.Flags().StringVar(&kind, "kind", "request", "record kind: request (push.requests.R) or binding (push.bindings.R)")
	ep.register(cmd)
	return cmd
}

// prepareRecord turns one JSON record into the Kafka output to publish and
// a line describing it.
func prepareRecord(kind, region string, raw json.RawMessage) (pipeline.Output, string, error) {
	switch kind {
	case "request":
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return pipeline.Output{}, "", fmt.Errorf("not a JSON object: %w", err)
		}
		if _, ok := m["region"]; !ok {
			m["region"] = region
		}
		if _, ok := m["acceptedAt"]; !ok {
			m["acceptedAt"] = time.Now().UnixMilli()
		}
		b, _ := json.Marshal(m)
		taskID, key := "", ""
		if req, err := schema.DecodeRequest(b); err == nil {
			taskID, key = req.DeriveTaskID(), req.KafkaKey()
			if _, ok := m["taskId"]; !ok {
				m["taskId"] = taskID
				b, _ = json.Marshal(m)
			}
		}
		return pipeline.Output{Topic: pipeline.RequestsTopic(region), Key: []byte(key), Value: b},
			"request task_id=" + taskID, nil
	case "binding":
		var b struct {
			AppID    string `json:"appId"`
			DeviceID string `json:"deviceId"`
			UserID   string `json:"userId"`
			Op       string `json:"op"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return pipeline.Output{}, "", fmt.Errorf("not a JSON object: %w", err)
		}
		key := (&schema.Binding{AppID: b.AppID, DeviceID: b.DeviceID, UserID: b.UserID}).KafkaKey()
		return pipeline.Output{Topic: pipeline.BindingsTopic(region), Key: []byte(key), Value: []byte(raw)},
			"binding op=" + b.Op + " device_id=" + b.DeviceID, nil
	}
	return pipeline.Output{}, "", fmt.Errorf("--kind %q: use request or binding", kind)
}

// readJSONRecords reads one object, an array of objects, or one object per
// line.
func readJSONRecords(r io.Reader) ([]json.RawMessage, error) {
	data, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("input is empty: give a JSON object, an array of objects or JSON lines")
	}
	if data[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return nil, fmt.Errorf("input is not a JSON array of objects: %w", err)
		}
		return arr, nil
	}
	var out []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("input record %d is not JSON: %w", len(out)+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}
