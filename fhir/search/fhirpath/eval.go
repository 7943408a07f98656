package fhirpath

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Item is one element of a FHIRPath collection: a JSON value from the
// resource and, where the evaluator can tell, its FHIR type name. Type is
// set for choice elements (deceasedDateTime gives "dateTime"), for the
// results of resolve() (the type named by the reference) and for values
// the operators compute ("boolean").
type Item struct {
	Value any
	Type  string
}

// primitiveTypes names the FHIR primitive types, whose names start with a
// lower-case letter, so that a choice suffix such as "DateTime" maps back.
var primitiveTypes = map[string]string{
	"Boolean": "boolean", "Integer": "integer", "String": "string",
	"Decimal": "decimal", "Uri": "uri", "Url": "url", "Canonical": "canonical",
	"Base64Binary": "base64Binary", "Instant": "instant", "Date": "date",
	"DateTime": "dateTime", "Time": "time", "Code": "code", "Oid": "oid",
	"Id": "id", "Markdown": "markdown", "UnsignedInt": "unsignedInt",
	"PositiveInt": "positiveInt", "Uuid": "uuid",
}

// Evaluate evaluates e with resource as the context and returns the
// resulting collection. Values keep the Go types that encoding/json gives
// (map[string]any, []any, string, bool, json.Number or float64).
func (e *Expression) Evaluate(resource map[string]any) ([]Item, error) {
	root := []Item{{Value: resource, Type: typeOfResource(resource)}}
	return eval(&e.root, root, root)
}

func typeOfResource(resource map[string]any) string {
	t, _ := resource["resourceType"].(string)
	return t
}

func eval(n *node, focus, root []Item) ([]Item, error) {
	switch n.kind {
	case kindString:
		return []Item{{Value: n.name, Type: "string"}}, nil
	case kindBool:
		return []Item{{Value: n.name == "true", Type: "boolean"}}, nil
	case kindNumber:
		return []Item{{Value: json.Number(n.name), Type: "decimal"}}, nil
	case kindIdent:
		return evalIdent(n.name, focus), nil
	case kindInvoke:
		left, err := eval(n.left, focus, root)
		if err != nil {
			return nil, err
		}
		if n.call {
			return callFunction(n.name, n.args, left, root)
		}
		return children(left, n.name), nil
	case kindCall:
		return callFunction(n.name, n.args, focus, root)
	case kindUnion:
		return evalUnion(n, focus, root)
	case kindEqual, kindNotEqual:
		return evalEquality(n, focus, root)
	case kindAnd, kindOr:
		return evalLogic(n, focus, root)
	case kindIs, kindAs:
		left, err := eval(n.left, focus, root)
		if err != nil {
			return nil, err
		}
		if n.kind == kindAs {
			return filterType(left, n.name), nil
		}
		if len(left) != 1 {
			return nil, nil
		}
		return boolean(hasType(left[0], n.name)), nil
	}
	return nil, fmt.Errorf("fhirpath: unsupported expression node")
}

// evalIdent resolves a name at the start of a path. A name that starts
// with an upper-case letter is a type name. It selects the context resource
// when it names its type or a base type (Resource, DomainResource), and
// nothing otherwise, so "Practitioner.name" is empty on a Patient.
func evalIdent(name string, focus []Item) []Item {
	if name != "" && name[0] >= 'A' && name[0] <= 'Z' {
		var out []Item
		for _, it := range focus {
			if it.Type == name || name == "Resource" || name == "DomainResource" {
				out = append(out, it)
			}
		}
		return out
	}
	return children(focus, name)
}

// children returns the named child elements of every item, flattening
// arrays. When the name is a choice element such as deceased, the child
// found under deceasedBoolean or deceasedDateTime is typed from the suffix.
func children(items []Item, name string) []Item {
	var out []Item
	for _, it := range items {
		m, ok := it.Value.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := m[name]; ok {
			out = appendValue(out, v, "")
			continue
		}
		for key, v := range m {
			if len(key) > len(name) && strings.HasPrefix(key, name) &&
				key[len(name)] >= 'A' && key[len(name)] <= 'Z' {
				suffix := key[len(name):]
				if p, ok := primitiveTypes[suffix]; ok {
					suffix = p
				}
				out = appendValue(out, v, suffix)
			}
		}
	}
	return out
}

func appendValue(out []Item, v any, typ string) []Item {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if e != nil {
				out = append(out, Item{Value: e, Type: typ})
			}
		}
		return out
	}
	if v == nil {
		return out
	}
	return append(out, Item{Value: v, Type: typ})
}

func evalUnion(n *node, focus, root []Item) ([]Item, error) {
	left, err := eval(n.left, focus, root)
	if err != nil {
		return nil, err
	}
	right, err := eval(n.right, focus, root)
	if err != nil {
		return nil, err
	}
	all := make([]Item, 0, len(left)+len(right))
	all = append(append(all, left...), right...)
	var out []Item
	for _, r := range all {
		dup := false
		for _, l := range out {
			if equalValues(l.Value, r.Value) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, r)
		}
	}
	return out, nil
}

func evalEquality(n *node, focus, root []Item) ([]Item, error) {
	left, err := eval(n.left, focus, root)
	if err != nil {
		return nil, err
	}
	right, err := eval(n.right, focus, root)
	if err != nil {
		return nil, err
	}
	if len(left) == 0 || len(right) == 0 {
		return nil, nil
	}
	eq := len(left) == len(right)
	for i := 0; eq && i < len(left); i++ {
		eq = equalValues(left[i].Value, right[i].Value)
	}
	if n.kind == kindNotEqual {
		eq = !eq
	}
	return boolean(eq), nil
}

// evalLogic applies the three-valued logic of FHIRPath and/or, where an
// empty operand is unknown.
func evalLogic(n *node, focus, root []Item) ([]Item, error) {
	left, err := eval(n.left, focus, root)
	if err != nil {
		return nil, err
	}
	right, err := eval(n.right, focus, root)
	if err != nil {
		return nil, err
	}
	l, lok := singletonBool(left)
	r, rok := singletonBool(right)
	if n.kind == kindAnd {
		switch {
		case lok && !l, rok && !r:
			return boolean(false), nil
		case lok && rok:
			return boolean(true), nil
		}
		return nil, nil
	}
	switch {
	case lok && l, rok && r:
		return boolean(true), nil
	case lok && rok:
		return boolean(false), nil
	}
	return nil, nil
}

// singletonBool converts a collection to a boolean the way FHIRPath does
// for operands of logic operators: a single boolean is itself, any other
// single item is true, and an empty collection is unknown (ok is false).
func singletonBool(items []Item) (value, ok bool) {
	if len(items) != 1 {
		return false, false
	}
	if b, isBool := items[0].Value.(bool); isBool {
		return b, true
	}
	return true, true
}

func boolean(b bool) []Item { return []Item{{Value: b, Type: "boolean"}} }

func equalValues(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case json.Number, float64:
		fx, okx := toFloat(a)
		fy, oky := toFloat(b)
		return okx && oky && fx == fy
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !equalValues(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// hasType reports whether an item is of the named type. Items whose type
// the evaluator does not know are typed from their JSON value.
func hasType(it Item, name string) bool {
	if it.Type != "" {
		return it.Type == name
	}
	switch v := it.Value.(type) {
	case bool:
		return name == "boolean"
	case string:
		return name == "string"
	case json.Number, float64:
		return name == "decimal" || name == "integer"
	case map[string]any:
		t, _ := v["resourceType"].(string)
		return t != "" && t == name
	}
	return false
}

func filterType(items []Item, name string) []Item {
	var out []Item
	for _, it := range items {
		if hasType(it, name) {
			out = append(out, it)
		}
	}
	return out
}

func callFunction(name string, args []*node, focus, root []Item) ([]Item, error) {
	switch name {
	case "where":
		if len(args) != 1 {
			return nil, fmt.Errorf("fhirpath: where() takes one argument")
		}
		var out []Item
		for _, it := range focus {
			res, err := eval(args[0], []Item{it}, root)
			if err != nil {
				return nil, err
			}
			if b, ok := singletonBool(res); ok && b {
				out = append(out, it)
			}
		}
		return out, nil
	case "exists", "empty":
		items := focus
		if len(args) == 1 {
			var err error
			if items, err = callFunction("where", args, focus, root); err != nil {
				return nil, err
			}
		} else if len(args) > 1 {
			return nil, fmt.Errorf("fhirpath: %s() takes at most one argument", name)
		}
		return boolean((len(items) > 0) == (name == "exists")), nil
	case "not":
		if b, ok := singletonBool(focus); ok {
			return boolean(!b), nil
		}
		return nil, nil
	case "first":
		if len(focus) == 0 {
			return nil, nil
		}
		return focus[:1], nil
	case "resolve":
		return resolve(focus), nil
	case "extension":
		return extension(args, focus, root)
	case "ofType", "as":
		if len(args) != 1 || args[0].kind != kindIdent {
			return nil, fmt.Errorf("fhirpath: %s() takes one type name", name)
		}
		return filterType(focus, args[0].name), nil
	}
	return nil, fmt.Errorf("fhirpath: unsupported function %s()", name)
}

func extension(args []*node, focus, root []Item) ([]Item, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("fhirpath: extension() takes one argument")
	}
	urls, err := eval(args[0], root, root)
	if err != nil {
		return nil, err
	}
	if len(urls) != 1 {
		return nil, fmt.Errorf("fhirpath: extension() needs a single url")
	}
	url, _ := urls[0].Value.(string)
	var out []Item
	for _, ext := range children(focus, "extension") {
		m, _ := ext.Value.(map[string]any)
		if u, _ := m["url"].(string); u == url {
			out = append(out, Item{Value: ext.Value, Type: "Extension"})
		}
	}
	return out, nil
}

// resolve types each reference by the resource type its text names
// instead of loading the target: "Patient/1", "Patient?identifier=..." and
// "http://host/fhir/Patient/1" are all Patients. A Reference with no
// readable type, such as a contained "#p1", resolves to nothing.
func resolve(focus []Item) []Item {
	var out []Item
	for _, it := range focus {
		var ref, typ string
		switch v := it.Value.(type) {
		case string:
			ref = v
		case map[string]any:
			ref, _ = v["reference"].(string)
			typ, _ = v["type"].(string)
		}
		if t := ReferenceType(ref); t != "" {
			typ = t
		}
		if typ != "" {
			out = append(out, Item{Value: it.Value, Type: typ})
		}
	}
	return out
}

// ReferenceType returns the resource type that a reference string names,
// or "" when it names none: "Patient/1", "Patient/1/_history/2",
// "Patient?identifier=a|b" and absolute URLs ending in Type/id all give
// "Patient".
func ReferenceType(ref string) string {
	if ref == "" || ref[0] == '#' || strings.HasPrefix(ref, "urn:") {
		return ""
	}
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		if isTypeName(ref[:i]) {
			return ref[:i]
		}
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	if n := len(parts); n >= 2 && isTypeName(parts[n-2]) {
		return parts[n-2]
	}
	return ""
}

func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
