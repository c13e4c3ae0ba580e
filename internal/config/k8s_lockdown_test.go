package config

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/internal/testinfra"
)

// The lock-down of configs/k8s: which files each pod gets, whom each
// worker may reach and who may reach it.

// k8sNeedsClickHouse are the workers that read or write ClickHouse (as
// app.Kind.NeedsClickHouse says, and the gateway); only they may reach it.
// internal/app's TestNetworkPolicyFollowsNeedsClickHouse checks the
// policy against app.Kind.NeedsClickHouse itself.
var k8sNeedsClickHouse = []string{"registry", "fanout", "retry", "eventsink", "callbacks", "recall", "scheduler", "gateway"}

// k8sInternet are the workers that call outside services over HTTPS:
// vendor APIs (sender, recall) and business callback URLs (callbacks).
var k8sInternet = []string{"sender", "callbacks", "recall"}

// k8sPublic are the workers that accept connections from outside.
var k8sPublic = []string{"gateway", "receipts"}

// standInPodFiles replaces each file of c that pods mount (Kafka and
// ClickHouse credentials, CAs, client keys) by a local file of the right
// kind, and returns the paths as configured.
func standInPodFiles(t *testing.T, c *Config) []string {
	t.Helper()
	ca := testinfra.NewCA(t)
	cert, key := ca.ClientFiles(t, "k8s-stand-in")
	text := func(v string) string {
		p := filepath.Join(t.TempDir(), "value")
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out []string
	for _, f := range []struct {
		field   *string
		standIn string
	}{
		{&c.Kafka.SASL.UsernameFile, text("pushpipe-stand-in")}, {&c.Kafka.SASL.PasswordFile, text("stand-in")},
		{&c.Kafka.TLS.CAFile, ca.File}, {&c.Kafka.TLS.CertFile, cert}, {&c.Kafka.TLS.KeyFile, key},
		{&c.ClickHouse.PasswordFile, text("stand-in")},
		{&c.ClickHouse.TLS.CAFile, ca.File}, {&c.ClickHouse.TLS.CertFile, cert}, {&c.ClickHouse.TLS.KeyFile, key},
	} {
		if *f.field != "" {
			out = append(out, *f.field)
			*f.field = f.standIn
		}
	}
	return out
}

// generatorKeys returns, per generated ConfigMap or Secret name, the keys
// its generator makes (files "key=path" or "path", literals "key=value").
func generatorKeys(manifests []manifest) map[string][]string {
	out := map[string][]string{}
	for _, m := range manifests {
		if m.kind() != "Kustomization" {
			continue
		}
		for _, gen := range append(list(m.doc, "configMapGenerator"), list(m.doc, "secretGenerator")...) {
			name := str(gen, "name")
			for _, f := range list(gen, "files") {
				s, _ := f.(string)
				key, _, ok := strings.Cut(s, "=")
				if !ok {
					key = filepath.Base(s)
				}
				out[name] = append(out[name], key)
			}
			for _, l := range list(gen, "literals") {
				s, _ := l.(string)
				key, _, _ := strings.Cut(s, "=")
				out[name] = append(out[name], key)
			}
		}
	}
	return out
}

// generatorLiteral returns the value of a literal of the generator name.
func generatorLiteral(manifests []manifest, name, key string) string {
	for _, m := range manifests {
		for _, gen := range list(m.doc, "secretGenerator") {
			if str(gen, "name") != name {
				continue
			}
			for _, l := range list(gen, "literals") {
				s, _ := l.(string)
				if k, v, ok := strings.Cut(s, "="); ok && k == key {
					return v
				}
			}
		}
	}
	return ""
}

// podMount is a path a container sees and the volume behind it.
type podMount struct {
	path   string
	source string // "secret NAME" or "configMap NAME"
}

// podMounts returns the mounts of the first container of deployment d,
// with those the shared patch (pod-common.yaml) adds to every pod.
func podMounts(d manifest, common manifest) []podMount {
	volumes := map[string]string{}
	var out []podMount
	for _, m := range []manifest{d, common} {
		spec := node(m.doc, "spec", "template", "spec")
		for _, v := range list(spec, "volumes") {
			switch {
			case str(v, "secret", "secretName") != "":
				volumes[str(v, "name")] = "secret " + str(v, "secret", "secretName")
			case str(v, "configMap", "name") != "":
				volumes[str(v, "name")] = "configMap " + str(v, "configMap", "name")
			}
		}
	}
	for _, m := range []manifest{d, common} {
		for _, vm := range list(m.doc, "spec", "template", "spec", "containers", 0, "volumeMounts") {
			out = append(out, podMount{path: str(vm, "mountPath"), source: volumes[str(vm, "name")]})
		}
	}
	return out
}

// selects reports whether a label selector (matchLabels, matchExpressions
// with In, NotIn, Exists) selects labels.
func selects(sel any, labels map[string]any) bool {
	for k, v := range mapOf(node(sel, "matchLabels")) {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range list(sel, "matchExpressions") {
		v, has := labels[str(e, "key")]
		in := slices.Contains(list(e, "values"), v)
		switch str(e, "operator") {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// policyRules returns the rules (ingress or egress) that the policies
// selecting labels allow, each with the policy's name.
func policyRules(policies []manifest, labels map[string]any, direction string) (rules []any, names []string) {
	for _, p := range policies {
		if !selects(node(p.doc, "spec", "podSelector"), labels) {
			continue
		}
		for _, r := range list(p.doc, "spec", strings.ToLower(direction)) {
			rules, names = append(rules, r), append(names, p.name())
		}
	}
	return rules, names
}

// rulePorts returns "PROTO/port" of every port of a rule.
func rulePorts(r any) []string {
	var out []string
	for _, p := range list(r, "ports") {
		proto := str(p, "protocol")
		if proto == "" {
			proto = "TCP"
		}
		out = append(out, fmt.Sprintf("%s/%v", proto, node(p, "port")))
	}
	return out
}

func addrPort(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	if _, err := strconv.Atoi(p); err != nil {
		t.Fatalf("address %q: port %q", addr, p)
	}
	return "TCP/" + p
}

// checkLockdown checks the files every worker's pod gets and the network
// policies: each worker reaches only DNS, Kafka, ClickHouse when it needs
// it and the internet on 443 when it calls out; only the gateway and
// receipts accept connections from anywhere; the overlays replace the
// placeholder addresses; every manifest is part of its kustomization.
func checkLockdown(t *testing.T, manifests []manifest, cfg *Config, podFiles []string) {
	deployments := map[string]manifest{}
	var policies []manifest
	for _, m := range manifests {
		switch m.kind() {
		case "Deployment":
			deployments[m.name()] = m
		case "NetworkPolicy":
			policies = append(policies, m)
		}
	}
	common, ok := deployments["every-deployment"]
	if !ok {
		t.Fatal("no pod-common.yaml patch (Deployment every-deployment)")
	}
	keys := generatorKeys(manifests)
	kafkaPort, chPort := addrPort(t, cfg.Kafka.Brokers[0]), addrPort(t, cfg.ClickHouse.Addr)
	if cfg.Kafka.SASL.Mechanism == "" || !cfg.Kafka.TLS.Enabled || !cfg.ClickHouse.TLS.Enabled {
		t.Errorf("the configuration of configs/k8s does not use Kafka SASL with TLS and ClickHouse TLS (kafka.sasl %q, kafka.tls %v, clickhouse.tls %v)",
			cfg.Kafka.SASL.Mechanism, cfg.Kafka.TLS.Enabled, cfg.ClickHouse.TLS.Enabled)
	}

	for _, w := range k8sWorkers {
		d := deployments["pushpipe-"+w]
		labels := mapOf(node(d.doc, "spec", "template", "metadata", "labels"))
		t.Run("files of "+w, func(t *testing.T) {
			mounts := podMounts(d, common)
			for _, f := range podFiles {
				var found *podMount
				for i, m := range mounts {
					if strings.HasPrefix(f, strings.TrimSuffix(m.path, "/")+"/") && (found == nil || len(m.path) > len(found.path)) {
						found = &mounts[i]
					}
				}
				if found == nil {
					t.Errorf("%s: the configuration names %s, which no volume of pushpipe-%s provides", d.file, f, w)
					continue
				}
				_, name, _ := strings.Cut(found.source, " ")
				key := strings.TrimPrefix(f, strings.TrimSuffix(found.path, "/")+"/")
				if !slices.Contains(keys[name], key) {
					t.Errorf("%s: %s comes from %s, which has no key %q (it has %v)", d.file, f, found.source, key, keys[name])
				}
				if f == cfg.Kafka.SASL.UsernameFile || strings.HasSuffix(f, "/username") {
					if want := "secret pushpipe-kafka-" + w; found.source != want {
						t.Errorf("%s: the Kafka credentials come from %s, want the worker's own %s", d.file, found.source, want)
					}
					if u := generatorLiteral(manifests, name, "username"); u != "pushpipe-"+w {
						t.Errorf("%s: the Kafka principal of %s is %q, want its own pushpipe-%s", d.file, w, u, w)
					}
				}
			}
		})
		t.Run("network of "+w, func(t *testing.T) {
			egress, names := policyRules(policies, labels, "Egress")
			allowed := map[string]bool{}
			for i, r := range egress {
				ports := rulePorts(r)
				if len(ports) == 0 {
					t.Errorf("policy %s lets %s reach every port", names[i], w)
				}
				if len(list(r, "to")) == 0 {
					t.Errorf("policy %s lets %s reach %v of every address", names[i], w, ports)
				}
				for _, p := range ports {
					allowed[p] = true
					if p == "TCP/443" {
						checkInternet(t, names[i], r)
					}
				}
			}
			want := []string{"UDP/53", "TCP/53", kafkaPort}
			if slices.Contains(k8sNeedsClickHouse, w) {
				want = append(want, chPort)
			}
			if slices.Contains(k8sInternet, w) {
				want = append(want, "TCP/443")
			}
			for _, p := range want {
				if !allowed[p] {
					t.Errorf("%s may not reach %s, which it needs", w, p)
				}
				delete(allowed, p)
			}
			for p := range allowed {
				t.Errorf("%s may reach %s, which it does not need", w, p)
			}

			// The public workers' API port (8000) is open to every source;
			// their health port (8080: probes, metrics, profiles) is not.
			ingress, inames := policyRules(policies, labels, "Ingress")
			public := false
			for i, r := range ingress {
				if len(list(r, "from")) == 0 {
					if !slices.Contains(k8sPublic, w) {
						t.Errorf("policy %s opens %s to every source", inames[i], w)
					}
					ports := rulePorts(r)
					public = public || slices.Contains(ports, "TCP/8000")
					if len(ports) == 0 || slices.Contains(ports, "TCP/8080") {
						t.Errorf("policy %s opens the health port 8080 of %s to every source", inames[i], w)
					}
				}
			}
			if slices.Contains(k8sPublic, w) && !public {
				t.Errorf("%s does not accept connections on its API port 8000 from outside", w)
			}
		})
	}

	t.Run("default deny", func(t *testing.T) {
		for _, p := range policies {
			types := list(p.doc, "spec", "policyTypes")
			if len(mapOf(node(p.doc, "spec", "podSelector"))) == 0 && slices.Contains(types, "Ingress") && slices.Contains(types, "Egress") &&
				len(list(p.doc, "spec", "ingress")) == 0 && len(list(p.doc, "spec", "egress")) == 0 {
				return
			}
		}
		t.Error("no NetworkPolicy denies every pod of the namespace all traffic not allowed otherwise")
	})

	t.Run("overlays set the addresses of Kafka and ClickHouse", func(t *testing.T) {
		overlays := 0
		for _, m := range manifests {
			if m.kind() != "Kustomization" || !strings.Contains(filepath.ToSlash(m.file), "/overlays/") {
				continue
			}
			overlays++
			set := map[string]bool{}
			for _, p := range list(m.doc, "patches") {
				body := str(p, "patch")
				if str(p, "target", "kind") == "NetworkPolicy" && strings.Contains(body, "/spec/egress/0/to") &&
					strings.Contains(body, "cidr") && !strings.Contains(body, "192.0.2.") {
					set[str(p, "target", "name")] = true
				}
			}
			for _, name := range []string{"pushpipe-kafka-egress", "pushpipe-clickhouse-egress"} {
				if !set[name] {
					t.Errorf("%s does not replace the placeholder address of %s", m.file, name)
				}
			}
		}
		if overlays == 0 {
			t.Error("no overlay found")
		}
	})

	t.Run("every manifest is part of its kustomization", func(t *testing.T) {
		for _, m := range manifests {
			if m.kind() != "Kustomization" {
				continue
			}
			dir := filepath.Dir(m.file)
			used := map[string]bool{"kustomization.yaml": true}
			for _, r := range list(m.doc, "resources") {
				s, _ := r.(string)
				used[s] = true
			}
			for _, p := range list(m.doc, "patches") {
				used[str(p, "path")] = true
			}
			for _, gen := range append(list(m.doc, "configMapGenerator"), list(m.doc, "secretGenerator")...) {
				for _, f := range list(gen, "files") {
					s, _ := f.(string)
					if _, p, ok := strings.Cut(s, "="); ok {
						s = p
					}
					used[s] = true
				}
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			for _, f := range files {
				if !used[path.Base(filepath.ToSlash(f))] {
					t.Errorf("%s is not listed in %s: kubectl apply -k would leave it out", f, m.file)
				}
			}
		}
	})
}

// checkInternet checks a rule opening 443 reaches public addresses only.
func checkInternet(t *testing.T, policy string, r any) {
	t.Helper()
	private := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"}
	for _, to := range list(r, "to") {
		cidr := str(to, "ipBlock", "cidr")
		if cidr != "0.0.0.0/0" {
			continue
		}
		for _, p := range private {
			if !slices.Contains(list(to, "ipBlock", "except"), any(p)) {
				t.Errorf("policy %s opens 443 to %s, the cloud metadata service or the cluster: add it to except", policy, p)
			}
		}
	}
}
