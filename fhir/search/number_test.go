package search

import (
	"testing"

	"github.com/custos/custos/fhir/search/fhirpath"
)

// addTestParam registers a parameter that no R4 definition provides, so
// that number and quantity search can be tested on Patient extensions.
func addTestParam(e *Engine, code, typ, expr string) {
	e.reg["Patient"][code] = &Param{Code: code, Type: typ, Expression: expr,
		expr: fhirpath.MustParse(expr)}
}

func TestNumberAndQuantitySearch(t *testing.T) {
	ext := func(id string, ext map[string]any) map[string]any {
		ext["url"] = "http://example.org/measure"
		return map[string]any{"resourceType": "Patient", "id": id, "extension": []any{ext}}
	}
	qty := func(v float64, code string) map[string]any {
		return map[string]any{"valueQuantity": map[string]any{"value": v,
			"system": "http://unitsofmeasure.org", "code": code, "unit": code}}
	}
	c := smallCorpus(t,
		ext("n99-4", map[string]any{"valueDecimal": 99.4}),
		ext("n99-5", map[string]any{"valueDecimal": 99.5}),
		ext("n100", map[string]any{"valueDecimal": 100}),
		ext("n100-49", map[string]any{"valueDecimal": 100.49}),
		ext("n100-5", map[string]any{"valueDecimal": 100.5}),
		ext("n120", map[string]any{"valueDecimal": 120}),
		ext("q5mg", qty(5, "mg")),
		ext("q5g", qty(5, "g")),
		ext("q7mg", qty(7, "mg")),
		map[string]any{"resourceType": "Patient", "id": "none"},
	)
	expr := "Patient.extension('http://example.org/measure').value"
	addTestParam(c.engine, "test-number", "number", expr)
	addTestParam(c.engine, "test-quantity", "quantity", expr)
	cases := []struct{ query, want string }{
		{"test-number=100", "n100,n100-49,n99-5"},
		{"test-number=100.0", "n100"},
		{"test-number=1e2", "n100,n100-49,n100-5,n120,n99-4,n99-5"},
		{"test-number=gt100", "n100-49,n100-5,n120"},
		{"test-number=ge100", "n100,n100-49,n100-5,n120"},
		{"test-number=lt99.5", "n99-4"},
		{"test-number=le100", "n100,n99-4,n99-5"},
		{"test-number=ne100", "n100-5,n120,n99-4"},
		{"test-number=ap110", "n100,n100-49,n100-5,n120,n99-4,n99-5"},
		{"test-number=100,120", "n100,n100-49,n120,n99-5"},
		{"test-number:missing=true", "none,q5g,q5mg,q7mg"},
		{"test-quantity=5|http://unitsofmeasure.org|mg", "q5mg"},
		{"test-quantity=5||g", "q5g"},
		{"test-quantity=gt4|http://unitsofmeasure.org|mg", "q5mg,q7mg"},
		{"test-quantity=5", "q5g,q5mg"},
	}
	for _, tc := range cases {
		got := c.searchAll(t, "Patient", escapeQuery(tc.query))
		sameIDs(t, tc.query, got, split(tc.want))
	}
	for _, bad := range []string{"test-number=abc", "test-number=1e999",
		"test-quantity=5|mg", "test-number:exact=1"} {
		if _, err := c.trySearchAll("Patient", bad); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}
