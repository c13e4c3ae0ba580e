package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goFile is one parsed non-test Go file of the module.
type goFile struct {
	path string // relative to the module root, with slashes
	fset *token.FileSet
	file *ast.File
}

// moduleFiles parses every non-test Go file of the module (the directory
// holding go.mod above this package).
func moduleFiles(t *testing.T) []goFile {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	var out []goFile
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, goFile{path: filepath.ToSlash(rel), fset: fset, file: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d Go files under %s: the walk is broken", len(out), root)
	}
	return out
}

// importName is the name f refers to the package at path by, or "".
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return filepath.Base(path)
		}
	}
	return ""
}

// selectorOf returns sel when e is pkg.sel, else "".
func selectorOf(e ast.Expr, pkg string) string {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	if id, ok := s.X.(*ast.Ident); ok && id.Name == pkg {
		return s.Sel.Name
	}
	return ""
}

// hasKey reports whether the composite literal sets field key.
func hasKey(lit *ast.CompositeLit, key string) bool {
	return slices.ContainsFunc(lit.Elts, func(e ast.Expr) bool {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			return false
		}
		id, ok := kv.Key.(*ast.Ident)
		return ok && id.Name == key
	})
}

// TestKafkaClientsUseKafkaSecurity proves that no Kafka client of the
// project (outside tests, which talk to their own plaintext broker) can
// connect without the configured SASL and TLS: kafka-go dialers and
// transports are only made by pipeline.KafkaSecurity (Dialer, Transport),
// every kafka.Client and kafka.Writer names its Transport and every
// reader and consumer group configuration names its Dialer, and nothing
// uses kafka-go's default (plaintext) dialer, transport or connection
// functions.
func TestKafkaClientsUseKafkaSecurity(t *testing.T) {
	const home = "pipeline/kafkasecurity.go"
	forbidden := []string{"DefaultDialer", "DefaultTransport", "Dial", "DialContext", "DialLeader", "DialPartition",
		"NewConn", "NewConnWith", "NewWriter", "WriterConfig"}
	needs := map[string]string{"Client": "Transport", "Writer": "Transport", "ReaderConfig": "Dialer", "ConsumerGroupConfig": "Dialer"}
	checked := 0
	for _, gf := range moduleFiles(t) {
		pkg := importName(gf.file, "github.com/segmentio/kafka-go")
		if pkg == "" || gf.path == home {
			continue
		}
		checked++
		ast.Inspect(gf.file, func(n ast.Node) bool {
			at := func() string { return gf.fset.Position(n.Pos()).String() }
			switch n := n.(type) {
			case *ast.CompositeLit:
				typ := selectorOf(n.Type, pkg)
				switch {
				case typ == "Dialer" || typ == "Transport":
					t.Errorf("%s: a kafka.%s is built here; get it from pipeline.KafkaSecurity.%s so that SASL and TLS apply", at(), typ, typ)
				case needs[typ] != "" && !hasKey(n, needs[typ]):
					t.Errorf("%s: kafka.%s without %s connects in plaintext without SASL; set %s from pipeline.KafkaSecurity.%s",
						at(), typ, needs[typ], needs[typ], needs[typ])
				}
			case *ast.SelectorExpr:
				if sel := selectorOf(n, pkg); slices.Contains(forbidden, sel) {
					t.Errorf("%s: kafka.%s connects without the configured SASL and TLS; use a reader, writer or client built with pipeline.KafkaSecurity", at(), sel)
				}
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("only %d files import kafka-go: the check looks at the wrong files", checked)
	}
}

// TestClickHouseConnectionsUseOpenClickHouse proves that every ClickHouse
// connection of the project (outside tests) is opened by
// store.OpenClickHouse, which applies the configured credentials and TLS
// (app.OpenClickHouse passes them from the configuration); the embedded
// server's own readiness probe in infra/chdb is the one exception.
func TestClickHouseConnectionsUseOpenClickHouse(t *testing.T) {
	allowed := map[string]bool{"store/conn.go": true, "infra/chdb/server_linux_amd64.go": true}
	for _, gf := range moduleFiles(t) {
		pkg := importName(gf.file, "github.com/ClickHouse/clickhouse-go/v2")
		if pkg == "" || allowed[gf.path] {
			continue
		}
		ast.Inspect(gf.file, func(n ast.Node) bool {
			if sel := selectorOf(asExpr(n), pkg); sel == "Open" || sel == "OpenDB" || sel == "Connector" {
				t.Errorf("%s: clickhouse.%s opens a connection without the configured credentials and TLS; use app.OpenClickHouse (or store.OpenClickHouse)",
					gf.fset.Position(n.Pos()), sel)
			}
			return true
		})
	}
}

func asExpr(n ast.Node) ast.Expr {
	e, _ := n.(ast.Expr)
	return e
}
