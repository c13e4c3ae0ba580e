package app

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestProbe: ready only when every check passes within ProbeTimeout; the
// reason of a failure goes to the log, never into the answer.
func TestProbe(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.0.0.7:9000: connection refused") }
	deadline := func(ctx context.Context) error {
		if _, set := ctx.Deadline(); !set {
			return errors.New("no deadline")
		}
		return nil
	}
	for _, tc := range []struct {
		scenario string
		checks   []func(context.Context) error
		want     bool
		logged   string
	}{
		{"no checks", nil, true, ""},
		{"every check passes, within a deadline", []func(context.Context) error{ok, deadline}, true, ""},
		{"one fails", []func(context.Context) error{ok, down}, false, "connection refused"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var log bytes.Buffer
			got := Probe(zerolog.New(&log), "gateway", tc.checks...)()
			if got != tc.want || !strings.Contains(log.String(), tc.logged) || (tc.logged == "") != (log.Len() == 0) {
				t.Fatalf("ready %v, log %q; want %v logging %q", got, log.String(), tc.want, tc.logged)
			}
		})
	}
}
