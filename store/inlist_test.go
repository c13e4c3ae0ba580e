package store

import (
	"strings"
	"testing"
)

func TestInListChunksStayBelowTheQuerySize(t *testing.T) {
	many := make([]string, 50_000)
	for i := range many {
		many[i] = strings.Repeat("k", 20)
	}
	short := make([]string, 25_000)
	for i := range short {
		short[i] = "k"
	}
	for _, tc := range []struct {
		scenario string
		keys     []string
		chunks   int
	}{
		{scenario: "none", keys: nil, chunks: 0},
		{scenario: "a few", keys: []string{"a", "b"}, chunks: 1},
		{scenario: "50,000 ids of 20 bytes", keys: many, chunks: 10},
		{scenario: "one key larger than the bound", keys: []string{strings.Repeat("x", maxInListBytes+1), "y"}, chunks: 2},
		{scenario: "25,000 one-byte keys: at most maxLookup a chunk", keys: short, chunks: 3},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got := inListChunks(tc.keys)
			if len(got) != tc.chunks {
				t.Fatalf("%d chunks, want %d", len(got), tc.chunks)
			}
			n := 0
			for _, c := range got {
				size := 0
				for _, k := range c {
					size += len(k) + 4
				}
				if size > maxInListBytes && len(c) > 1 {
					t.Fatalf("a chunk of %d keys holds %d bytes", len(c), size)
				}
				if len(c) > maxLookup {
					t.Fatalf("a chunk holds %d keys, more than maxLookup (%d)", len(c), maxLookup)
				}
				n += len(c)
			}
			if n != len(tc.keys) {
				t.Fatalf("chunks hold %d keys, want %d", n, len(tc.keys))
			}
		})
	}
}
