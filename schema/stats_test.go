package schema_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

func TestStatsQueryValidate(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		scenario string
		q        schema.StatsQuery
		wantErr  string
	}{
		{"day over 90 days", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(90 * 24 * time.Hour), Granularity: "day"}, ""},
		{"91 days", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(91 * 24 * time.Hour), Granularity: "day"}, "at most 90 days"},
		{"hour over a day", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(25 * time.Hour), Granularity: "hour"}, "at most one day"},
		{"minute over a day", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(24 * time.Hour), Granularity: "minute"}, ""},
		{"end before start", schema.StatsQuery{AppID: "a", From: t0, To: t0, Granularity: "day"}, "is not after"},
		{"unknown granularity", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(time.Hour), Granularity: "week"}, "not minute, hour or day"},
		{"no app", schema.StatsQuery{From: t0, To: t0.Add(time.Hour), Granularity: "day"}, "appId"},
		{"20 app versions", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(time.Hour), Granularity: "day", AppVersions: versions(20)}, ""},
		{"21 app versions", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(time.Hour), Granularity: "day", AppVersions: versions(21)}, "names 21 versions; at most 20"},
		{"an empty app version", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(time.Hour), Granularity: "day", AppVersions: []string{"1.0", ""}}, "item 2 of 2 is empty"},
		{"a blank app version", schema.StatsQuery{AppID: "a", From: t0, To: t0.Add(time.Hour), Granularity: "day", AppVersions: []string{" "}}, "item 1 of 1 is empty"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := tc.q.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *schema.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// versions returns n distinct app versions.
func versions(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("1.%d", i)
	}
	return out
}

func TestSplitAppVersions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"2.1.0", []string{"2.1.0"}},
		{"2.0, 2.1 ,3.0", []string{"2.0", "2.1", "3.0"}},
		{"2.0,,2.1", []string{"2.0", "", "2.1"}},
		{"", []string{""}},
	} {
		if got := schema.SplitAppVersions(tc.in); fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
			t.Errorf("SplitAppVersions(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
