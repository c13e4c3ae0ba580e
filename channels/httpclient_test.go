package channels_test

import (
	"net/http"
	"testing"

	"github.com/pushpipe/pushpipe/channels"
)

func TestNewHTTPClient(t *testing.T) {
	tests := []struct {
		scenario    string
		idlePerHost int
	}{
		{"default", channels.DefaultMaxIdleConnsPerHost},
		{"more concurrent calls", 200},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := channels.NewHTTPClient(tc.idlePerHost)
			tr, ok := c.Transport.(*http.Transport)
			if !ok {
				t.Fatalf("transport %T, want *http.Transport", c.Transport)
			}
			if tr.MaxIdleConnsPerHost != tc.idlePerHost || tr.MaxIdleConns != 256 || !tr.ForceAttemptHTTP2 || tr.Proxy == nil {
				t.Errorf("transport %+v", tr)
			}
			if c.Timeout != 0 {
				t.Errorf("client timeout %s, want none (calls are bounded by ctx)", c.Timeout)
			}
			if other := channels.NewHTTPClient(tc.idlePerHost); other.Transport == c.Transport {
				t.Error("two clients share a transport")
			}
		})
	}
}
