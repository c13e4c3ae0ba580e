package sender

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
)

// BenchmarkHandleBatch sends batches of 2,000 deliveries of one content
// (a broadcast's shape) through a sender to the simulator's APNs (HTTP/2
// over TLS) and FCM endpoints, rate limits off, as the bench's sender
// figures do; it reports deliveries a second.
func BenchmarkHandleBatch(b *testing.B) {
	const batch = 2000
	for _, vendor := range []string{apns.Name, fcm.Name} {
		b.Run(vendor, func(b *testing.B) {
			h := benchSender(b, vendor)
			msgs := make([]kafka.Message, batch)
			for i := range msgs {
				dev := fmt.Sprintf("dev-%07d", i)
				token := fmt.Sprintf("fcm-token-%07d", i)
				if vendor == apns.Name {
					token = fmt.Sprintf("%064x", i+1)
				}
				d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID(appID, "m-bench", dev), MsgID: "m-bench", TaskID: "t-bench",
					AppID: appID, Region: "sg", PushType: schema.PushBroadcast, Target: dev, DeviceID: dev, Platform: "android",
					Channel: vendor, Token: token, Title: "Bench", Body: "Hello", ExpireAt: time.Now().Add(time.Hour).UnixMilli(), AcceptedAt: 1}
				v, _ := json.Marshal(d)
				msgs[i] = kafka.Message{Value: v}
			}
			if _, err := h.HandleBatch(b.Context(), msgs[:10]); err != nil { // connect and sign first
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				requireLastAcked(b, h, msgs)
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "deliveries/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchSender returns a sender with the vendor's channel pointed at a
// simulator without quotas, rate limits off and sender concurrency 16
// (the bench's sender figure configuration).
func benchSender(b *testing.B, vendor string) *Handler {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(ek)
	ecPEM := channels.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, _ = x509.MarshalPKCS8PrivateKey(rk)
	rsaPEM := channels.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	const team, keyID, bundle, project, email = "TEAM123456", "KEY1234567", "com.example.app", "bench-project", "bench@bench-project.iam.gserviceaccount.com"
	sim, err := allvendors.Start(ctx, vendorsim.Config{
		APNs: vendorsim.APNsConfig{QuotaPerSecond: 1e9, Apps: []vendorsim.APNsApp{{AppID: appID, TeamID: team, KeyID: keyID, BundleID: bundle, PrivateKey: ecPEM}}},
		FCM:  vendorsim.FCMConfig{QuotaPerMinute: 1e12, Apps: []vendorsim.FCMApp{{AppID: appID, ProjectID: project, ClientEmail: email, PrivateKey: rsaPEM}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Close() })
	var ch channels.Channel
	switch vendor {
	case apns.Name:
		ch, err = apns.New(apns.Config{Region: "sg", BaseURL: sim.APNsBaseURL("sg"), RootCAs: sim.CertPool(),
			Apps: map[string]apns.App{appID: {TeamID: team, KeyID: keyID, BundleID: bundle, PrivateKey: ecPEM}}})
	case fcm.Name:
		ch, err = fcm.New(fcm.Config{Region: "sg", BaseURL: sim.FCMBaseURL("sg"), RootCAs: sim.CertPool(),
			Apps: map[string]fcm.App{appID: {ProjectID: project, ClientEmail: email, PrivateKeyID: "k1", PrivateKey: rsaPEM, TokenURI: sim.FCMTokenURL("sg")}}})
	}
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Region: "sg", Channels: map[string]channels.Channel{vendor: ch}, Concurrency: 16,
		RateLimit: middleware.RateLimitConfig{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkUnicast sends unicast deliveries (each its own content, as
// single-target SIMPLE requests make them) in batches of 1 and 10 through
// a sender to the simulator's APNs endpoint (HTTP/2 over TLS), rate limits
// off; it reports the CPU time of the process (the simulator's included)
// and wall time per delivery, and the allocations per batch.
func BenchmarkUnicast(b *testing.B) {
	h := benchSender(b, apns.Name)
	const devices = 1000
	msgs := make([]kafka.Message, devices)
	for i := range msgs {
		dev, task := fmt.Sprintf("dev-%07d", i), fmt.Sprintf("uc-%08d", i)
		d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID(appID, task, dev), MsgID: task, TaskID: task,
			AppID: appID, Region: "sg", PushType: schema.PushSimple, Target: dev, DeviceID: dev, Platform: "ios",
			Channel: apns.Name, Token: fmt.Sprintf("%064x", i+1), Title: "Order shipped", Body: "Your order " + task + " is on its way",
			ExpireAt: time.Now().Add(time.Hour).UnixMilli(), AcceptedAt: 1}
		v, _ := json.Marshal(d)
		msgs[i] = kafka.Message{Value: v}
	}
	if _, err := h.HandleBatch(b.Context(), msgs[:10]); err != nil { // connect and sign first
		b.Fatal(err)
	}
	for _, batch := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			testinfra.BenchBatches(b, msgs, batch, "delivery", func(batch []kafka.Message) {
				requireLastAcked(b, h, batch)
			})
		})
	}
}

// requireLastAcked sends msgs through h and fails b unless the batch is
// handled and its last delivery ends acked.
func requireLastAcked(b *testing.B, h *Handler, msgs []kafka.Message) {
	res, err := h.HandleBatch(b.Context(), msgs)
	if err != nil {
		b.Fatal(err)
	}
	var e schema.Event
	last := res[len(res)-1].Outputs
	if err := json.Unmarshal(last[len(last)-1].Value, &e); err != nil || e.Event != schema.EventAcked {
		b.Fatalf("last delivery ended %+v (%v), want acked", e, err)
	}
}
