package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The deployment examples under configs/ (Kubernetes manifests, Prometheus
// rules) are checked here, next to the configuration they carry.

// repoRoot is the repository root seen from this package's directory.
const repoRoot = "../.."

// k8sWorkers are the commands that run one worker each; configs/k8s has a
// Deployment for every one of them.
var k8sWorkers = []string{"registry", "fanout", "sender", "retry", "eventsink", "callbacks", "recall", "scheduler", "receipts", "gateway"}

// manifest is one YAML document of a manifest file.
type manifest struct {
	file string
	doc  map[string]any
}

func (m manifest) kind() string { return str(m.doc, "kind") }
func (m manifest) name() string { return str(m.doc, "metadata", "name") }

// node walks maps and lists: a string key indexes a map, an int a list.
// It returns nil when the path does not exist.
func node(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := node(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := node(v, path...).([]any)
	return l
}

// readYAMLDocs parses every document of a YAML file; empty documents are
// left out.
func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("parsing %s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// k8sFiles returns the YAML files under configs/k8s: the manifests, and the
// pushpipe configuration files (YAML) that kustomizations generate ConfigMaps and
// Secrets from (by path, in the order their generators list them).
func k8sFiles(t *testing.T) (manifests []manifest, generated []string) {
	t.Helper()
	root := filepath.Join(repoRoot, "configs", "k8s")
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			continue
		}
		k := readYAMLDocs(t, f)[0]
		for _, gen := range append(list(k, "configMapGenerator"), list(k, "secretGenerator")...) {
			for _, src := range list(gen, "files") {
				s, _ := src.(string)
				if _, path, ok := strings.Cut(s, "="); ok {
					s = path
				}
				if strings.HasSuffix(s, ".yaml") {
					generated = append(generated, filepath.Join(filepath.Dir(f), s))
				}
			}
		}
	}
	for _, f := range files {
		if slices.Contains(generated, f) {
			continue
		}
		for _, doc := range readYAMLDocs(t, f) {
			manifests = append(manifests, manifest{file: f, doc: doc})
		}
	}
	return manifests, generated
}

// loadK8sConfigFiles assembles the configuration as each pod's init
// container does (every generated file, concatenated) and loads it as the
// worker of region does. The files it names that the pods mount (Kafka
// credentials, CA certificates) are replaced by local stand-ins so that
// Validate can read them; podFiles returns the paths as the pods see them.
func loadK8sConfigFiles(t *testing.T, generated []string, region string) (c *Config, podFiles []string) {
	t.Helper()
	var body strings.Builder
	for _, f := range generated {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body.Write(b)
	}
	c, err := Load(write(t, body.String()))
	if err != nil {
		t.Fatalf("the configuration of configs/k8s does not load: %v", err)
	}
	c.Regions = []string{region}
	podFiles = standInPodFiles(t, c)
	if err := c.Validate(); err != nil {
		t.Fatalf("the configuration of configs/k8s is invalid for region %s: %v", region, err)
	}
	return c, podFiles
}

func TestKubernetesManifests(t *testing.T) {
	manifests, generated := k8sFiles(t)
	if len(generated) < 2 {
		t.Fatalf("kustomizations generate the configuration from %v, want the config and its secrets", generated)
	}
	cfg, podFiles := loadK8sConfigFiles(t, generated, "sg")
	checkLockdown(t, manifests, cfg, podFiles)

	deployments, services := map[string]manifest{}, map[string]manifest{}
	byKind := map[string][]manifest{}
	for _, m := range manifests {
		if str(m.doc, "apiVersion") == "" || m.kind() == "" {
			t.Errorf("%s: a document without apiVersion or kind", m.file)
			continue
		}
		if m.kind() != "Kustomization" && m.name() == "" {
			t.Errorf("%s: %s without metadata.name", m.file, m.kind())
		}
		byKind[m.kind()] = append(byKind[m.kind()], m)
		switch m.kind() {
		case "Deployment":
			deployments[m.name()] = m
		case "Service":
			services[m.name()] = m
		}
	}

	for _, w := range k8sWorkers {
		t.Run("deployment "+w, func(t *testing.T) {
			d, ok := deployments["pushpipe-"+w]
			if !ok {
				t.Fatalf("no Deployment pushpipe-%s", w)
			}
			c := node(d.doc, "spec", "template", "spec", "containers", 0)
			args := list(c, "args")
			if len(args) == 0 || args[0] != w {
				t.Fatalf("%s: container args %v do not start with the worker command %q", d.file, args, w)
			}
			// The probes' port: every worker's internal health address.
			listen := "--health-addr="
			if w == "gateway" {
				listen = "--internal-addr="
			}
			port := checkArgs(t, d.file, args, listen)
			ports := map[string]int{}
			for _, p := range list(c, "ports") {
				n, _ := node(p, "containerPort").(int)
				ports[str(p, "name")] = n
			}
			if ports["health"] != port {
				t.Errorf("%s: %s listens on %d, which is not the containerPort named health (%v)", d.file, listen, port, ports)
			}
			if w == "receipts" || w == "gateway" {
				// The public API: its own port, the only one the Service
				// exposes, never the health port.
				public := checkArgs(t, d.file, args, "--addr=")
				if ports["http"] != public || public == port {
					t.Errorf("%s: --addr port %d must be the containerPort named http and not the health port %d (%v)", d.file, public, port, ports)
				}
				svc := services[d.name()]
				if svc.doc == nil {
					t.Fatalf("%s: no Service %s", d.file, d.name())
				}
				for _, sp := range list(svc.doc, "spec", "ports") {
					if target := node(sp, "targetPort"); target != "http" {
						t.Errorf("%s: Service %s exposes targetPort %v; only http may be exposed", svc.file, svc.name(), target)
					}
				}
			}
			for _, tc := range []struct {
				scenario string
				probe    string
				path     string
			}{
				{scenario: "liveness asks /healthz", probe: "livenessProbe", path: "/healthz"},
				{scenario: "readiness asks /readyz", probe: "readinessProbe", path: "/readyz"},
				{scenario: "startup asks /healthz", probe: "startupProbe", path: "/healthz"},
			} {
				get := node(c, tc.probe, "httpGet")
				if got := str(get, "path"); got != tc.path {
					t.Errorf("%s: %s: %s path is %q", d.file, tc.scenario, tc.probe, got)
				}
				if p, isName := node(get, "port").(string); !isName || ports[p] != port {
					t.Errorf("%s: %s: %s port %v is not the port the worker listens on (%d)", d.file, tc.scenario, tc.probe, node(get, "port"), port)
				}
			}
			for _, r := range []string{"cpu", "memory"} {
				if node(c, "resources", "requests", r) == nil {
					t.Errorf("%s: no resources.requests.%s", d.file, r)
				}
			}
			labels, _ := node(d.doc, "spec", "template", "metadata", "labels").(map[string]any)
			if !hasMatchingPDB(byKind["PodDisruptionBudget"], labels) {
				t.Errorf("%s: no PodDisruptionBudget selects the pods of %s", d.file, d.name())
			}
		})
	}

	t.Run("listen ports of the configuration", func(t *testing.T) {
		for _, tc := range []struct {
			scenario string
			addr     string
			port     string
			why      string
		}{
			{scenario: "healthAddr", addr: cfg.HealthAddr, port: "8080", why: "probes and Prometheus reach the pod on 0.0.0.0:8080"},
			{scenario: "gateway internal address", addr: cfg.GatewayInternalAddr(), port: "8080", why: "probes and Prometheus reach the pod on 0.0.0.0:8080"},
			{scenario: "receipts.addr", addr: cfg.Receipts.Addr, port: "8000", why: "the Service sends vendors to the pod on 0.0.0.0:8000, not the health port"},
			{scenario: "gateway.addr", addr: cfg.Gateway.Addr, port: "8000", why: "the Service sends callers to the pod on 0.0.0.0:8000, not the health port"},
		} {
			host, port, err := net.SplitHostPort(tc.addr)
			if err != nil || host != "0.0.0.0" || port != tc.port {
				t.Errorf("%s is %q: %s", tc.scenario, tc.addr, tc.why)
			}
		}
	})

	t.Run("autoscalers", func(t *testing.T) {
		if len(byKind["HorizontalPodAutoscaler"]) == 0 {
			t.Fatal("no HorizontalPodAutoscaler")
		}
		lagScaled := 0
		for _, h := range byKind["HorizontalPodAutoscaler"] {
			target := str(h.doc, "spec", "scaleTargetRef", "name")
			d, ok := deployments[target]
			if !ok {
				t.Errorf("%s: HPA %s scales %q, which is no Deployment", h.file, h.name(), target)
				continue
			}
			for _, m := range list(h.doc, "spec", "metrics") {
				if str(m, "type") != "External" {
					continue
				}
				lagScaled++
				stage := str(d.doc, "spec", "template", "spec", "containers", 0, "args", 0)
				if name := str(m, "external", "metric", "name"); name != "pushpipe_stage_consumer_lag" {
					t.Errorf("%s: HPA %s scales on %q, want pushpipe_stage_consumer_lag", h.file, h.name(), name)
				}
				if got := str(m, "external", "metric", "selector", "matchLabels", "stage"); got != stage {
					t.Errorf("%s: HPA %s reads the lag of stage %q, but scales %s", h.file, h.name(), got, stage)
				}
				if maxR, _ := node(h.doc, "spec", "maxReplicas").(int); maxR > cfg.Kafka.Partitions {
					t.Errorf("%s: HPA %s allows %d replicas, more than the %d partitions a consumer group can share", h.file, h.name(), maxR, cfg.Kafka.Partitions)
				}
			}
		}
		if lagScaled == 0 {
			t.Error("no HPA scales on consumer lag")
		}
	})
}

// checkArgs checks the flags every worker container needs and returns the
// port of the listen flag.
func checkArgs(t *testing.T, file string, args []any, listen string) int {
	t.Helper()
	var region, config, addr string
	for _, a := range args {
		s, _ := a.(string)
		switch {
		case strings.HasPrefix(s, "--region="):
			region = strings.TrimPrefix(s, "--region=")
		case strings.HasPrefix(s, "--config="):
			config = strings.TrimPrefix(s, "--config=")
		case strings.HasPrefix(s, listen):
			addr = strings.TrimPrefix(s, listen)
		}
	}
	if region != "$(PUSHPIPE_REGION)" {
		t.Errorf("%s: --region is %q, want the overlay's region, $(PUSHPIPE_REGION)", file, region)
	}
	if config == "" {
		t.Errorf("%s: no --config", file)
	}
	_, p, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Errorf("%s: %s%s is not host:port", file, listen, addr)
	}
	return port
}

func hasMatchingPDB(pdbs []manifest, podLabels map[string]any) bool {
	for _, p := range pdbs {
		sel, _ := node(p.doc, "spec", "selector", "matchLabels").(map[string]any)
		match := len(sel) > 0
		for k, v := range sel {
			if podLabels[k] != v {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

func TestPrometheusRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "configs", "prometheus", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in configs/prometheus (%v)", err)
	}
	for _, f := range files {
		docs := readYAMLDocs(t, f)
		if len(docs) != 1 || len(list(docs[0], "groups")) == 0 {
			t.Fatalf("%s: want one document with groups", f)
		}
		alerts := map[string]bool{}
		for _, g := range list(docs[0], "groups") {
			if str(g, "name") == "" || len(list(g, "rules")) == 0 {
				t.Errorf("%s: group %v without name or rules", f, str(g, "name"))
			}
			for _, r := range list(g, "rules") {
				name := str(r, "alert")
				switch {
				case name == "" || str(r, "expr") == "":
					t.Errorf("%s: rule %v without alert or expr", f, r)
				case alerts[name]:
					t.Errorf("%s: alert %s defined twice", f, name)
				case !slices.Contains([]string{"info", "warning", "critical"}, str(r, "labels", "severity")):
					t.Errorf("%s: alert %s has severity %q, want info, warning or critical", f, name, str(r, "labels", "severity"))
				case str(r, "annotations", "summary") == "":
					t.Errorf("%s: alert %s has no summary", f, name)
				}
				alerts[name] = true
			}
		}
	}
}

// metricRef is a Prometheus metric name of the project in a file.
var metricRef = regexp.MustCompile(`\bpushpipe_[a-z0-9_]+\b`)

func TestDeploymentExamplesUseRealMetrics(t *testing.T) {
	sources := goSources(t)
	var files []string
	for _, dir := range []string{"k8s", "prometheus"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, "configs", dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricRef.FindAllString(string(b), -1) {
			seen++
			if !metricDefined(sources, name) {
				t.Errorf("%s names %s, which no worker exports", f, name)
			}
		}
	}
	if seen == 0 {
		t.Fatal("the deployment examples name no pushpipe metric")
	}
}

// goSources returns the text of every non-test Go file of the repository.
func goSources(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != repoRoot || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// metricDefined reports whether a Go source defines the metric: its full
// name as a literal, or Subsystem "<sub>" and Name "<rest>" in one file for
// pushpipe_<sub>_<rest>. Histogram series suffixes are ignored.
func metricDefined(sources []string, name string) bool {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && metricDefined(sources, base) {
			return true
		}
	}
	rest := strings.TrimPrefix(name, "pushpipe_")
	for _, src := range sources {
		if strings.Contains(src, `"`+name+`"`) {
			return true
		}
		for i := strings.Index(rest, "_"); i > 0; i = nextUnderscore(rest, i) {
			if strings.Contains(src, fmt.Sprintf("Subsystem: %q", rest[:i])) && strings.Contains(src, fmt.Sprintf("%q", rest[i+1:])) {
				return true
			}
		}
	}
	return false
}

func nextUnderscore(s string, after int) int {
	j := strings.Index(s[after+1:], "_")
	if j < 0 {
		return -1
	}
	return after + 1 + j
}
