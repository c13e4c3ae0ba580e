package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// manyTags returns n distinct tags.
func manyTags(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t%d", i)
	}
	return out
}

// TestTagsSurviveTheWire checks that decoding keeps the difference between
// no tags filter (left out, null) and an empty list, which is refused, and
// that encoding keeps it too.
func TestTagsSurviveTheWire(t *testing.T) {
	base := `{"type":"BROADCAST","region":"sg","appId":"a","workspaceId":"w","taskName":"n","deliverType":1,"msgkey":"m","templateName":"p","expiredSeconds":60`
	for _, tc := range []struct {
		scenario, tags string
		valid          bool
	}{
		{"left out", ``, true},
		{"null", `,"tags":null`, true},
		{"two tags", `,"tags":["vip","gold"]`, true},
		{"empty list", `,"tags":[]`, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r, err := DecodeRequest([]byte(base + tc.tags + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Validate() == nil; got != tc.valid {
				t.Fatalf("valid = %v, want %v (tags %#v)", got, tc.valid, r.Tags)
			}
			back, err := DecodeRequest(mustMarshal(t, r))
			if err != nil {
				t.Fatal(err)
			}
			if got := back.Validate() == nil; got != tc.valid {
				t.Fatalf("after a round trip valid = %v, want %v (tags %#v)", got, tc.valid, back.Tags)
			}
		})
	}
}

// TestScheduledBroadcastKeepsItsTags fires a loop broadcast with tags from
// its schedule record as stored on push.schedules.R: every occurrence
// filters on the same tags.
func TestScheduledBroadcastKeepsItsTags(t *testing.T) {
	r := validBroadcast()
	r.Tags = []string{"vip", "gold"}
	r.StrategyType = StrategyLoop
	r.StrategyContent = &StrategyContent{StartTime: ms("2026-03-10 00:00:00"), EndTime: ms("2026-03-12 00:00:00"), CircleType: CircleDaily, Time: "09:00:00"}
	var stored Schedule
	if err := json.Unmarshal(mustMarshal(t, NewSchedule(r, ms("2026-03-10 00:00:00"))), &stored); err != nil {
		t.Fatal(err)
	}
	occ := stored.OccurrenceRequest(utc("2026-03-11 09:00:00"), time.UTC)
	if !slices.Equal(occ.Tags, []string{"vip", "gold"}) {
		t.Fatalf("occurrence tags %v, want [vip gold]", occ.Tags)
	}
	if err := occ.Validate(); err != nil {
		t.Fatalf("occurrence request is invalid: %v", err)
	}
}
