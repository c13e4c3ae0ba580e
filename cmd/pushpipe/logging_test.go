package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLogFormatChoice(t *testing.T) {
	for _, tc := range []struct {
		name, format    string
		tty, noColor    bool
		console, color  bool
		wantErrContains string
	}{
		{name: "auto on a terminal", format: "auto", tty: true, console: true, color: true},
		{name: "empty is auto", format: "", tty: true, console: true, color: true},
		{name: "auto on a terminal with NO_COLOR", format: "auto", tty: true, noColor: true, console: true},
		{name: "auto into a pipe", format: "auto"},
		{name: "console into a pipe has no colour", format: "console", console: true},
		{name: "console on a terminal", format: "console", tty: true, console: true, color: true},
		{name: "json on a terminal", format: "json", tty: true},
		{name: "json into a pipe", format: "json"},
		{name: "unknown", format: "pretty", tty: true, wantErrContains: `log format "pretty": use auto, console, json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := chooseLogStyle(tc.format, tc.tty, tc.noColor)
			if tc.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("err = %v, want %q", err, tc.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.console != tc.console || st.color != tc.color {
				t.Fatalf("style = %+v, want console=%v color=%v", st, tc.console, tc.color)
			}
			// The logger writes what the style says, keys unchanged.
			var b bytes.Buffer
			log := newLogger(&b, st, zerolog.InfoLevel)
			log.Info().Str("app_id", "app-1").Msg("hello")
			line := b.String()
			var obj map[string]any
			isJSON := json.Unmarshal(b.Bytes(), &obj) == nil
			switch {
			case isJSON == st.console:
				t.Fatalf("line %q: JSON %v, want %v", line, isJSON, !st.console)
			case !strings.Contains(line, "hello") || !strings.Contains(line, "app_id"):
				t.Fatalf("line %q lacks the message or the key app_id", line)
			case strings.Contains(line, "\x1b[") != st.color:
				t.Fatalf("line %q: coloured %v, want %v", line, !st.color, st.color)
			}
		})
	}
}

func TestLogFormatFlagRefusesUnknown(t *testing.T) {
	wantCommandError(t, []string{"events", "--task", "t", "--log-format", "yaml"}, `log format "yaml": use auto, console, json`)
}

// fakeReady is a worker whose readiness the test sets.
type fakeReady struct{ up bool }

func (f *fakeReady) Ready(context.Context) error {
	if !f.up {
		return errors.New("not up")
	}
	return nil
}

func TestRegionsUpLogsOneLinePerRegion(t *testing.T) {
	start := time.Unix(1000, 0)
	sgFanout, sgSender, sgSender2, sgScheduler, euFanout := &fakeReady{}, &fakeReady{}, &fakeReady{}, &fakeReady{}, &fakeReady{}
	u := newRegionsUp([]string{"sg", "eu"}, start)
	u.add("sg", "fanout", sgFanout, true)
	u.add("sg", "sender", sgSender, true)
	u.add("sg", "sender", sgSender2, true)
	u.add("sg", "scheduler", sgScheduler, false)
	u.add("eu", "fanout", euFanout, true)
	var b bytes.Buffer
	log := zerolog.New(&b)
	lines := func() []map[string]any {
		var out []map[string]any
		for l := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			out = append(out, m)
		}
		return out
	}
	for _, step := range []struct {
		name    string
		ready   []*fakeReady
		allUp   bool
		regions []string // the regions announced so far, in order
	}{
		{"nothing ready", nil, false, nil},
		{"sg partly ready", []*fakeReady{sgFanout, sgSender}, false, nil},
		{"eu ready", []*fakeReady{euFanout}, false, []string{"eu"}},
		{"sg's stages ready, not its scheduler", []*fakeReady{sgSender2}, false, []string{"eu"}},
		{"sg ready", []*fakeReady{sgScheduler}, true, []string{"eu", "sg"}},
		{"again: nothing new", nil, true, []string{"eu", "sg"}},
	} {
		for _, r := range step.ready {
			r.up = true
		}
		if got := u.check(log, start.Add(1500*time.Millisecond)); got != step.allUp {
			t.Fatalf("%s: check = %v, want %v", step.name, got, step.allUp)
		}
		ls := lines()
		if len(ls) != len(step.regions) {
			t.Fatalf("%s: %d lines, want %d: %s", step.name, len(ls), len(step.regions), b.String())
		}
		for i, r := range step.regions {
			if ls[i]["region"] != r || ls[i]["message"] != "region "+r+" up" {
				t.Fatalf("%s: line %d = %v, want region %s", step.name, i, ls[i], r)
			}
		}
	}
	for _, l := range lines() {
		want := map[string][]any{"sg": {3.0, "fanout,sender,scheduler"}, "eu": {1.0, "fanout"}}[l["region"].(string)]
		if l["stages"] != want[0] || l["workers"] != want[1] || l["took_ms"] != 1500.0 {
			t.Errorf("line %v: want stages %v, workers %v, took_ms 1500", l, want[0], want[1])
		}
	}
}
