package search

import (
	"strings"

	"github.com/custos/custos/fhir/search/fhirpath"
	"github.com/custos/custos/store"
)

// refQuery is one parsed reference search value.
type refQuery struct {
	typ, id string
	url     string
	ident   codeValue // :identifier
}

// referenceMatcher implements reference search: Type/id, a bare id (with
// :Type to name the type), an absolute URL, and :identifier with
// system|value or value.
//
// NOTE: an absolute URL matches only references written as that same URL;
// the server does not yet treat URLs on its own base as local references.
func (e *Engine) referenceMatcher(param *Param, modifier string,
	values []string) (matcher, error) {
	typed := ""
	switch {
	case modifier == "" || modifier == "identifier":
	case isResourceType(modifier):
		if !targets(param, modifier) {
			return matcher{}, invalid("parameter %s cannot refer to %s", param.Code, modifier)
		}
		typed = modifier
	case modifier == "above" || modifier == "below":
		return matcher{}, notSupported("modifier :%s of %s is not supported", modifier,
			param.Code)
	default:
		return matcher{}, invalid("modifier :%s is not valid for reference parameter %s",
			safeName(modifier), param.Code)
	}
	queries := make([]refQuery, len(values))
	var clause store.Clause
	for i, raw := range values {
		v := unescape(raw)
		q := refQuery{}
		switch {
		case v == "":
			return matcher{}, invalid("parameter %s has an empty value", param.Code)
		case modifier == "identifier":
			q.ident = parseIdentifierText(v)
			if q.ident.hasSystem {
				clause = append(clause, e.token(param.Code, kindRefIdent,
					q.ident.system+"|"+q.ident.code))
			} else {
				clause = append(clause, e.token(param.Code, kindRefIdentCode, q.ident.code))
			}
		case strings.Contains(v, "://") || strings.HasPrefix(v, "urn:"):
			q.url = v
			clause = append(clause, e.token(param.Code, kindRefURL, v))
		case strings.Contains(v, "/"):
			rv := parseReference(v)
			if rv.id == "" || (typed != "" && rv.typ != typed) {
				return matcher{}, invalid("a value of %s is not a valid reference: want "+
					"Type/id, id or an absolute URL", param.Code)
			}
			q.typ, q.id = rv.typ, rv.id
			clause = append(clause, e.token(param.Code, kindRefLocal, q.typ+"/"+q.id))
		case typed != "":
			q.typ, q.id = typed, v
			clause = append(clause, e.token(param.Code, kindRefLocal, q.typ+"/"+q.id))
		default:
			q.id = v
			clause = append(clause, e.token(param.Code, kindRefID, v))
		}
		queries[i] = q
	}
	m := matcher{clauses: []store.Clause{clause}, exact: true}
	m.match = func(items []fhirpath.Item) bool {
		for _, rv := range referenceValues(items) {
			for _, q := range queries {
				if referenceMatches(modifier, q, rv) {
					return true
				}
			}
		}
		return false
	}
	return m, nil
}

func referenceMatches(modifier string, q refQuery, rv refValue) bool {
	if modifier == "identifier" {
		for _, ident := range rv.identifiers {
			if ident.code == q.ident.code &&
				(!q.ident.hasSystem || ident.hasSystem && ident.system == q.ident.system) {
				return true
			}
		}
		return false
	}
	if q.url != "" {
		return rv.url == q.url
	}
	if rv.url != "" || rv.id != q.id {
		return false
	}
	return q.typ == "" || rv.typ == q.typ
}

func isResourceType(s string) bool {
	return fhirpath.ReferenceType(s+"/x") == s
}

func targets(param *Param, typ string) bool {
	for _, t := range param.Targets {
		if t == typ {
			return true
		}
	}
	return len(param.Targets) == 0
}
