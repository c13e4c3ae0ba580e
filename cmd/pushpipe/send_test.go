package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("dev-%d", i+1)
	}
	return out
}

func TestSendSplitsTargetsIntoValidRequests(t *testing.T) {
	base := sendFlags{region: "sg", appID: "A", workspace: "w", taskName: "n", taskID: "job", deliverType: 1, expiredSeconds: 60}
	for _, tc := range []struct {
		scenario string
		adjust   func(f *sendFlags)
		typ      schema.PushType
		sizes    []int
		taskIDs  []string
		wantErr  string
	}{
		{scenario: "a few targets: one SIMPLE under the task id", adjust: func(f *sendFlags) { f.title, f.content, f.targets = "T", "C", ids(3) },
			typ: schema.PushSimple, sizes: []int{3}, taskIDs: []string{"job"}},
		{scenario: "25 targets: SIMPLE requests of 10", adjust: func(f *sendFlags) { f.title, f.content, f.targets = "T", "C", ids(25) },
			typ: schema.PushSimple, sizes: []int{10, 10, 5}, taskIDs: []string{"job-00001", "job-00002", "job-00003"}},
		{scenario: "250 targets with a template: MULTIPLE requests of 100", adjust: func(f *sendFlags) { f.template, f.kv, f.targets = "promo", []string{"a=1"}, ids(250) },
			typ: schema.PushMultiple, sizes: []int{100, 100, 50}, taskIDs: []string{"job-00001", "job-00002", "job-00003"}},
		{scenario: "5 targets with a template: one TEMPLATE", adjust: func(f *sendFlags) { f.template, f.targets = "promo", ids(5) },
			typ: schema.PushTemplate, sizes: []int{5}, taskIDs: []string{"job"}},
		{scenario: "no content", adjust: func(f *sendFlags) { f.targets = ids(1) }, wantErr: "give the content"},
		{scenario: "title and template", adjust: func(f *sendFlags) { f.title, f.template, f.targets = "T", "promo", ids(1) }, wantErr: "give the content"},
		{scenario: "no targets", adjust: func(f *sendFlags) { f.title, f.content = "T", "C" }, wantErr: "no targets"},
		{scenario: "a --kv without =", adjust: func(f *sendFlags) { f.template, f.kv, f.targets = "promo", []string{"a"}, ids(1) }, wantErr: `--kv "a"`},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			f := base
			tc.adjust(&f)
			reqs, n, err := f.buildRequests()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != len(tc.sizes) || n != len(f.targets) {
				t.Fatalf("%d requests for %d targets, want %d", len(reqs), n, len(tc.sizes))
			}
			keys := map[string]bool{}
			for i, r := range reqs {
				got := max(len(r.TargetMsgkey), len(r.TargetMsgs))
				if r.Type != tc.typ || got != tc.sizes[i] || r.TaskID != tc.taskIDs[i] || r.ExpiredSeconds != 60 {
					t.Fatalf("request %d: %s with %d targets, task %s", i, r.Type, got, r.TaskID)
				}
				if err := producer.Validate(r); err != nil {
					t.Fatalf("request %d is invalid: %v", i, err)
				}
				for _, k := range r.TargetMsgkey {
					keys[k] = true
				}
				for _, m := range r.TargetMsgs {
					keys[m.MsgKey] = true
				}
			}
			if len(keys) != n || !keys["job-0000001"] {
				t.Fatalf("%d distinct msgKeys for %d targets (want job-0000001 first)", len(keys), n)
			}
		})
	}
}

func TestScanTargets(t *testing.T) {
	for _, tc := range []struct {
		scenario, in string
		max, want    int
		wantErr      string
	}{
		{scenario: "blanks and repeats skipped", in: "a\n\n b \na\nc\n", max: 10, want: 3},
		{scenario: "exactly the maximum", in: "a\nb\nc\n", max: 3, want: 3},
		{scenario: "above the maximum", in: "a\nb\nc\nd\n", max: 3, wantErr: "line 4: more than 3 targets"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got, err := scanTargets(strings.NewReader(tc.in), "f", tc.max)
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
