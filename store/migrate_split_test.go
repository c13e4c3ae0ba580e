package store

import (
	"reflect"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- c\nCREATE A;\n\nCREATE B\n  (x);\n-- only a comment\n")
	want := []string{"CREATE A", "CREATE B\n  (x)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}
