package search

import (
	"strings"

	"github.com/custos/custos/fhir/search/fhirpath"
	"github.com/custos/custos/store"
)

// stringMatcher implements string search. Without a modifier a value
// matches when it starts with the search value after case and accent
// folding. The :exact modifier compares the value as written, and
// :contains looks for the folded search value anywhere in the folded value.
func (e *Engine) stringMatcher(param *Param, modifier string,
	values []string) (matcher, error) {
	switch modifier {
	case "", "exact", "contains":
	default:
		return matcher{}, invalid("modifier :%s is not valid for string parameter %s",
			safeName(modifier), param.Code)
	}
	queries := make([]string, len(values))
	for i, v := range values {
		queries[i] = unescape(v)
		if modifier != "exact" {
			queries[i] = normalize(queries[i])
		}
		if queries[i] == "" {
			return matcher{}, invalid("parameter %s has an empty value", param.Code)
		}
	}
	m := matcher{match: func(items []fhirpath.Item) bool {
		for _, s := range stringValues(items) {
			norm := s
			if modifier != "exact" {
				norm = normalize(s)
			}
			for _, q := range queries {
				if stringMatches(modifier, norm, q) {
					return true
				}
			}
		}
		return false
	}}
	switch modifier {
	case "exact":
		var clause store.Clause
		for _, q := range queries {
			clause = append(clause, e.token(param.Code, kindExact, q))
		}
		m.clauses = []store.Clause{clause}
		m.exact = true
	case "contains":
		m.clauses = e.containsClauses(param.Code, queries)
	default:
		// Every prefix up to the bound is posted, so the lookup is exact
		// unless a search value is longer.
		var clause store.Clause
		m.exact = true
		for _, q := range queries {
			p, cut := prefixRunes(q)
			clause = append(clause, e.token(param.Code, kindPrefix, p))
			m.exact = m.exact && !cut
		}
		m.clauses = []store.Clause{clause}
	}
	return m, nil
}

func stringMatches(modifier, value, q string) bool {
	switch modifier {
	case "exact":
		return value == q
	case "contains":
		return strings.Contains(value, q)
	}
	return strings.HasPrefix(value, q)
}

// containsClauses narrows a :contains search by trigrams. One value needs
// all of its trigrams, each as its own clause; several values share one
// clause of their first trigrams. Values too long for their trigrams to be
// posted always stay candidates through the "long" marker, and a value
// shorter than three runes cannot narrow the lookup at all.
func (e *Engine) containsClauses(code string, queries []string) []store.Clause {
	long := e.token(code, kindLong, "")
	if len(queries) == 1 {
		grams := trigrams(queries[0])
		var out []store.Clause
		for _, g := range grams {
			out = append(out, store.Clause{e.token(code, kindTrigram, g), long})
		}
		return out
	}
	clause := store.Clause{long}
	for _, q := range queries {
		grams := trigrams(q)
		if len(grams) == 0 {
			return nil
		}
		clause = append(clause, e.token(code, kindTrigram, grams[0]))
	}
	return []store.Clause{clause}
}
