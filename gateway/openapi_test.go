package gateway

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// openAPIDoc is the part of the OpenAPI document the test reads.
type openAPIDoc struct {
	OpenAPI string                               `yaml:"openapi"`
	Paths   map[string]map[string]map[string]any `yaml:"paths"`
}

func TestOpenAPIListsExactlyTheServedRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want an OpenAPI 3 document", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			if op["responses"] == nil || op["summary"] == nil {
				t.Errorf("%s %s has no summary or responses", method, path)
			}
		}
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: []string{"127.0.0.1:1"}}) // never contacted
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	s, err := New(Config{Region: "sg", Producer: p, Brokers: []string{"127.0.0.1:1"}, ClickHouse: ch.Conn(t), Database: "push_sg",
		Apps: []App{{AppID: testApp, AccessKeys: []AccessKey{testKey(0)}}}})
	if err != nil {
		t.Fatal(err)
	}
	served := s.Routes()
	sort.Strings(documented)
	sort.Strings(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("route %s is in openapi.yaml but not served", r)
		}
	}
}

// TestOpenAPIPushRequestListsTheAcceptedFields: the PushRequest schema
// names every request field a caller may send and nothing else, so the
// document never advertises a field that would be refused or ignored.
func TestOpenAPIPushRequestListsTheAcceptedFields(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
				AllOf      []struct {
					Properties map[string]any `yaml:"properties"`
				} `yaml:"allOf"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for k := range doc.Components.Schemas["AppRef"].Properties {
		documented[k] = true
	}
	for _, part := range doc.Components.Schemas["PushRequest"].AllOf {
		for k := range part.Properties {
			documented[k] = true
		}
	}
	// Set by pushpipe itself.
	notForCallers := map[string]bool{"acceptedAt": true, "scheduleId": true}
	fields := schema.JSONFields(schema.Request{})
	for _, f := range fields {
		if !notForCallers[f] && !documented[f] {
			t.Errorf("request field %q is accepted but not in the PushRequest schema of openapi.yaml", f)
		}
		if notForCallers[f] && documented[f] {
			t.Errorf("openapi.yaml documents %q, which callers cannot use", f)
		}
	}
	for k := range documented {
		if !slices.Contains(fields, k) {
			t.Errorf("openapi.yaml documents %q, which is not a request field", k)
		}
	}
}
