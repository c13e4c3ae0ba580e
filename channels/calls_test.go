package channels

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		scenario, v string
		want        time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"past date", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"empty", "", 0},
		{"garbage", "soon", 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := ParseRetryAfter(tc.v, now); got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
		})
	}
}

func TestSettleAndWholeCallError(t *testing.T) {
	transient := fmt.Errorf("calling: %w", &VendorError{Code: 503, RetryAfter: time.Second, Transient: true})
	permanent := fmt.Errorf("calling: %w", ErrPermanent)
	res := make([]Result, 3)
	Settle(res, []int{0, 2}, transient)
	if res[0].Outcome != Transient || res[0].StatusCode != 503 || res[0].RetryAfter != time.Second || res[1].Outcome != 0 || res[2] != res[0] {
		t.Fatalf("settled %+v", res)
	}
	if !errors.Is(transient, ErrTransient) {
		t.Fatal("VendorError with Transient does not match ErrTransient")
	}
	one := func(int) int { return 1 }
	for _, tc := range []struct {
		scenario string
		errs     []error
		total    int
		want     error
	}{
		{"every call failed alike", []error{transient, transient}, 2, transient},
		{"one call succeeded", []error{transient, nil}, 2, nil},
		{"mixed classes", []error{transient, permanent}, 2, nil},
		{"calls did not cover every message", []error{transient}, 2, nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := WholeCallError(tc.errs, one, tc.total); !errors.Is(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}
