package channels_test

import (
	"testing"

	"github.com/pushpipe/pushpipe/channels"
)

func TestCheckHTTPURL(t *testing.T) {
	tests := []struct {
		scenario, raw string
		wantErr       bool
	}{
		{"https", "https://api.push.example.com/v1", false},
		{"http with port", "http://127.0.0.1:8080", false},
		{"empty", "", true},
		{"other scheme", "ftp://example.com", true},
		{"no host", "https:///path", true},
		{"unparseable", "http://a b", true},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if err := channels.CheckHTTPURL(tc.raw); (err != nil) != tc.wantErr {
				t.Errorf("CheckHTTPURL(%q) = %v, want error %t", tc.raw, err, tc.wantErr)
			}
		})
	}
}
