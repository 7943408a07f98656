package search

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/custos/custos/store"
)

// Query is one search of one resource type.
type Query struct {
	Type   string     // resource type searched, for example "Patient"
	Params url.Values // the query parameters, search and result parameters alike
	// Handling is the Prefer: handling= mode: "strict" rejects unknown
	// parameters with an *Error, anything else ("lenient", the default)
	// ignores them and lists them in Page.Ignored.
	Handling string
	// Cursor continues a search from the Page.Next of the previous page;
	// empty starts at the beginning.
	Cursor string
	// Filter, when set, drops resources the requester may not see. It is
	// applied to matches, to included resources, to the resources inner
	// chained and _has searches find, and to what _total counts.
	Filter func(typ, id string, resource []byte) bool
}

// condition is one search parameter occurrence: parameters repeated in a
// query are ANDed, the comma-separated values inside one are ORed.
type condition struct {
	code string
	// clauses narrow the store lookup; all must hold. None means the
	// condition cannot narrow it and every candidate is checked.
	clauses []store.Clause
	// none is set when nothing can match, for example a chain whose inner
	// search found no resources.
	none bool
	// match applies the exact FHIR rule to a decoded resource.
	match func(res map[string]any) (bool, error)
	// exact is set when the clauses alone decide the match, so the
	// resource need not be decoded to apply it.
	exact bool
}

// resultParams are the result parameters the engine reads; the REST layer
// reads _format and _pretty itself.
var resultParams = map[string]bool{
	"_count": true, "_sort": true, "_total": true, "_include": true, "_revinclude": true,
	"_summary": true, "_elements": true, "_format": true, "_pretty": true,
}

// plan is a parsed query.
type plan struct {
	typ        string
	conditions []condition
	ignored    []string
	count      int
	sort       []sortKey
	total      string // _total: none, estimate, accurate, or "" when absent
	includes   []includeSpec
	revincl    []includeSpec
	summary    string
	elements   []string
}

// parse turns q into a plan. Chained and _has parameters run their inner
// searches here, at depth levels below the outer one.
func (e *Engine) parse(ctx context.Context, st store.Store, q Query, depth int) (*plan, error) {
	if _, ok := e.reg[q.Type]; !ok {
		return nil, notSupported("resource type %s is not searchable", q.Type)
	}
	p := &plan{typ: q.Type, count: e.limits.DefaultCount}
	keys := make([]string, 0, len(q.Params))
	occurrences := 0
	for k, vs := range q.Params {
		keys = append(keys, k)
		occurrences += len(vs)
	}
	if occurrences > e.limits.MaxParams {
		return nil, tooCostly("the query has %d parameters; at most %d are allowed",
			occurrences, e.limits.MaxParams)
	}
	sort.Strings(keys)
	for _, key := range keys {
		for _, raw := range q.Params[key] {
			if err := e.checkValue(key, raw); err != nil {
				return nil, err
			}
			if err := e.parseParam(ctx, st, q, p, key, raw, depth); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func (e *Engine) checkValue(key, raw string) error {
	switch {
	case len(raw) > e.limits.MaxValueBytes:
		return tooCostly("the value of %s is longer than %d bytes", key, e.limits.MaxValueBytes)
	case !utf8.ValidString(raw) || !utf8.ValidString(key):
		return invalid("parameter %s is not valid UTF-8", safeName(key))
	case strings.ContainsRune(raw, 0) || strings.ContainsRune(key, 0):
		return invalid("parameter %s contains a NUL character", safeName(key))
	}
	return nil
}

// safeName returns a parameter name fit for a message: at most 64 bytes
// of printable ASCII.
func safeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (e *Engine) parseParam(ctx context.Context, st store.Store, q Query, p *plan,
	key, raw string, depth int) error {
	if resultParams[key] || strings.HasPrefix(key, "_include") ||
		strings.HasPrefix(key, "_revinclude") {
		return e.parseResultParam(p, key, raw)
	}
	if strings.HasPrefix(key, "_has:") {
		c, err := e.hasCondition(ctx, st, q, key, raw, depth)
		if err != nil {
			return err
		}
		p.conditions = append(p.conditions, c)
		return nil
	}
	if hops := strings.Count(key, "."); depth+hops > e.limits.MaxChainDepth {
		return tooCostly("chains may be at most %d references deep",
			e.limits.MaxChainDepth)
	}
	name, chain, _ := strings.Cut(key, ".")
	code, modifier, _ := strings.Cut(name, ":")
	param := e.param(q.Type, code)
	if param == nil || param.Type == "special" {
		if q.Handling == "strict" {
			return invalid("unknown search parameter %s for %s", safeName(code), q.Type)
		}
		p.ignored = append(p.ignored, safeName(key))
		return nil
	}
	values, err := splitValues(raw, e.limits.MaxOrValues, key)
	if err != nil {
		return err
	}
	var c condition
	switch {
	case chain != "":
		c, err = e.chainCondition(ctx, st, q, param, modifier, chain, raw, depth)
	case modifier == "missing":
		c, err = e.missingCondition(param, raw)
	default:
		c, err = e.valueCondition(param, modifier, values)
	}
	if err != nil {
		return err
	}
	c.code = code
	p.conditions = append(p.conditions, c)
	return nil
}

// splitValues splits a parameter value at commas that no backslash
// escapes, keeping other escapes for the type-specific parsers.
func splitValues(raw string, max int, key string) ([]string, error) {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			cur.WriteByte(c)
			cur.WriteByte(raw[i+1])
			i++
		case c == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
		if len(out) > max {
			return nil, tooCostly("parameter %s has more than %d values; at most %d "+
				"comma-separated values are allowed", safeName(key), max, max)
		}
	}
	return append(out, cur.String()), nil
}

// splitEscaped splits s at unescaped occurrences of sep and removes the
// escapes of \, \| and \$ and \\ from the parts.
func splitEscaped(s string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
		case c == sep:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

func unescape(s string) string { return splitEscaped(s, 0)[0] }

func (e *Engine) missingCondition(param *Param, raw string) (condition, error) {
	missing := raw == "true"
	if raw != "true" && raw != "false" {
		return condition{}, invalid("%s:missing takes true or false", param.Code)
	}
	c := condition{match: func(res map[string]any) (bool, error) {
		items, err := param.expr.Evaluate(res)
		if err != nil {
			return false, err
		}
		has := postValues(param, items, func(string, byte, string) {})
		return has != missing, nil
	}}
	if !missing {
		c.clauses = []store.Clause{{e.token(param.Code, kindPresent, "")}}
		c.exact = true
	}
	return c, nil
}

// valueCondition builds the condition of a parameter with values and an
// optional modifier. Every value is parsed first, so one invalid value
// fails the query.
func (e *Engine) valueCondition(param *Param, modifier string,
	values []string) (condition, error) {
	var m matcher
	var err error
	switch param.Type {
	case "token":
		m, err = e.tokenMatcher(param, modifier, values)
	case "string":
		m, err = e.stringMatcher(param, modifier, values)
	case "date":
		m, err = e.dateMatcher(param, modifier, values)
	case "reference":
		m, err = e.referenceMatcher(param, modifier, values)
	case "uri":
		m, err = e.uriMatcher(param, modifier, values)
	case "number", "quantity":
		m, err = e.numberMatcher(param, modifier, values, param.Type == "quantity")
	case "composite":
		m, err = e.compositeMatcher(param, modifier, values)
	default:
		err = notSupported("parameter %s of type %s is not supported", param.Code, param.Type)
	}
	if err != nil {
		return condition{}, err
	}
	c := condition{clauses: m.clauses, exact: m.exact}
	c.match = func(res map[string]any) (bool, error) {
		items, err := param.expr.Evaluate(res)
		if err != nil {
			return false, err
		}
		return m.match(items), nil
	}
	return c, nil
}
