package search

// The oracle below decides by hand, from the decoded NDJSON, which
// resources a search must return. It shares no code with the engine: its
// own path walker, folding, date arithmetic and matching rules.

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// at walks a path of element names through maps and arrays and returns
// every value found at its end.
func at(v any, path ...string) []any {
	cur := []any{v}
	for _, name := range path {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			switch x := m[name].(type) {
			case nil:
			case []any:
				next = append(next, x...)
			default:
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur
}

func strs(vs []any) []string {
	var out []string
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

var oracleAccents = strings.NewReplacer(
	"á", "a", "à", "a", "â", "a", "ä", "a", "ã", "a", "å", "a",
	"é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ì", "i", "î", "i", "ï", "i",
	"ó", "o", "ò", "o", "ô", "o", "ö", "o", "õ", "o", "ø", "o",
	"ú", "u", "ù", "u", "û", "u", "ü", "u", "ñ", "n", "ç", "c",
)

func fold(s string) string { return oracleAccents.Replace(strings.ToLower(s)) }

func anyString(values []string, pred func(string) bool) bool {
	for _, v := range values {
		if pred(v) {
			return true
		}
	}
	return false
}

func startsWithFolded(values []string, q string) bool {
	return anyString(values, func(v string) bool { return strings.HasPrefix(fold(v), fold(q)) })
}

func containsFolded(values []string, q string) bool {
	return anyString(values, func(v string) bool { return strings.Contains(fold(v), fold(q)) })
}

func equalsExactly(values []string, q string) bool {
	return anyString(values, func(v string) bool { return v == q })
}

// nameParts returns every string of every HumanName of r.
func nameParts(r map[string]any) []string {
	var out []string
	for _, k := range []string{"family", "given", "prefix", "suffix", "text"} {
		out = append(out, strs(at(r, "name", k))...)
	}
	return out
}

func addressParts(r map[string]any) []string {
	var out []string
	for _, k := range []string{"line", "city", "district", "state", "postalCode", "country",
		"text"} {
		out = append(out, strs(at(r, "address", k))...)
	}
	return out
}

// codings returns system|code pairs of every Coding in a CodeableConcept
// list or of plain Codings, with hasSystem telling "|code" apart.
type oracleCode struct {
	system, code string
	hasSystem    bool
}

func codingsOf(vs []any) []oracleCode {
	var out []oracleCode
	for _, v := range vs {
		m, ok := v.(map[string]any)
		if !ok {
			if s, ok := v.(string); ok {
				out = append(out, oracleCode{code: s})
			}
			if b, ok := v.(bool); ok {
				if b {
					out = append(out, oracleCode{code: "true"})
				} else {
					out = append(out, oracleCode{code: "false"})
				}
			}
			continue
		}
		if cs, ok := m["coding"].([]any); ok {
			out = append(out, codingsOf(cs)...)
			continue
		}
		code, _ := m["code"].(string)
		if val, ok := m["value"].(string); ok {
			code = val
		}
		sys, has := m["system"].(string)
		out = append(out, oracleCode{system: sys, code: code, hasSystem: has})
	}
	return out
}

func hasToken(vs []any, system, code string) bool {
	for _, c := range codingsOf(vs) {
		switch {
		case system == "" && c.code == code:
			return true
		case system != "" && c.hasSystem && c.system == system && c.code == code:
			return true
		}
	}
	return false
}

func hasSystem(vs []any, system string) bool {
	for _, c := range codingsOf(vs) {
		if c.hasSystem && c.system == system {
			return true
		}
	}
	return false
}

// references returns the reference strings of Reference values, without
// any /_history/n suffix.
func references(vs []any) []string {
	var out []string
	for _, v := range vs {
		m, _ := v.(map[string]any)
		ref, _ := m["reference"].(string)
		if i := strings.Index(ref, "/_history/"); i >= 0 {
			ref = ref[:i]
		}
		if ref != "" {
			out = append(out, ref)
		}
	}
	return out
}

// oracleSpan is a time span [start, end) in Unix nanoseconds, computed
// with time.Parse layouts rather than the engine's parser.
type oracleSpan struct{ start, end int64 }

// Open Period ends; Unix nanoseconds reach from 1677 to 2262, enough for
// the test data.
const (
	spanMin = math.MinInt64
	spanMax = math.MaxInt64
)

func spanOf(s string) (oracleSpan, bool) {
	layouts := []struct {
		layout string
		step   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
		// The fractional layout comes first: time.Parse accepts a fraction
		// after the seconds even when the layout has none.
		{"2006-01-02T15:04:05.000Z07:00",
			func(t time.Time) time.Time { return t.Add(time.Millisecond) }},
		{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(time.Second) }},
		{"2006-01-02T15:04:05", func(t time.Time) time.Time { return t.Add(time.Second) }},
	}
	for _, l := range layouts {
		if t, err := time.Parse(l.layout, s); err == nil {
			return oracleSpan{t.UnixNano(), l.step(t).UnixNano()}, true
		}
	}
	return oracleSpan{}, false
}

func spansOf(vs []any) []oracleSpan {
	var out []oracleSpan
	for _, v := range vs {
		switch x := v.(type) {
		case string:
			if s, ok := spanOf(x); ok {
				out = append(out, s)
			}
		case map[string]any:
			sp := oracleSpan{spanMin, spanMax}
			if s, ok := x["start"].(string); ok {
				p, _ := spanOf(s)
				sp.start = p.start
			}
			if e, ok := x["end"].(string); ok {
				p, _ := spanOf(e)
				sp.end = p.end
			}
			if x["start"] != nil || x["end"] != nil {
				out = append(out, sp)
			}
		}
	}
	return out
}

// dateHolds is the oracle's prefix rule for one target span and one
// search span, written from the table in the FHIR search page.
func dateHolds(prefix string, t, q oracleSpan) bool {
	inside := t.start >= q.start && t.end <= q.end
	switch prefix {
	case "eq":
		return inside
	case "ne":
		return !inside
	case "gt":
		return t.end > q.end
	case "lt":
		return t.start < q.start
	case "ge":
		return inside || t.end > q.end
	case "le":
		return inside || t.start < q.start
	case "sa":
		return t.start >= q.end
	case "eb":
		return t.end <= q.start
	}
	panic("oracle: no rule for prefix " + prefix)
}

func anyDate(vs []any, prefix, value string) bool {
	q, ok := spanOf(value)
	if !ok {
		panic("oracle: bad date " + value)
	}
	for _, t := range spansOf(vs) {
		if dateHolds(prefix, t, q) {
			return true
		}
	}
	return false
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func strsAt(r map[string]any, path ...string) []string { return strs(at(r, path...)) }

func refsAt(r map[string]any, path ...string) []string { return references(at(r, path...)) }
