package fanout

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

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
	cpu := cpuTime(b)
	if _, err := h.HandleBatch(context.Background(), []kafka.Message{msg}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the user and system CPU time of the process (the GC's
// workers included), which, unlike ns/op, other processes on the machine
// do not inflate.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
