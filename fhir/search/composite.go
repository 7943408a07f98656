package search

import (
	"github.com/custos/custos/fhir/search/fhirpath"
	"github.com/custos/custos/store"
)

// kindComposite marks the token of one combination of a composite
// parameter's component values.
const kindComposite = 'k'

// component is one part of a composite parameter: an expression relative
// to the composite's element, and the type its values have.
type component struct {
	typ  string
	expr *fhirpath.Expression
}

// compositeComponents are the components of the composite parameters of
// the four types, in the order a search value gives them. R4 defines one:
// DocumentReference relationship, a relatesTo.code and its target,
// searched as relationship=replaces$DocumentReference/123. (The R4
// definition names the two components' definitions the other way round
// from their expressions; the expressions decide here.)
var compositeComponents = map[string][]struct{ typ, expr string }{
	"relationship": {{"token", "code"}, {"reference", "target"}},
}

// compositeKeys returns the keys of every combination of component values
// of one element: each code form joined with each reference form.
func compositeKeys(parts []component, element map[string]any) []string {
	if len(parts) != 2 {
		return nil
	}
	codes, _ := parts[0].expr.Evaluate(element)
	targets, _ := parts[1].expr.Evaluate(element)
	var keys []string
	for _, cv := range tokenValues(codes) {
		forms := []string{cv.code}
		if cv.hasSystem {
			forms = append(forms, cv.system+"|"+cv.code)
		}
		for _, rv := range referenceValues(targets) {
			ref := rv.url
			if rv.id != "" {
				ref = rv.typ + "/" + rv.id
			}
			if ref == "" {
				continue
			}
			for _, f := range forms {
				keys = append(keys, f+"$"+ref)
			}
		}
	}
	return keys
}

// postComposite posts a token per combination of component values.
func postComposite(p *Param, items []fhirpath.Item, add postFunc) bool {
	found := false
	for _, it := range items {
		element, ok := it.Value.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range compositeKeys(p.components, element) {
			add(p.Code, kindComposite, k)
			found = true
		}
	}
	return found
}

// compositeMatcher parses values such as code$Type/id (or
// system|code$Type/id) into the tokens of the combinations they name.
func (e *Engine) compositeMatcher(param *Param, modifier string,
	values []string) (matcher, error) {
	if modifier != "" {
		return matcher{}, invalid("composite parameter %s takes no modifier", param.Code)
	}
	var clause store.Clause
	want := map[string]bool{}
	for _, v := range values {
		parts := splitEscaped(v, '$')
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return matcher{}, invalid("%s takes a code and a reference joined by $, "+
				"such as replaces$DocumentReference/123", param.Code)
		}
		code := parts[0]
		rv := parseReference(parts[1])
		ref := rv.url
		if rv.id != "" {
			typ := rv.typ
			if typ == "" {
				// relatesTo.target refers to a DocumentReference.
				typ = "DocumentReference"
			}
			ref = typ + "/" + rv.id
		}
		if ref == "" {
			return matcher{}, invalid("%s names no reference after $", param.Code)
		}
		key := code + "$" + ref
		want[key] = true
		clause = append(clause, e.token(param.Code, kindComposite, key))
	}
	return matcher{
		clauses: []store.Clause{clause},
		exact:   true,
		match: func(items []fhirpath.Item) bool {
			for _, it := range items {
				element, ok := it.Value.(map[string]any)
				if !ok {
					continue
				}
				for _, k := range compositeKeys(param.components, element) {
					if want[k] {
						return true
					}
				}
			}
			return false
		},
	}, nil
}

// parseComponents parses the components of a composite parameter.
func parseComponents(code string) ([]component, error) {
	var out []component
	for _, c := range compositeComponents[code] {
		expr, err := fhirpath.Parse(c.expr)
		if err != nil {
			return nil, err
		}
		out = append(out, component{typ: c.typ, expr: expr})
	}
	return out, nil
}
