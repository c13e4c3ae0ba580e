package channels

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTokenSourceCachesRefreshesAndInvalidates(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var fetches atomic.Int32
	ts := &TokenSource{Channel: "test", Op: "POST /auth", Timeout: time.Second, Now: func() time.Time { return now },
		Fetch: func(context.Context) (string, time.Duration, error) {
			n := fetches.Add(1)
			return fmt.Sprintf("tok-%d", n), time.Hour, nil
		}}
	for _, step := range []struct {
		scenario string
		advance  time.Duration
		drop     string
		want     string
	}{
		{scenario: "first call fetches", want: "tok-1"},
		{scenario: "cached while fresh", advance: 50 * time.Minute, want: "tok-1"},
		{scenario: "replaced 5 minutes before expiry", advance: 5 * time.Minute, want: "tok-2"},
		{scenario: "a refused token is fetched again", drop: "tok-2", want: "tok-3"},
		{scenario: "invalidating another token keeps the cached one", drop: "tok-1", want: "tok-3"},
	} {
		t.Run(step.scenario, func(t *testing.T) {
			now = now.Add(step.advance)
			if step.drop != "" {
				ts.Invalidate(step.drop)
			}
			got, err := ts.Token(context.Background())
			if err != nil || got != step.want {
				t.Fatalf("Token() = %q, %v; want %q", got, err, step.want)
			}
		})
	}
}

func TestTokenSourceSharesOneFetch(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	ts := &TokenSource{Channel: "test", Op: "POST /auth", Timeout: 5 * time.Second,
		Fetch: func(context.Context) (string, time.Duration, error) {
			fetches.Add(1)
			<-release
			return "shared", time.Hour, nil
		}}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = ts.Token(context.Background()) })
	}
	// A caller whose ctx ends first gets a transient vendor error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ts.Token(ctx)
	var ve *VendorError
	if !errors.As(err, &ve) || !ve.Transient || !errors.Is(err, context.Canceled) || ve.Channel != "test" {
		t.Fatalf("Token with a cancelled ctx = %v, want a transient VendorError wrapping context.Canceled", err)
	}
	close(release)
	wg.Wait()
	for i, g := range got {
		if g != "shared" {
			t.Fatalf("caller %d got %q", i, g)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for concurrent callers, want 1", n)
	}
}

func TestCallWithToken(t *testing.T) {
	callErr := errors.New("call failed")
	fetchErr := &VendorError{Channel: "test", Op: "POST /auth", Code: 9}
	tests := []struct {
		scenario    string
		refuse      int // how many calls in a row the vendor refuses the token
		fetchFails  bool
		callFails   bool
		wantErr     error
		wantCalls   int32
		wantFetches int32
		wantRefused bool // the answer returned is a refusal
	}{
		{scenario: "accepted", wantCalls: 1, wantFetches: 1},
		{scenario: "refused once, fresh token accepted", refuse: 1, wantCalls: 2, wantFetches: 2},
		{scenario: "refused twice, second answer returned", refuse: 2, wantCalls: 2, wantFetches: 2, wantRefused: true},
		{scenario: "token unavailable", fetchFails: true, wantErr: fetchErr, wantCalls: 0, wantFetches: 1},
		{scenario: "call fails", callFails: true, wantErr: callErr, wantCalls: 1, wantFetches: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var fetches, calls atomic.Int32
			ts := &TokenSource{Channel: "test", Op: "POST /auth", Timeout: time.Second,
				Fetch: func(context.Context) (string, time.Duration, error) {
					n := fetches.Add(1)
					if tc.fetchFails {
						return "", 0, fetchErr
					}
					return fmt.Sprintf("tok-%d", n), time.Hour, nil
				}}
			a, err := CallWithToken(context.Background(), ts, func(tok string) (string, error) {
				n := calls.Add(1)
				if tc.callFails {
					return "", callErr
				}
				if int(n) <= tc.refuse {
					return "refused " + tok, nil
				}
				return "ok " + tok, nil
			}, func(a string) bool { return strings.HasPrefix(a, "refused") })
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CallWithToken = %q, %v; want error %v", a, err, tc.wantErr)
			}
			if calls.Load() != tc.wantCalls || fetches.Load() != tc.wantFetches {
				t.Errorf("%d calls and %d token fetches, want %d and %d", calls.Load(), fetches.Load(), tc.wantCalls, tc.wantFetches)
			}
			if err == nil && strings.HasPrefix(a, "refused") != tc.wantRefused {
				t.Errorf("answer %q, want a refusal %t", a, tc.wantRefused)
			}
		})
	}
}
