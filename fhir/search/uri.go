package search

import (
	"strings"

	"github.com/custos/custos/fhir/search/fhirpath"
	"github.com/custos/custos/store"
)

// uriMatcher implements uri search: exact comparison by default, :below
// for uris at or under the value's path, and :above for uris of which the
// value is at or under the path.
func (e *Engine) uriMatcher(param *Param, modifier string, values []string) (matcher, error) {
	switch modifier {
	case "", "below", "above":
	default:
		return matcher{}, invalid("modifier :%s is not valid for uri parameter %s",
			safeName(modifier), param.Code)
	}
	queries := make([]string, len(values))
	var clause store.Clause
	for i, raw := range values {
		q := unescape(raw)
		if q == "" {
			return matcher{}, invalid("parameter %s has an empty value", param.Code)
		}
		switch modifier {
		case "below":
			q = strings.TrimSuffix(q, "/")
			clause = append(clause, e.token(param.Code, kindURIBelow, q))
		case "above":
			clause = append(clause, e.token(param.Code, kindExact, q))
			for j := 1; j < len(q); j++ {
				if q[j] == '/' {
					clause = append(clause, e.token(param.Code, kindExact, q[:j]))
				}
			}
		default:
			clause = append(clause, e.token(param.Code, kindExact, q))
		}
		queries[i] = q
	}
	// :below and :above are checked on the opened resource, because deep
	// paths post only their first path prefixes.
	m := matcher{clauses: []store.Clause{clause}, exact: modifier == ""}
	m.match = func(items []fhirpath.Item) bool {
		for _, u := range uriValues(items) {
			for _, q := range queries {
				if uriMatches(modifier, u, q) {
					return true
				}
			}
		}
		return false
	}
	return m, nil
}

func uriMatches(modifier, uri, q string) bool {
	switch modifier {
	case "below":
		return uri == q || strings.HasPrefix(uri, q+"/")
	case "above":
		return q == uri || strings.HasPrefix(q, strings.TrimSuffix(uri, "/")+"/")
	}
	return uri == q
}
