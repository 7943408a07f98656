package fhirpath

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func TestParseEveryDefinition(t *testing.T) {
	files, err := filepath.Glob("../params/*.json")
	if err != nil || len(files) != 94 {
		t.Fatalf("want 94 SearchParameter files, found %d (%v)", len(files), err)
	}
	parsed := 0
	for _, f := range files {
		sp := loadJSON(t, f)
		expr, _ := sp["expression"].(string)
		if expr == "" {
			continue
		}
		if _, err := Parse(expr); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		for _, part := range strings.Split(expr, " | ") {
			if _, err := Parse(part); err != nil {
				t.Errorf("%s part %q: %v", filepath.Base(f), part, err)
			}
		}
		parsed++
	}
	if parsed != 88 {
		t.Errorf("parsed %d expressions, want 88 (94 files less 6 without one)", parsed)
	}
}

// render turns a collection into short text for comparison: strings as
// they are, other values as compact JSON, and a type suffix when known.
func render(items []Item) []string {
	out := []string{}
	for _, it := range items {
		var s string
		if str, ok := it.Value.(string); ok {
			s = str
		} else {
			b, _ := json.Marshal(it.Value)
			s = string(b)
		}
		if it.Type != "" {
			s += " :" + it.Type
		}
		out = append(out, s)
	}
	return out
}

func TestEvaluateExamples(t *testing.T) {
	const dir = "../../../testdata/r4-examples/"
	cases := []struct {
		name, file, expr string
		want             []string
	}{
		{"family names", "Patient-example.json", "Patient.name.family",
			[]string{"Chalmers", "Windsor"}},
		{"given names deduplicated by union", "Patient-example.json",
			"Patient.name.given | Patient.name.given", []string{"Peter", "James", "Jim"}},
		{"phone numbers", "Patient-example.json", "Patient.telecom.where(system='phone').value",
			[]string{"(03) 5555 6473", "(03) 3410 5613", "(03) 5555 8834"}},
		{"no email", "Patient-example.json", "Patient.telecom.where(system='email')",
			[]string{}},
		{"other type selects nothing", "Patient-example.json", "Practitioner.name.family",
			[]string{}},
		{"birth date", "Patient-example.json", "Patient.birthDate", []string{"1974-12-25"}},
		{"deceased false boolean", "Patient-example.json",
			"Patient.deceased.exists() and Patient.deceased != false", []string{"false :boolean"}},
		{"deceased true boolean", "Patient-pat4.json",
			"Patient.deceased.exists() and Patient.deceased != false", []string{"true :boolean"}},
		{"deceased dateTime counts as deceased", "Patient-pat3.json",
			"Patient.deceased.exists() and Patient.deceased != false", []string{"true :boolean"}},
		{"deceased absent", "Patient-pat1.json",
			"Patient.deceased.exists() and Patient.deceased != false", []string{"false :boolean"}},
		{"death date from dateTime choice", "Patient-pat3.json", "(Patient.deceased as dateTime)",
			[]string{"2015-02-14T13:42:00+10:00 :dateTime"}},
		{"death date ignores boolean", "Patient-pat4.json", "(Patient.deceased as dateTime)",
			[]string{}},
		{"ofType function", "Patient-pat3.json", "Patient.deceased.ofType(dateTime)",
			[]string{"2015-02-14T13:42:00+10:00 :dateTime"}},
		{"base type Resource", "Patient-pat1.json", "Resource.id", []string{"pat1"}},
		{"bare id", "Patient-pat1.json", "id", []string{"pat1"}},
		{"audit patient by resolve", "AuditEvent-example-disclosure.json",
			"AuditEvent.agent.who.where(resolve() is Patient) | " +
				"AuditEvent.entity.what.where(resolve() is Patient)",
			[]string{`{"reference":"Patient/example"}`,
				`{"identifier":{"value":"What.id"},"reference":"Patient/example/_history/1"}`}},
		{"audit agent names", "AuditEvent-example-disclosure.json", "AuditEvent.agent.name",
			[]string{"That guy everyone wishes would be caught"}},
		{"audit network addresses", "AuditEvent-example-disclosure.json",
			"AuditEvent.agent.network.address", []string{"custodian.net", "marketing.land"}},
		{"document patient", "DocumentReference-example.json",
			"DocumentReference.subject.where(resolve() is Patient)",
			[]string{`{"reference":"Patient/xcda"}`}},
		{"document contained author not resolved", "DocumentReference-example.json",
			"DocumentReference.author.where(resolve() is Practitioner)",
			[]string{`{"reference":"Practitioner/xcda1"}`}},
		{"document content types", "DocumentReference-example.json",
			"DocumentReference.content.attachment.contentType",
			[]string{"application/hl7-v3+xml"}},
		{"document encounter", "DocumentReference-example.json",
			"DocumentReference.context.encounter", []string{`{"reference":"Encounter/xcda"}`}},
		{"consent data references", "Consent-consent-example-notThis.json",
			"Consent.provision.data.reference", []string{`{"reference":"Task/example3"}`}},
		{"consent patient", "Consent-consent-example-notThis.json", "Consent.patient",
			[]string{`{"display":"P. van de Heuvel","reference":"Patient/f001"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := loadJSON(t, dir+c.file)
			got, err := MustParse(c.expr).Evaluate(res)
			if err != nil {
				t.Fatal(err)
			}
			if g := render(got); !reflect.DeepEqual(g, c.want) {
				t.Errorf("got %q, want %q", g, c.want)
			}
		})
	}
}

func TestEvaluateExtension(t *testing.T) {
	res := map[string]any{
		"resourceType": "Patient",
		"extension": []any{
			map[string]any{"url": "http://a", "valueString": "one"},
			map[string]any{"url": "http://b", "valueString": "two"},
		},
	}
	got, err := MustParse("Patient.extension('http://b').value").Evaluate(res)
	if err != nil {
		t.Fatal(err)
	}
	if g := render(got); !reflect.DeepEqual(g, []string{"two :string"}) {
		t.Errorf("got %q", g)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"unterminated string": "Patient.name.where(use='x)",
		"dangling dot":        "Patient.",
		"unknown character":   "Patient.name[0]",
		"unbalanced":          "(Patient.name",
		"too deep":            strings.Repeat("(", 40) + "id" + strings.Repeat(")", 40),
		"too long":            strings.Repeat("a.", MaxExpressionLength),
	}
	for name, expr := range cases {
		if _, err := Parse(expr); err == nil {
			t.Errorf("%s: Parse(%.40q) gave no error", name, expr)
		}
	}
}

func TestEvaluateUnknownFunction(t *testing.T) {
	_, err := MustParse("Patient.name.descendants()").Evaluate(map[string]any{
		"resourceType": "Patient", "name": []any{map[string]any{"family": "x"}}})
	if err == nil {
		t.Error("want an error for an unsupported function")
	}
}

func TestReferenceType(t *testing.T) {
	cases := map[string]string{
		"Patient/1":                           "Patient",
		"Patient/1/_history/2":                "Patient",
		"http://example.org/fhir/Patient/abc": "Patient",
		"Practitioner?identifier=http://x|1":  "Practitioner",
		"#contained":                          "",
		"urn:uuid:1234":                       "",
		"":                                    "",
	}
	for ref, want := range cases {
		if got := ReferenceType(ref); got != want {
			t.Errorf("ReferenceType(%q) = %q, want %q", ref, got, want)
		}
	}
}

func ExampleExpression_Evaluate() {
	res := map[string]any{"resourceType": "Patient",
		"telecom": []any{map[string]any{"system": "email", "value": "a@b.org"}}}
	items, _ := MustParse("Patient.telecom.where(system='email').value").Evaluate(res)
	fmt.Println(items[0].Value)
	// Output: a@b.org
}
