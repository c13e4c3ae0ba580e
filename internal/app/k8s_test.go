package app

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestNetworkPolicyFollowsNeedsClickHouse checks that the Kubernetes
// network policy opening ClickHouse (configs/k8s) lets exactly the
// workers reach it that Kind.NeedsClickHouse says read or write it, and
// the gateway: a worker left out fails in production only.
func TestNetworkPolicyFollowsNeedsClickHouse(t *testing.T) {
	b, err := os.ReadFile("../../configs/k8s/base/network-policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var allowed []string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Metadata struct{ Name string }
			Spec     struct {
				PodSelector struct {
					MatchExpressions []struct {
						Key    string
						Values []string
					} `yaml:"matchExpressions"`
				} `yaml:"podSelector"`
			}
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Metadata.Name != "pushpipe-clickhouse-egress" {
			continue
		}
		for _, e := range doc.Spec.PodSelector.MatchExpressions {
			if e.Key == "app.kubernetes.io/component" {
				allowed = e.Values
			}
		}
	}
	want := []string{"gateway"}
	for _, k := range append(Kinds(), Receipts, Scheduler) {
		if k.NeedsClickHouse() {
			want = append(want, string(k))
		}
	}
	slices.Sort(want)
	slices.Sort(allowed)
	if !slices.Equal(allowed, want) {
		t.Fatalf("pushpipe-clickhouse-egress lets %v reach ClickHouse, want %v (Kind.NeedsClickHouse and the gateway)", allowed, want)
	}
}
