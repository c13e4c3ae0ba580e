package fanout

import (
	"context"
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// BenchmarkBroadcastFanOut measures the CPU cost of fanning out one device
// of a broadcast (events and delivery encoded), without Kafka or ClickHouse.
func BenchmarkBroadcastFanOut(b *testing.B) {
	rows := map[string]schema.Device{}
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("dev-%08d", i)
		rows[id] = schema.Device{AppID: "app", DeviceID: id, Platform: "android", Vendor: "mipush", VendorToken: "tok-" + id, TokenValid: true, UserID: "u"}
	}
	h, err := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: memDevices{rows: rows}, Chunk: 10000,
		Templates: memTemplates{"promo": {AppID: "app", Name: "promo", Title: "Hi #name#", Content: "You won #amount#"}},
		Emit:      func(context.Context, []pipeline.Output) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	msg := request(func(r map[string]any) {
		r["type"], r["templateName"], r["templateKeyValue"] = "BROADCAST", "promo", map[string]string{"name": "all", "amount": "1"}
		delete(r, "targetMsgkey")
		r["msgkey"] = "bc"
	})
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testinfra.CPUTime(b)
	if _, err := h.HandleBatch(context.Background(), []kafka.Message{msg}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(testinfra.CPUTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkUnicast measures what fanout pays per single-target SIMPLE
// request (the bench's unicast shape) in batches of 1 and 10 requests:
// decoding, the device look-up, the replay check (a Seen that has seen
// nothing, as the replay filter answers for a new push) and the encoded
// events and delivery, without Kafka or ClickHouse.
func BenchmarkUnicast(b *testing.B) {
	const devices = 1000
	rows := make(map[string]schema.Device, devices)
	for i := range devices {
		id := fmt.Sprintf("dev-%08d", i)
		rows[id] = schema.Device{AppID: "app", DeviceID: id, Platform: "ios", Vendor: "apns", VendorToken: fmt.Sprintf("%064x", i+1), TokenValid: true, UserID: "u"}
	}
	h, err := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: memDevices{rows: rows}, Templates: memTemplates{},
		Seen: func(context.Context, string, []string) (map[string]bool, error) { return map[string]bool{}, nil },
		Emit: func(context.Context, []pipeline.Output) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			msgs := make([]kafka.Message, devices)
			for i := range msgs {
				task := fmt.Sprintf("uc-%08d", i)
				msgs[i] = request(func(r map[string]any) {
					r["taskId"], r["deliverType"], r["targetMsgkey"] = task, schema.DeliverIOS, map[string]string{fmt.Sprintf("dev-%08d", i): task}
					r["title"], r["content"], r["expiredSeconds"] = "Order shipped", "Your order "+task+" is on its way", 3600
				})
			}
			testinfra.BenchBatches(b, msgs, batch, "request", func(batch []kafka.Message) {
				res, err := h.HandleBatch(b.Context(), batch)
				if err != nil {
					b.Fatal(err)
				}
				if res[0].Reject != nil || len(res[0].Outputs) == 0 {
					b.Fatalf("request rejected or without outputs: %+v", res[0])
				}
			})
		})
	}
}
