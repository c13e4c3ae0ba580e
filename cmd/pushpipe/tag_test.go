package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestTagCommand checks how `pushpipe tag` routes its arguments: a FILE
// goes to the import, list and users to the subcommands, and each refuses
// what it cannot use before contacting Kafka or ClickHouse.
func TestTagCommand(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "users.txt")
	for _, tc := range []struct {
		scenario string
		args     []string
		wantErr  string
	}{
		{"a file is imported", []string{"tag", "--tag", "gold", missing}, "reading user ids"},
		{"the import needs --tag", []string{"tag", missing}, "--tag is required"},
		{"the import refuses a 31-character tag", []string{"tag", "--tag", strings.Repeat("x", 31), missing}, "at most 30 are allowed"},
		{"the import takes one file", []string{"tag", "--tag", "gold"}, "accepts 1 arg(s), received 0"},
		{"list needs --user", []string{"tag", "list"}, "--user is required"},
		{"users needs --tag", []string{"tag", "users"}, "--tag is required"},
		{"users pages hold at most 500", []string{"tag", "users", "--tag", "gold", "--page-size", "501"}, "hold 1 to 500 users"},
		{"users pages count from 1", []string{"tag", "users", "--tag", "gold", "--page", "0"}, "pages count from 1"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			wantCommandError(t, tc.args, tc.wantErr)
		})
	}
	var out bytes.Buffer
	root := newRoot()
	root.SetArgs([]string{"tag", "--help"})
	root.SetOut(&out)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pushpipe tag FILE [flags]", "\n  list ", "\n  users ", "--remove"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tag --help lacks %q:\n%s", want, out.String())
		}
	}
}
