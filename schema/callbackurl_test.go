package schema

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateCallbackURL(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		url      string
		wantErr  string // "" valid
	}{
		{"https", "https://biz.example.com/push/callback?app=shop", ""},
		{"http with a port", "http://biz.example.com:8080/cb", ""},
		{"an address", "https://203.0.113.7/cb", ""},
		{"an IPv6 address", "https://[2001:db8::1]:8443/cb", ""},
		{"upper-case scheme", "HTTPS://biz.example.com/cb", ""},
		{"exactly 1024 bytes", "https://biz.example.com/" + strings.Repeat("a", 1024-len("https://biz.example.com/")), ""},
		{"1025 bytes", "https://biz.example.com/" + strings.Repeat("a", 1025-len("https://biz.example.com/")), "callbackUrl has 1025 bytes, at most 1024"},
		{"ftp", "ftp://biz.example.com/cb", "not an http or https address"},
		{"javascript", "javascript:alert(1)", "not an http or https address"},
		{"relative", "/push/callback", "not an http or https address"},
		{"no host", "https:///cb", "has no host"},
		{"opaque", "https:biz.example.com", "has no host"},
		{"only a port", "https://:443/cb", "has no host"},
		{"user and password", "https://user:secret@biz.example.com/cb", "carries user information"},
		{"user only", "https://user@biz.example.com/cb", "carries user information"},
		{"not a URL", "http://[::1", "is not a URL"},
		{"control character", "https://biz.example.com/\x00", "is not a URL"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := ValidateCallbackURL(tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != CodeInvalidParam || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateCallbackURL(%.60q) = %v, want 3028 with %q", tc.url, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error repeats the URL's password: %v", err)
			}
		})
	}
}

// TestRequestValidateChecksCallbackURL: a request with a bad callbackUrl is
// refused with 3028; one without a callbackUrl is not affected.
func TestRequestValidateChecksCallbackURL(t *testing.T) {
	r := validSimple()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	r.CallbackURL = "https://biz.example.com/cb"
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	r.CallbackURL = "gopher://biz.example.com/cb"
	var ve *ValidationError
	if err := r.Validate(); !errors.As(err, &ve) || ve.Code != CodeInvalidParam || !strings.Contains(ve.Detail, "callbackUrl") {
		t.Fatalf("Validate = %v, want 3028 about callbackUrl", err)
	}
}
