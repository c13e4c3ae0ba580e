package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/pushpipe/pushpipe/pipeline"
)

func TestHelpListsEveryCommandAndFlag(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev", "fanout", "sender", "retry", "eventsink", "registry", "vendorsim", "publish", "events", "template", "device", "tag", "stats", "funnel", "tasks"} {
		if !strings.Contains(out.String(), "\n  "+name+" ") {
			t.Errorf("--help does not list %q:\n%s", name, out.String())
		}
	}
	for _, c := range root.Commands() {
		if c.Short == "" {
			t.Errorf("command %s has no description", c.Name())
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Usage == "" {
				t.Errorf("flag --%s of %s has no help", f.Name, c.Name())
			}
		})
	}
}

// wantCommandError runs pushpipe with args and fails the test unless it
// ends with an error saying want.
func wantCommandError(t *testing.T, args []string, want string) {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestWorkerNeedsRegion(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		args     []string
		wantErr  string
	}{
		{"no region", []string{"fanout"}, `required flag(s) "region" not set`},
		{"unknown region", []string{"sender", "--region", "us"}, `--region "us"`},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			wantCommandError(t, tc.args, tc.wantErr)
		})
	}
}

func TestReadJSONRecords(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		in       string
		want     int
		wantErr  bool
	}{
		{"one object", `{"a":1}`, 1, false},
		{"array", `[{"a":1},{"a":2}]`, 2, false},
		{"json lines", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", 3, false},
		{"empty", "  ", 0, true},
		{"broken line", "{\"a\":1}\n{oops\n", 0, true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got, err := readJSONRecords(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || len(got) != tc.want {
				t.Fatalf("got %d records, err %v", len(got), err)
			}
		})
	}
}

func TestPrepareRequestStampsRegionTaskAndTime(t *testing.T) {
	out, _, err := prepareRecord("request", "eu", json.RawMessage(`{"type":"SIMPLE","appId":"a","workspaceId":"w","taskName":"n","deliverType":1,"targetMsgkey":{"d":"m"},"title":"t","content":"c","expiredSeconds":5}`))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(out.Value, &m)
	if out.Topic != pipeline.RequestsTopic("eu") || m["region"] != "eu" || m["acceptedAt"] == nil || m["taskId"] == "" || string(out.Key) != "a/"+m["taskId"].(string) {
		t.Fatalf("prepared %s on %s key %s", out.Value, out.Topic, out.Key)
	}
	if _, _, err := prepareRecord("carrier-pigeon", "eu", json.RawMessage(`{}`)); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestReadUserIDs(t *testing.T) {
	for _, tc := range []struct {
		scenario, body string
		want           int
		wantErr        string
	}{
		{"duplicates and blanks dropped", "u1\nu2\n\nu1\n  u3  \n", 3, ""},
		{"empty file", "\n\n", 0, "lists no user ids"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ids.txt")
			_ = os.WriteFile(p, []byte(tc.body), 0o600)
			got, err := readUserIDs(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestAppVersionFlag(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		raw      []string
		want     []string
		wantErr  string
	}{
		{"not given", nil, nil, ""},
		{"one", []string{"2.1.0"}, []string{"2.1.0"}, ""},
		{"repeated and comma-separated", []string{"2.0, 2.1", "3.0"}, []string{"2.0", "2.1", "3.0"}, ""},
		{"empty", []string{""}, nil, "item 1 of 1 is empty"},
		{"an empty item", []string{"2.0,"}, nil, "item 2 of 2 is empty"},
		{"too many", []string{strings.Repeat("1,", 20) + "2"}, nil, "names 21 versions; at most 20"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			q, err := statsFlags{since: time.Hour, gran: "hour", appVersions: tc.raw}.query()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(q.AppVersions, tc.want) {
				t.Fatalf("query %+v, %v; want app versions %q", q, err, tc.want)
			}
		})
	}
	// A bad version is refused before anything is connected to.
	for _, cmd := range []string{"stats", "tasks"} {
		root := newRoot()
		root.SetArgs([]string{cmd, "--app-version", "1.0,,2.0"})
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--app-version") {
			t.Fatalf("%s --app-version 1.0,,2.0: err = %v, want the flag named", cmd, err)
		}
	}
}

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	for _, tc := range []struct {
		scenario string
		mb       int
		env      map[string]string
		want     int64
	}{
		{"memoryLimitMB wins", 270, map[string]string{"GOMEMLIMIT": "1GiB"}, 270 << 20},
		{"GOMEMLIMIT decides when memoryLimitMB is 0", 0, map[string]string{"GOMEMLIMIT": "64MiB"}, 123 << 20},
		{"AUTOMEMLIMIT=off leaves the limit", 0, map[string]string{"AUTOMEMLIMIT": "off"}, 123 << 20},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			// A limit of 123 MiB stands for what the runtime had.
			debug.SetMemoryLimit(123 << 20)
			setMemoryLimit(tc.mb, zerolog.Nop())
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Fatalf("memory limit %d MiB, want %d MiB", got>>20, tc.want>>20)
			}
		})
	}
}
