package search

import (
	"encoding/json"
	"strings"

	"github.com/custos/custos/fhir/search/fhirpath"
)

// codeValue is one token value: a code with its system, the display texts
// that :text searches, and for an Identifier the codings of its type.
type codeValue struct {
	system    string
	hasSystem bool
	code      string
	texts     []string
	types     []codeValue // Identifier.type codings, for :of-type
}

// tokenValues turns the items of a token parameter into code values. It
// reads Coding, CodeableConcept, Identifier, ContactPoint (whose system
// code, such as phone, is taken as the token system), and primitive codes,
// strings, uris and booleans.
func tokenValues(items []fhirpath.Item) []codeValue {
	var out []codeValue
	for _, it := range items {
		switch v := it.Value.(type) {
		case string:
			out = append(out, codeValue{code: v})
		case bool:
			out = append(out, codeValue{code: boolText(v)})
		case json.Number:
			out = append(out, codeValue{code: v.String()})
		case map[string]any:
			out = append(out, mapTokenValues(v)...)
		}
	}
	return out
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func mapTokenValues(m map[string]any) []codeValue {
	if codings, ok := m["coding"].([]any); ok || m["text"] != nil {
		var out []codeValue
		for _, c := range codings {
			if cm, ok := c.(map[string]any); ok {
				out = append(out, coding(cm))
			}
		}
		if text, ok := m["text"].(string); ok && text != "" {
			if len(out) == 0 {
				out = append(out, codeValue{})
			}
			for i := range out {
				out[i].texts = append(out[i].texts, text)
			}
		}
		return out
	}
	if _, ok := m["value"]; ok {
		return []codeValue{identifier(m)}
	}
	if _, ok := m["code"]; ok {
		return []codeValue{coding(m)}
	}
	return nil
}

func coding(m map[string]any) codeValue {
	cv := codeValue{}
	cv.system, cv.hasSystem = m["system"].(string)
	cv.code, _ = m["code"].(string)
	if d, ok := m["display"].(string); ok && d != "" {
		cv.texts = append(cv.texts, d)
	}
	return cv
}

// identifier reads an Identifier or a ContactPoint, which share the system
// and value elements.
func identifier(m map[string]any) codeValue {
	cv := codeValue{}
	cv.system, cv.hasSystem = m["system"].(string)
	switch v := m["value"].(type) {
	case string:
		cv.code = v
	case json.Number:
		cv.code = v.String()
	}
	if t, ok := m["type"].(map[string]any); ok {
		for _, tv := range mapTokenValues(t) {
			cv.types = append(cv.types, tv)
			cv.texts = append(cv.texts, tv.texts...)
		}
	}
	return cv
}

// stringValues collects the strings a string parameter searches: plain
// strings, every part of a HumanName or an Address, and the string value
// of an Extension.
func stringValues(items []fhirpath.Item) []string {
	var out []string
	for _, it := range items {
		switch v := it.Value.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			out = appendParts(out, v)
		}
	}
	return out
}

var stringParts = []string{"text", "family", "given", "prefix", "suffix", "line", "city",
	"district", "state", "postalCode", "country", "valueString", "valueMarkdown", "valueCode"}

func appendParts(out []string, m map[string]any) []string {
	for _, key := range stringParts {
		switch v := m[key].(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// refValue is one reference: its local Type/id when it has one, the
// absolute URL when it is written as one, and the identifiers that name
// the target (Reference.identifier or a conditional "Type?identifier=s|v").
type refValue struct {
	typ, id     string
	url         string
	identifiers []codeValue
}

func referenceValues(items []fhirpath.Item) []refValue {
	var out []refValue
	for _, it := range items {
		switch v := it.Value.(type) {
		case string:
			out = append(out, parseReference(v))
		case map[string]any:
			ref, _ := v["reference"].(string)
			rv := parseReference(ref)
			if rv.typ == "" {
				rv.typ, _ = v["type"].(string)
			}
			if idm, ok := v["identifier"].(map[string]any); ok {
				rv.identifiers = append(rv.identifiers, identifier(idm))
			}
			if rv.id != "" || rv.url != "" || len(rv.identifiers) > 0 {
				out = append(out, rv)
			}
		}
	}
	return out
}

// parseReference reads a reference string. A relative "Type/id" (with or
// without "/_history/n") gives typ and id; an absolute URL also keeps url.
func parseReference(ref string) refValue {
	var rv refValue
	if ref == "" || ref[0] == '#' {
		return rv
	}
	if q := strings.IndexByte(ref, '?'); q >= 0 {
		rv.typ = fhirpath.ReferenceType(ref)
		for _, cond := range strings.Split(ref[q+1:], "&") {
			if val, ok := strings.CutPrefix(cond, "identifier="); ok {
				rv.identifiers = append(rv.identifiers, parseIdentifierText(val))
			}
		}
		return rv
	}
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "urn:") {
		rv.url = ref
	}
	parts := strings.Split(ref, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	if n := len(parts); n >= 2 {
		if t := fhirpath.ReferenceType(strings.Join(parts[n-2:], "/")); t != "" {
			rv.typ, rv.id = t, parts[n-1]
		}
	}
	return rv
}

func parseIdentifierText(s string) codeValue {
	if sys, val, ok := strings.Cut(s, "|"); ok {
		return codeValue{system: sys, hasSystem: sys != "", code: val}
	}
	return codeValue{code: s}
}

// uriValues collects the uri, url and canonical strings of a uri
// parameter.
func uriValues(items []fhirpath.Item) []string {
	var out []string
	for _, it := range items {
		if s, ok := it.Value.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
