// Package search implements FHIR R4 search for Custos over sealed data. It
// turns each resource into keyed blind-index tokens at write time, turns a
// search query into token clauses that the store matches, and then opens
// every candidate to apply the exact FHIR matching rule before it returns a
// page of results.
package search

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/custos/custos/fhir/search/fhirpath"
)

// The SearchParameter definitions of the hl7.fhir.core 4.0.1 package whose
// base includes Patient, DocumentReference, Consent, AuditEvent, Resource
// or DomainResource (published under CC0).
//
//go:embed params/*.json
var definitionFiles embed.FS

// ResourceTypes lists the resource types whose search parameters the
// registry holds.
var ResourceTypes = []string{"AuditEvent", "Consent", "DocumentReference", "Patient"}

// Param is one search parameter as it applies to one resource type.
type Param struct {
	Code string // the name used in a query, for example "family"
	// Type is the SearchParameter type: token, string, date, reference,
	// uri or special.
	Type string
	// Expression is the FHIRPath expression restricted to the resource
	// type: the parts of the definition's union that start with that type,
	// Resource or DomainResource. Empty for _has.
	Expression string
	Targets    []string // resource types a reference parameter may point to
	URL        string   // canonical URL of the SearchParameter definition

	expr *fhirpath.Expression
	// components are the parts of a composite parameter.
	components []component
}

// unsupportedCodes are defined parameters that the engine cannot evaluate
// exactly, so they are neither indexed nor listed: full-text and narrative
// search, named queries, _filter and phonetic matching.
var unsupportedCodes = map[string]bool{
	"_content": true, "_text": true, "_query": true, "_filter": true,
	"phonetic": true,
}

type definition struct {
	URL        string   `json:"url"`
	Code       string   `json:"code"`
	Type       string   `json:"type"`
	Base       []string `json:"base"`
	Expression string   `json:"expression"`
	Target     []string `json:"target"`
}

// registry maps a resource type to its parameters by code.
type registry map[string]map[string]*Param

func loadRegistry() (registry, error) {
	files, err := definitionFiles.ReadDir("params")
	if err != nil {
		return nil, err
	}
	reg := registry{}
	for _, t := range ResourceTypes {
		reg[t] = map[string]*Param{}
	}
	for _, f := range files {
		data, err := definitionFiles.ReadFile(path.Join("params", f.Name()))
		if err != nil {
			return nil, err
		}
		var def definition
		if err := json.Unmarshal(data, &def); err != nil {
			return nil, fmt.Errorf("search parameter %s: %w", f.Name(), err)
		}
		if err := reg.add(def); err != nil {
			return nil, fmt.Errorf("search parameter %s: %w", f.Name(), err)
		}
	}
	for _, t := range ResourceTypes {
		reg[t]["_has"] = &Param{Code: "_has", Type: "special",
			URL: "http://hl7.org/fhir/R4/search.html#has"}
	}
	return reg, nil
}

// add registers def for every supported resource type it applies to. The
// specification's own example definitions ("example", "example-extension")
// describe no real parameter and are skipped.
func (reg registry) add(def definition) error {
	if def.Expression == "" || unsupportedCodes[def.Code] ||
		strings.HasSuffix(def.URL, "/example") ||
		strings.HasSuffix(def.URL, "/example-extension") {
		return nil
	}
	for _, typ := range ResourceTypes {
		if !appliesTo(def.Base, typ) {
			continue
		}
		expr := restrict(def.Expression, typ)
		if expr == "" {
			continue
		}
		parsed, err := fhirpath.Parse(expr)
		if err != nil {
			return err
		}
		if _, dup := reg[typ][def.Code]; dup {
			return fmt.Errorf("duplicate code %s for %s", def.Code, typ)
		}
		param := &Param{Code: def.Code, Type: def.Type, Expression: expr,
			Targets: def.Target, URL: def.URL, expr: parsed}
		if def.Type == "composite" {
			if _, ok := compositeComponents[def.Code]; !ok {
				continue
			}
			if param.components, err = parseComponents(def.Code); err != nil {
				return err
			}
		}
		reg[typ][def.Code] = param
	}
	return nil
}

func appliesTo(base []string, typ string) bool {
	for _, b := range base {
		if b == typ || b == "Resource" || b == "DomainResource" {
			return true
		}
	}
	return false
}

// restrict keeps the parts of a top-level union that apply to typ.
func restrict(expr, typ string) string {
	var keep []string
	for _, part := range splitUnion(expr) {
		p := strings.TrimLeft(strings.TrimSpace(part), "(")
		name := p
		if i := strings.IndexAny(p, ".( "); i >= 0 {
			name = p[:i]
		}
		switch {
		case name == typ, name == "Resource", name == "DomainResource":
			keep = append(keep, strings.TrimSpace(part))
		case name != "" && name[0] >= 'a' && name[0] <= 'z':
			keep = append(keep, strings.TrimSpace(part)) // a path on the resource
		}
	}
	return strings.Join(keep, " | ")
}

// splitUnion splits an expression at the | operators that are outside
// parentheses and string literals.
func splitUnion(expr string) []string {
	var parts []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\'' && (i == 0 || expr[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, expr[start:i])
			start = i + 1
		}
	}
	return append(parts, expr[start:])
}

// Params returns the search parameters that the engine supports for a
// resource type, sorted by code, or nil for a type it does not know. The
// CapabilityStatement should list exactly these.
func (e *Engine) Params(resourceType string) []Param {
	var out []Param
	for _, p := range e.reg[resourceType] {
		c := *p
		c.Targets = append([]string(nil), p.Targets...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

func (e *Engine) param(typ, code string) *Param {
	return e.reg[typ][code]
}
