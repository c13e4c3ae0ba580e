package vendorsim_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

// TestClosedServerReleasesItsSimulator checks that a closed Server's
// simulator, with everything it recorded, can be collected at once, also
// after an HTTP/2 client left while its call was being served: net/http
// keeps such a connection, and the handler it serves with, referenced for
// the server's IdleTimeout (2 minutes) after Close. A process that starts
// simulators one after another (the bench) would otherwise hold every
// closed one's records meanwhile.
func TestClosedServerReleasesItsSimulator(t *testing.T) {
	freed := make(chan struct{})
	func() {
		srv, err := allvendors.Start(t.Context(), vendorsim.Config{Seed: 7, MiPush: vendorsim.MiPushConfig{
			Apps: []vendorsim.MiPushApp{{AppID: simtest.MiPushAppID, Secret: simtest.MiPushSecret, PackageName: simtest.MiPushPackage}},
		}})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		runtime.AddCleanup(srv.Simulator, func(ch chan struct{}) { close(ch) }, freed)
		// The call waits out a latency until the client leaves.
		if err := srv.InjectLatency(vendorsim.Latency{Vendor: vendorsim.VendorMiPush, Fixed: vendorsim.Duration(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var conns []net.Conn
		client := &http.Client{Transport: &http.Transport{
			// The connections are dialled here, so that the test can drop them.
			ForceAttemptHTTP2: true,
			DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				d := tls.Dialer{Config: &tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}}
				c, err := d.DialContext(ctx, network, addr)
				if err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
				return c, err
			},
		}}
		defer client.CloseIdleConnections()
		// MiPush served on the TLS listener, over HTTP/2.
		url := strings.Replace(srv.MiPushBaseURL("sg"), srv.URL(), srv.TLSURL(), 1) + "/v3/message/regid"
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(simtest.MiPushForm("r1").Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "key="+simtest.MiPushSecret)
		called := make(chan *http.Response, 1)
		go func() {
			resp, err := client.Do(req)
			if err == nil {
				_ = resp.Body.Close()
			}
			called <- resp
		}()
		deadline := time.Now().Add(10 * time.Second)
		for srv.Stats().Requests == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the call did not reach the simulator")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The client leaves with its call in flight.
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		if resp := <-called; resp != nil {
			t.Fatalf("the call was answered %s, want no answer", resp.Status)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}()
	for range 50 {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("the closed simulator is still referenced a second after Close")
}
