package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The vendor sections of the configuration (apps[].<vendor>,
// vendors.<vendor>, apps[].receipts.<vendor>) are keyed by the names of
// channels/registry rather than written out as struct fields, so that a
// new vendor needs no field here. A struct with such sections decodes and
// encodes through a struct type built at run time: its own fields (those
// with a YAML key) followed by one pointer field per section. The decoding
// stays as strict as the rest of the file (Load's KnownFields): an unknown
// key is refused with the YAML decoder's own message, and the sections'
// types refuse their unknown keys themselves.

// section is one vendor section of a struct: its YAML key and the type it
// decodes into (not a pointer).
type section struct {
	key string
	typ reflect.Type
}

// sectioned is the run-time struct type of a struct type base (without
// its fields tagged "-") plus sections.
type sectioned struct {
	base     reflect.Type
	own      []int // the fields of base in the built type, by their index in base
	sections []section
	typ      reflect.Type
}

// newSectioned builds the sectioned type of base (a struct type) with
// sections, which follow the field of base tagged after (or base's own
// fields, when after is "").
func newSectioned(base reflect.Type, after string, sections []section) *sectioned {
	s := &sectioned{base: base, sections: sections}
	var fields []reflect.StructField
	addSections := func() {
		for i, sec := range sections {
			fields = append(fields, reflect.StructField{Name: fmt.Sprintf("Section%d", i), Type: reflect.PointerTo(sec.typ),
				Tag: reflect.StructTag(fmt.Sprintf("yaml:%q json:%q", sec.key+",omitempty", sec.key+",omitempty"))})
		}
	}
	for i := range base.NumField() {
		f := base.Field(i)
		if yamlKey(f) == "-" || !f.IsExported() {
			continue
		}
		s.own = append(s.own, i)
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		if yamlKey(f) == after {
			addSections()
		}
	}
	if after == "" {
		addSections()
	}
	s.typ = reflect.StructOf(fields)
	return s
}

// yamlKey is the YAML key of a struct field.
func yamlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return key
}

// sectionIndex is the index in s.typ of its i-th section.
func (s *sectioned) sectionIndex(i int) int {
	for j := range s.typ.NumField() {
		if s.typ.Field(j).Name == fmt.Sprintf("Section%d", i) {
			return j
		}
	}
	panic("config: no section field") // unreachable: newSectioned adds them all
}

// decode decodes the YAML value of unmarshal (a YAML decoder's
// obsolete-style UnmarshalYAML argument, which keeps the decoder's
// strictness) into *out, whose type is s.base, and returns the sections
// present by key, each a pointer to its type. A key that is neither a
// field of s.base nor a section is refused as the YAML decoder refuses
// one, naming s.base.
func (s *sectioned) decode(unmarshal func(any) error, out any) (map[string]any, error) {
	var raw rawNode
	if err := unmarshal(&raw); err != nil {
		return nil, err
	}
	if n := raw.node; n != nil && n.Kind == yaml.MappingNode {
		known := map[string]bool{"<<": true}
		for j := range s.typ.NumField() {
			known[yamlKey(s.typ.Field(j))] = true
		}
		var unknown []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !known[k.Value] {
				unknown = append(unknown, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, s.base))
			}
		}
		if len(unknown) > 0 {
			return nil, &yaml.TypeError{Errors: unknown}
		}
	}
	v := reflect.New(s.typ)
	if err := unmarshal(v.Interface()); err != nil {
		return nil, err
	}
	dst := reflect.ValueOf(out).Elem()
	for j, i := range s.own {
		dst.Field(i).Set(v.Elem().Field(s.ownIndex(j)))
	}
	present := map[string]any{}
	for i, sec := range s.sections {
		if f := v.Elem().Field(s.sectionIndex(i)); !f.IsNil() {
			present[sec.key] = f.Interface()
		}
	}
	return present, nil
}

// ownIndex is the index in s.typ of the j-th own field.
func (s *sectioned) ownIndex(j int) int {
	name := s.base.Field(s.own[j]).Name
	f, _ := s.typ.FieldByName(name)
	return f.Index[0]
}

// encode returns in (of type s.base) with sections as a value of s.typ,
// for a YAML encoder. A section whose value is not a pointer to its type
// is left out.
func (s *sectioned) encode(in any, sections map[string]any) any {
	v := reflect.New(s.typ).Elem()
	src := reflect.ValueOf(in)
	for j, i := range s.own {
		v.Field(s.ownIndex(j)).Set(src.Field(i))
	}
	for i, sec := range s.sections {
		if p := reflect.ValueOf(sections[sec.key]); p.IsValid() && p.Type() == reflect.PointerTo(sec.typ) && !p.IsNil() {
			v.Field(s.sectionIndex(i)).Set(p)
		}
	}
	return v.Interface()
}

// rawNode captures the YAML node it is decoded from.
type rawNode struct{ node *yaml.Node }

// UnmarshalYAML keeps n.
func (r *rawNode) UnmarshalYAML(n *yaml.Node) error {
	r.node = n
	return nil
}
