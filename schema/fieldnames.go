package schema

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// JSONFields lists the JSON names of the fields of a struct value's type
// (exported fields with a json tag other than "-"), in declaration order.
// The field matrix (docs/fields.md) must have a row for each of them.
func JSONFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// unknownField returns the first key of the request body b (or of one of
// its targetMsgs entries, or of its StrategyContent) that names no field,
// matched without regard to case as encoding/json does; "" when there is
// none or b is not a JSON object.
func unknownField(b []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return ""
	}
	if k := firstUnknown(top, JSONFields(Request{})); k != "" {
		return k
	}
	for k, v := range top {
		switch {
		case strings.EqualFold(k, "targetMsgs"):
			var entries []map[string]json.RawMessage
			if json.Unmarshal(v, &entries) == nil {
				for _, e := range entries {
					if u := firstUnknown(e, JSONFields(TargetMsg{})); u != "" {
						return "targetMsgs." + u
					}
				}
			}
		case strings.EqualFold(k, "StrategyContent"):
			var sc map[string]json.RawMessage
			if json.Unmarshal(v, &sc) != nil {
				var s string
				if json.Unmarshal(v, &s) != nil || json.Unmarshal([]byte(s), &sc) != nil {
					continue
				}
			}
			if u := firstUnknown(sc, JSONFields(StrategyContent{})); u != "" {
				return "StrategyContent." + u
			}
		}
	}
	return ""
}

// firstUnknown returns the alphabetically first key of obj that matches
// none of names without regard to case.
func firstUnknown(obj map[string]json.RawMessage, names []string) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		known := false
		for _, n := range names {
			if strings.EqualFold(k, n) {
				known = true
				break
			}
		}
		if !known {
			return k
		}
	}
	return ""
}
