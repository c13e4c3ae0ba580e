package app

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestContractsDoNotDependOnClickHouse proves that the message contracts
// (schema), the Kafka runtime (pipeline), the producer library and the
// vendor channels with their simulator do not import clickhouse-go, not
// even through another package of the module: ClickHouse access lives in
// store. It follows the imports of every non-test file, whatever its
// build constraints, so a platform-specific file counts too.
func TestContractsDoNotDependOnClickHouse(t *testing.T) {
	const module = "github.com/pushpipe/pushpipe/"
	const clickhouse = "github.com/ClickHouse/clickhouse-go/v2"
	imports := map[string][]string{} // package dir -> module dirs and clickhouse it imports
	for _, gf := range moduleFiles(t) {
		dir := path.Dir(gf.path)
		for _, imp := range gf.file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case p == clickhouse || strings.HasPrefix(p, clickhouse+"/"):
				imports[dir] = append(imports[dir], clickhouse)
			case strings.HasPrefix(p, module):
				imports[dir] = append(imports[dir], strings.TrimPrefix(p, module))
			}
		}
	}
	if !slices.Contains(imports["store"], clickhouse) {
		t.Fatal("store does not import clickhouse-go: the check reads the wrong files")
	}
	// via returns the chain of imports from dir to clickhouse-go, or nil.
	var via func(dir string, seen map[string]bool) []string
	via = func(dir string, seen map[string]bool) []string {
		if seen[dir] {
			return nil
		}
		seen[dir] = true
		for _, imp := range imports[dir] {
			if imp == clickhouse {
				return []string{dir, imp}
			}
			if chain := via(imp, seen); chain != nil {
				return append([]string{dir}, chain...)
			}
		}
		return nil
	}
	checked := 0
	for dir := range imports {
		if dir != "schema" && dir != "pipeline" && dir != "producer" && dir != "channels" && !strings.HasPrefix(dir, "channels/") {
			continue
		}
		checked++
		if chain := via(dir, map[string]bool{}); chain != nil {
			t.Errorf("%s depends on ClickHouse: %s; keep ClickHouse access in store", dir, strings.Join(chain, " → "))
		}
	}
	if checked < 10 {
		t.Fatalf("only %d contract packages checked: the check looks at the wrong directories", checked)
	}
}
