package search

import (
	"strings"

	"github.com/custos/custos/fhir/search/fhirpath"
	"github.com/custos/custos/store"
)

// matcher is the store lookup and the exact rule for one parameter
// occurrence with values.
type matcher struct {
	clauses []store.Clause
	match   func(items []fhirpath.Item) bool
	// exact is set when a resource has the clauses' tokens exactly when
	// match holds, so candidates need not be opened to check it.
	exact bool
}

// tokenQuery is one parsed token search value.
type tokenQuery struct {
	system, code string
	form         byte // kindCode, kindSystemCode, kindSystemOnly or kindNoSystem
	typeSystem   string
	typeCode     string // :of-type only
	words        []string
}

func (e *Engine) tokenMatcher(param *Param, modifier string,
	values []string) (matcher, error) {
	switch modifier {
	case "", "not", "text", "of-type":
	case "above", "below", "in", "not-in":
		return matcher{}, notSupported("modifier :%s of %s needs terminology services, "+
			"which this server does not have", modifier, param.Code)
	default:
		return matcher{}, invalid("modifier :%s is not valid for token parameter %s",
			safeName(modifier), param.Code)
	}
	queries := make([]tokenQuery, 0, len(values))
	for _, v := range values {
		tq, err := parseTokenQuery(param.Code, modifier, v)
		if err != nil {
			return matcher{}, err
		}
		queries = append(queries, tq)
	}
	m := matcher{}
	m.match = func(items []fhirpath.Item) bool {
		vals := tokenValues(items)
		for _, q := range queries {
			for _, v := range vals {
				if tokenValueMatches(modifier, q, v) {
					return modifier != "not"
				}
			}
		}
		return modifier == "not"
	}
	if modifier == "not" {
		return m, nil // a negation cannot narrow the lookup
	}
	var clause store.Clause
	for _, q := range queries {
		switch modifier {
		case "text":
			// Every word must match; the lookup uses the first word of each
			// value and the exact rule checks the rest.
			clause = append(clause, e.token(param.Code, kindTextWord, firstPrefix(q.words[0])))
		case "of-type":
			clause = append(clause, e.token(param.Code, kindOfType,
				q.typeSystem+"|"+q.typeCode+"|"+q.code))
		default:
			clause = append(clause, e.token(param.Code, q.form, tokenText(q)))
		}
	}
	m.clauses = []store.Clause{clause}
	m.exact = modifier != "text"
	return m, nil
}

func firstPrefix(w string) string {
	p, _ := prefixRunes(w)
	return p
}

func tokenText(q tokenQuery) string {
	switch q.form {
	case kindSystemCode:
		return q.system + "|" + q.code
	case kindSystemOnly:
		return q.system
	}
	return q.code
}

func parseTokenQuery(code, modifier, raw string) (tokenQuery, error) {
	if modifier == "text" {
		ws := words(normalize(unescape(raw)))
		if len(ws) == 0 {
			return tokenQuery{}, invalid("%s:text needs at least one word", code)
		}
		return tokenQuery{words: ws}, nil
	}
	parts := splitEscaped(raw, '|')
	if modifier == "of-type" {
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return tokenQuery{}, invalid("%s:of-type takes system|code|value", code)
		}
		return tokenQuery{typeSystem: parts[0], typeCode: parts[1], code: parts[2]}, nil
	}
	switch {
	case len(parts) == 1 && parts[0] != "":
		return tokenQuery{code: parts[0], form: kindCode}, nil
	case len(parts) == 2 && parts[0] == "" && parts[1] != "":
		return tokenQuery{code: parts[1], form: kindNoSystem}, nil
	case len(parts) == 2 && parts[0] != "" && parts[1] == "":
		return tokenQuery{system: parts[0], form: kindSystemOnly}, nil
	case len(parts) == 2 && parts[0] != "":
		return tokenQuery{system: parts[0], code: parts[1], form: kindSystemCode}, nil
	}
	return tokenQuery{}, invalid("a value of %s is not a valid token: want code, system|code, "+
		"|code or system|", code)
}

// tokenValueMatches applies the exact token rule. Codes compare exactly, as
// FHIR specifies for code systems that are case-sensitive.
func tokenValueMatches(modifier string, q tokenQuery, v codeValue) bool {
	switch modifier {
	case "text":
		return textMatches(q.words, v.texts)
	case "of-type":
		if v.code != q.code {
			return false
		}
		for _, t := range v.types {
			if t.system == q.typeSystem && t.code == q.typeCode {
				return true
			}
		}
		return false
	}
	switch q.form {
	case kindCode:
		return v.code == q.code
	case kindNoSystem:
		return v.code == q.code && !v.hasSystem
	case kindSystemOnly:
		return v.hasSystem && v.system == q.system
	}
	return v.hasSystem && v.system == q.system && v.code == q.code
}

// textMatches reports whether one of the texts has, for every query word,
// a word that starts with it.
func textMatches(query []string, texts []string) bool {
	for _, text := range texts {
		tw := words(normalize(text))
		all := true
		for _, q := range query {
			found := false
			for _, w := range tw {
				if strings.HasPrefix(w, q) {
					found = true
					break
				}
			}
			if !found {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
