package channels_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

func TestApplyOptions(t *testing.T) {
	own := &http.Client{}
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return fixed }
	tests := []struct {
		scenario      string
		opts          []channels.Option
		wantOwnClient bool
		wantFixed     bool
	}{
		{"defaults", nil, false, false},
		{"client and clock", []channels.Option{channels.WithHTTPClient(own), channels.WithClock(clock)}, true, true},
		{"a nil client keeps the default", []channels.Option{channels.WithHTTPClient(nil)}, false, false},
		{"the last option wins", []channels.Option{channels.WithHTTPClient(own), channels.WithHTTPClient(nil)}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			o := channels.ApplyOptions(7, tc.opts...)
			if (o.Client == own) != tc.wantOwnClient {
				t.Errorf("client %p, own %p, want own %t", o.Client, own, tc.wantOwnClient)
			}
			if tr, ok := o.Client.Transport.(*http.Transport); !tc.wantOwnClient && (!ok || tr.MaxIdleConnsPerHost != 7) {
				t.Errorf("default client transport %+v, want 7 idle connections per host", o.Client.Transport)
			}
			if got := o.Now(); got.Equal(fixed) != tc.wantFixed {
				t.Errorf("Now() = %s, want the fixed clock %t", got, tc.wantFixed)
			}
		})
	}
}
