package search

import (
	"encoding/json"
	"math"
	"math/big"
	"regexp"

	"github.com/custos/custos/fhir/search/fhirpath"
)

// None of the R4 parameters of the supported resource types is of type
// number or quantity, so these matchers serve parameters added later. They
// post no tokens: every candidate of the type is opened and checked.

// numberQuery is one parsed number search value: the exact value and the
// range its written precision implies (100 is [99.5, 100.5)).
type numberQuery struct {
	prefix string
	value  *big.Rat
	lo, hi *big.Rat
	// quantity only: the system and code or unit the target must have
	system, code string
}

var numberRE = regexp.MustCompile(`^[+-]?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$`)

// parseNumber reads a FHIR number search value and the half-width of its
// implied precision: half a unit of its last significant digit.
func parseNumber(s string) (value, lo, hi *big.Rat, ok bool) {
	m := numberRE.FindStringSubmatch(s)
	if m == nil || len(s) > 64 {
		return nil, nil, nil, false
	}
	value, ok = new(big.Rat).SetString(s)
	if !ok {
		return nil, nil, nil, false
	}
	exp := -len(m[2])
	if m[3] != "" {
		var e big.Int
		e.SetString(m[3], 10)
		if !e.IsInt64() || math.Abs(float64(e.Int64())) > 300 {
			return nil, nil, nil, false
		}
		exp += int(e.Int64())
	}
	half := new(big.Rat).SetFrac(big.NewInt(5), big.NewInt(10))
	unit := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10),
		big.NewInt(int64(abs(exp))), nil))
	if exp < 0 {
		unit.Inv(unit)
	}
	half.Mul(half, unit)
	lo = new(big.Rat).Sub(value, half)
	hi = new(big.Rat).Add(value, half)
	return value, lo, hi, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (e *Engine) numberMatcher(param *Param, modifier string, values []string,
	quantity bool) (matcher, error) {
	if modifier != "" {
		return matcher{}, invalid("modifier :%s is not valid for %s parameter %s",
			safeName(modifier), param.Type, param.Code)
	}
	queries := make([]numberQuery, len(values))
	for i, raw := range values {
		q := numberQuery{prefix: "eq"}
		if len(raw) >= 2 && datePrefixes[raw[:2]] {
			q.prefix, raw = raw[:2], raw[2:]
		}
		num := raw
		if quantity {
			parts := splitEscaped(raw, '|')
			if len(parts) != 1 && len(parts) != 3 {
				return matcher{}, invalid("a value of %s is not a valid quantity: want "+
					"[prefix]number or [prefix]number|system|code", param.Code)
			}
			num = parts[0]
			if len(parts) == 3 {
				q.system, q.code = parts[1], parts[2]
			}
		}
		var ok bool
		if q.value, q.lo, q.hi, ok = parseNumber(num); !ok {
			return matcher{}, invalid("a value of %s is not a valid number", param.Code)
		}
		queries[i] = q
	}
	return matcher{match: func(items []fhirpath.Item) bool {
		for _, it := range items {
			for _, q := range queries {
				if numberItemMatches(it.Value, q, quantity) {
					return true
				}
			}
		}
		return false
	}}, nil
}

// hasNumber reports whether some item is a number, or for a quantity a
// Quantity with a value.
func hasNumber(items []fhirpath.Item, quantity bool) bool {
	for _, it := range items {
		v := it.Value
		if m, ok := v.(map[string]any); ok && quantity {
			v = m["value"]
		}
		if _, ok := v.(json.Number); ok {
			return true
		}
	}
	return false
}

func numberItemMatches(v any, q numberQuery, quantity bool) bool {
	if quantity {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		system, _ := m["system"].(string)
		code, _ := m["code"].(string)
		unit, _ := m["unit"].(string)
		switch {
		case q.system != "" && (system != q.system || code != q.code):
			return false
		case q.system == "" && q.code != "" && code != q.code && unit != q.code:
			return false
		}
		v = m["value"]
	}
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	target, ok := new(big.Rat).SetString(n.String())
	return ok && numberMatches(q, target)
}

// numberMatches applies a prefix to an exact target value. Equality uses
// the precision of the search value, while gt, lt, ge and le compare with
// the value as written. For a single value sa and eb are gt and lt. The ap
// prefix allows 10% of the value, and at least its precision.
func numberMatches(q numberQuery, t *big.Rat) bool {
	inRange := t.Cmp(q.lo) >= 0 && t.Cmp(q.hi) < 0
	c := t.Cmp(q.value)
	switch q.prefix {
	case "eq":
		return inRange
	case "ne":
		return !inRange
	case "gt", "sa":
		return c > 0
	case "lt", "eb":
		return c < 0
	case "ge":
		return c >= 0
	case "le":
		return c <= 0
	case "ap":
		tenth := new(big.Rat).Abs(q.value)
		tenth.Mul(tenth, big.NewRat(1, 10))
		lo := new(big.Rat).Sub(q.value, tenth)
		hi := new(big.Rat).Add(q.value, tenth)
		if lo.Cmp(q.lo) > 0 {
			lo = q.lo
		}
		if hi.Cmp(q.hi) < 0 {
			hi = q.hi
		}
		return t.Cmp(lo) >= 0 && t.Cmp(hi) <= 0
	}
	return false
}
