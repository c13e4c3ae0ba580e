package bench

import (
	"slices"
	"testing"
)

// TestEndpointCallsAreCapturedOverTheVendorsTransport: the call each
// endpoint ceiling replays is captured as the vendor's channel makes it
// on the simulator, so APNs's and FCM's over TLS (which h2load then
// replays over HTTP/2 with TLS, like their senders) and the others' over
// plain HTTP/1.1.
func TestEndpointCallsAreCapturedOverTheVendorsTransport(t *testing.T) {
	work := t.TempDir()
	sim, err := startDemoSim(t.Context(), work, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.Close() }()
	calls, err := captureVendorCalls(t.Context(), work, sim, senderRegion)
	if err != nil {
		t.Fatal(err)
	}
	overTLS := map[string]bool{"apns": true, "fcm": true}
	if got := endpointTLSVendors(); !slices.Equal(got, []string{"apns", "fcm"}) {
		t.Errorf("endpointTLSVendors() = %v, want [apns fcm]", got)
	}
	for _, v := range senderVendors {
		c, ok := calls[v]
		if !ok {
			t.Errorf("%s: no call captured", v)
			continue
		}
		if c.tls != overTLS[v] {
			t.Errorf("%s: call captured with TLS %t, want %t", v, c.tls, overTLS[v])
		}
	}
	if c := calls["fcm"]; c.tokens != 1 || c.header.Get("Authorization") == "" {
		t.Errorf("fcm: captured call of %d tokens with Authorization %q, want one token and a bearer token", c.tokens, c.header.Get("Authorization"))
	}
}
