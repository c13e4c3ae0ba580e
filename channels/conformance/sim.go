package conformance

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// SimHooks returns h with its simulator hooks acting on vendor's
// simulation in srv: Reset resets srv, FailNext injects n vendor failures,
// Throttle sets a quota of no calls for h.AppID and Delay injects a fixed
// latency. The other fields are kept. A hook that srv refuses fails the
// test.
func SimHooks(h Harness, srv *vendorsim.Server, vendor string) Harness {
	h.Reset = func(t *testing.T) { srv.Reset() }
	h.FailNext = func(t *testing.T, n int) {
		if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendor, Next: n}); err != nil {
			t.Fatal(err)
		}
	}
	h.Throttle = func(t *testing.T) {
		if err := srv.SetQuota(vendorsim.Quota{Vendor: vendor, AppID: h.AppID}); err != nil {
			t.Fatal(err)
		}
	}
	h.Delay = func(t *testing.T, d time.Duration) {
		if err := srv.InjectLatency(vendorsim.Latency{Vendor: vendor, Fixed: vendorsim.Duration(d)}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}
