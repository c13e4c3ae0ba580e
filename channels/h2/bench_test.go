package h2_test

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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

// The vendor-call benchmark runs the simulator in a child process (this
// test binary again, with simEnv set), so that the CPU time the client
// process spends per push is the client's alone.
const (
	simEnv     = "PUSHPIPE_H2_BENCH_SIM" // path of the JSON file the child writes
	benchApp   = "bench-app"
	benchRgn   = "sg"
	benchBatch = 500
	benchSends = 8 // concurrent Sends, like the sender's concurrency
)

// simInfo is what the child process tells the benchmark.
type simInfo struct {
	TLSURL, PlainURL, CAPEM string
	APNsKeyPEM, FCMKeyPEM   string
}

func TestMain(m *testing.M) {
	if path := os.Getenv(simEnv); path != "" {
		if err := serveSim(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveSim runs the simulator's APNs and FCM endpoints (no quotas) until
// its parent ends it.
func serveSim(path string) error {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ekDER, _ := x509.MarshalPKCS8PrivateKey(ek)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	rkDER, _ := x509.MarshalPKCS8PrivateKey(rk)
	info := simInfo{
		APNsKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ekDER})),
		FCMKeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rkDER})),
	}
	srv, err := allvendors.Start(context.Background(), vendorsim.Config{Seed: 1, MaxRecordedRequests: 1,
		APNs: vendorsim.APNsConfig{QuotaPerSecond: 1e9, Apps: []vendorsim.APNsApp{{AppID: benchApp, TeamID: "TEAM000001",
			KeyID: "KEY0000001", BundleID: "com.example.bench", PrivateKey: channels.Secret(info.APNsKeyPEM)}}},
		FCM: vendorsim.FCMConfig{QuotaPerMinute: 1e12, Apps: []vendorsim.FCMApp{{AppID: benchApp, ProjectID: "pushpipe-bench",
			ClientEmail: "bench@pushpipe-bench.iam.gserviceaccount.com", PrivateKey: channels.Secret(info.FCMKeyPEM)}}},
	})
	if err != nil {
		return err
	}
	info.TLSURL, info.PlainURL, info.CAPEM = srv.TLSURL(), srv.URL(), string(srv.CACertPEM())
	b, _ := json.Marshal(info)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	select {} // until killed
}

// startSimProcess starts the simulator child and returns what it serves.
func startSimProcess(b *testing.B) simInfo {
	b.Helper()
	path := filepath.Join(b.TempDir(), "sim.json")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), simEnv+"="+path, "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		raw, err := os.ReadFile(path)
		if err == nil {
			var info simInfo
			if err := json.Unmarshal(raw, &info); err != nil {
				b.Fatal(err)
			}
			return info
		}
		if time.Now().After(deadline) {
			b.Fatal("the simulator process did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuTime returns the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// syscallCounts returns the read and write system calls this process has
// made (syscr and syscw of /proc/self/io; 0, 0 where there is none).
func syscallCounts() (reads, writes int64) {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(raw)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

// BenchmarkVendorCall sends batches of benchApp messages of one content
// (a broadcast's shape) through the APNs and FCM channels, benchSends
// Sends at once, to the simulator running in another process, with the
// lean HTTP/2 client and with net/http's. One op is one push; it reports
// the client process's CPU µs per push (getrusage), pushes a second and
// allocations per push.
func BenchmarkVendorCall(b *testing.B) {
	info := startSimProcess(b)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(info.CAPEM))
	for _, vendor := range []string{apns.Name, fcm.Name} {
		for _, client := range []string{"lean", "standard"} {
			b.Run(vendor+"/"+client, func(b *testing.B) {
				ch := benchChannel(b, info, pool, vendor, client == "standard")
				batches := make([][]channels.Message, benchSends)
				expire := time.Now().Add(time.Hour)
				for s := range batches {
					batches[s] = make([]channels.Message, benchBatch)
					for i := range batches[s] {
						n := s*benchBatch + i
						tok := fmt.Sprintf("fcm-token-%07d", n)
						if vendor == apns.Name {
							tok = fmt.Sprintf("%064x", n+1)
						}
						batches[s][i] = channels.Message{DeliveryID: fmt.Sprintf("d-%07d", n), MsgID: "m-bench", TaskID: "t-bench",
							AppID: benchApp, DeviceID: fmt.Sprint(n), Token: tok, Title: "Bench", Body: "Hello", ExpireAt: expire}
					}
				}
				send := func(msgs []channels.Message) {
					res, err := ch.Send(b.Context(), msgs)
					if err != nil {
						b.Fatal(err)
					}
					for i, r := range res {
						if r.Outcome != channels.Success {
							b.Fatalf("message %d: %+v", i, r)
						}
					}
				}
				send(batches[0][:10]) // connect and sign first
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				mallocs := ms.Mallocs
				cpu := cpuTime()
				rd, wr := syscallCounts()
				start := time.Now()
				pushes := 0
				for b.Loop() {
					var wg sync.WaitGroup
					for s := range batches {
						wg.Go(func() { send(batches[s]) })
					}
					wg.Wait()
					pushes += benchSends * benchBatch
				}
				el, used := time.Since(start), cpuTime()-cpu
				rd2, wr2 := syscallCounts()
				b.ReportMetric(float64(rd2-rd)/float64(pushes), "reads/push")
				b.ReportMetric(float64(wr2-wr)/float64(pushes), "writes/push")
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(used.Microseconds())/float64(pushes), "cpu-µs/push")
				b.ReportMetric(float64(pushes)/el.Seconds(), "pushes/s")
				b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(pushes), "allocs/push")
			})
		}
	}
}

func benchChannel(b *testing.B, info simInfo, pool *x509.CertPool, vendor string, standard bool) channels.Channel {
	b.Helper()
	var ch channels.Channel
	var err error
	switch vendor {
	case apns.Name:
		ch, err = apns.New(apns.Config{Region: benchRgn, BaseURL: info.TLSURL + "/apns/" + benchRgn, RootCAs: pool, StandardHTTP2: standard,
			MaxBatch: benchBatch, Apps: map[string]apns.App{benchApp: {TeamID: "TEAM000001", KeyID: "KEY0000001",
				BundleID: "com.example.bench", PrivateKey: channels.Secret(info.APNsKeyPEM)}}})
	case fcm.Name:
		ch, err = fcm.New(fcm.Config{Region: benchRgn, BaseURL: info.TLSURL + "/fcm/" + benchRgn, RootCAs: pool, StandardHTTP2: standard,
			MaxBatch: benchBatch, Apps: map[string]fcm.App{benchApp: {ProjectID: "pushpipe-bench",
				ClientEmail: "bench@pushpipe-bench.iam.gserviceaccount.com", PrivateKey: channels.Secret(info.FCMKeyPEM),
				TokenURI: info.PlainURL + "/fcm/" + benchRgn + "/token"}}})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c, ok := ch.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	})
	return ch
}
