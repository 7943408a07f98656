package search

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/custos/custos/store/sqlite"
)

// smallCorpus indexes the given resources into a fresh SQLite store.
func smallCorpus(t *testing.T, resources ...map[string]any) *corpus {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &corpus{st: st, engine: NewEngine(testIndexKey, storeLoader{st}),
		byType: map[string][]map[string]any{}}
	when := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range resources {
		b, _ := json.Marshal(r)
		w, res, err := c.prepare(b, when.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		c.byType[w.Version.Type] = append(c.byType[w.Version.Type], res)
		if err := st.Put(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Targets of every precision, and Periods with open ends. Each id names
// the value the resource contains.
var dateTargets = []map[string]any{
	{"resourceType": "Patient", "id": "y2020", "birthDate": "2020"},
	{"resourceType": "Patient", "id": "m2020-03", "birthDate": "2020-03"},
	{"resourceType": "Patient", "id": "d2020-03-15", "birthDate": "2020-03-15"},
	{"resourceType": "Patient", "id": "d2020-03-16", "birthDate": "2020-03-16"},
	{"resourceType": "Patient", "id": "d2019-12-31", "birthDate": "2019-12-31"},
	{"resourceType": "Patient", "id": "d2021-01-01", "birthDate": "2021-01-01"},
	{"resourceType": "Patient", "id": "none"},
	{"resourceType": "Patient", "id": "s-noon-utc", "deceasedDateTime": "2020-03-15T12:00:00Z"},
	{"resourceType": "Patient", "id": "s-late-plus10",
		"deceasedDateTime": "2020-03-16T08:30:00+10:00"}, // 2020-03-15T22:30Z
	{"resourceType": "Patient", "id": "s-early-minus5",
		"deceasedDateTime": "2020-03-14T23:59:59-05:00"}, // 2020-03-15T04:59:59Z
	{"resourceType": "Patient", "id": "ms-midnight",
		"deceasedDateTime": "2020-03-16T00:00:00.000Z"},
	{"resourceType": "Patient", "id": "min-2020-03-15", "deceasedDateTime": "2020-03-15T10:00Z"},
	{"resourceType": "DocumentReference", "id": "p-closed", "status": "current",
		"content": []any{map[string]any{}},
		"context": map[string]any{"period": map[string]any{
			"start": "2020-03-01", "end": "2020-03-31"}}},
	{"resourceType": "DocumentReference", "id": "p-open-end", "status": "current",
		"content": []any{map[string]any{}},
		"context": map[string]any{"period": map[string]any{"start": "2020-03-15T08:00:00Z"}}},
	{"resourceType": "DocumentReference", "id": "p-open-start", "status": "current",
		"content": []any{map[string]any{}},
		"context": map[string]any{"period": map[string]any{"end": "2020-03-15"}}},
	{"resourceType": "DocumentReference", "id": "p-long", "status": "current",
		"content": []any{map[string]any{}},
		"context": map[string]any{"period": map[string]any{
			"start": "1850-06-01", "end": "2150-01-01T00:00:00Z"}}},
	{"resourceType": "DocumentReference", "id": "p-none", "status": "current",
		"content": []any{map[string]any{}}},
}

// TestDateBoundaries checks every prefix, at year, month, day, minute,
// second and millisecond precision, against targets of each precision and
// open-ended Periods. The oracle is dateHolds on spans that time.Parse
// computes; a few rows below are also worked out by hand.
func TestDateBoundaries(t *testing.T) {
	c := smallCorpus(t, dateTargets...)
	queryValues := []string{"2020", "2020-03", "2020-03-15", "2020-03-16", "2019-12-31",
		"2020-03-15T12:00", "2020-03-15T12:00:00Z", "2020-03-15T22:30:00Z",
		"2020-03-16T08:30:00+10:00", "2020-03-16T00:00:00.000Z", "2021", "1900", "2200"}
	prefixes := []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"}
	checks := []struct {
		typ, param string
		path       []string
	}{
		{"Patient", "birthdate", []string{"birthDate"}},
		{"Patient", "death-date", []string{"deceasedDateTime"}},
		{"DocumentReference", "period", []string{"context", "period"}},
	}
	for _, ch := range checks {
		for _, prefix := range prefixes {
			for _, v := range queryValues {
				oracleValue := v
				if v == "2020-03-15T12:00" {
					oracleValue = "2020-03-15T12:00Z"
				}
				want := c.idsWhere(ch.typ, func(r rec) bool {
					return anyDate(at(r, ch.path...), prefix, oracleValue)
				})
				query := ch.param + "=" + prefix + urlEscape(v)
				got := c.searchAll(t, ch.typ, query)
				sameIDs(t, ch.typ+"?"+query, got, want)
			}
		}
	}
}

func urlEscape(s string) string {
	out := ""
	for _, r := range s {
		if r == '+' {
			out += "%2B"
		} else {
			out += string(r)
		}
	}
	return out
}

func TestDateBoundariesByHand(t *testing.T) {
	c := smallCorpus(t, dateTargets...)
	cases := []struct{ typ, query, want string }{
		{"Patient", "birthdate=2020", "d2020-03-15,d2020-03-16,m2020-03,y2020"},
		{"Patient", "birthdate=2020-03", "d2020-03-15,d2020-03-16,m2020-03"},
		{"Patient", "birthdate=gt2020-03-15", "d2020-03-16,d2021-01-01,m2020-03,y2020"},
		{"Patient", "birthdate=sa2020-03-15", "d2020-03-16,d2021-01-01"},
		{"Patient", "birthdate=lt2020", "d2019-12-31"},
		{"Patient", "birthdate=le2020", "d2019-12-31,d2020-03-15,d2020-03-16,m2020-03,y2020"},
		{"Patient", "birthdate=eb2020-03", "d2019-12-31"},
		{"Patient", "birthdate=ne2020-03", "d2019-12-31,d2021-01-01,y2020"},
		{"Patient", "death-date=2020-03-15", "min-2020-03-15,s-early-minus5,s-late-plus10," +
			"s-noon-utc"},
		{"Patient", "death-date=2020-03-16T08:30:00%2B10:00", "s-late-plus10"},
		{"Patient", "death-date=ge2020-03-16", "ms-midnight"},
		{"DocumentReference", "period=2020-03-15", ""},
		{"DocumentReference", "period=ge2020-03-15", "p-closed,p-long,p-open-end"},
		{"DocumentReference", "period=le2020-03-15", "p-closed,p-long,p-open-start"},
		{"DocumentReference", "period=gt2100", "p-long,p-open-end"},
		{"DocumentReference", "period=lt1900", "p-long,p-open-start"},
		{"DocumentReference", "period=sa2020-03-14", "p-open-end"},
		{"DocumentReference", "period=eb2020-04", "p-closed,p-open-start"},
	}
	for _, tc := range cases {
		got := c.searchAll(t, tc.typ, tc.query)
		sort.Strings(got)
		if g := fmt.Sprint(got); g != fmt.Sprint(split(tc.want)) {
			t.Errorf("%s?%s = %v, want %v", tc.typ, tc.query, got, split(tc.want))
		}
	}
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestApproximateDate(t *testing.T) {
	c := smallCorpus(t, dateTargets...)
	c.engine.now = func() time.Time { return time.Date(2030, 3, 15, 0, 0, 0, 0, time.UTC) }
	// Ten years from now, so ap widens 2020-03-15 by a year on each side.
	got := c.searchAll(t, "Patient", "birthdate=ap2020-03-15")
	want := []string{"d2019-12-31", "d2020-03-15", "d2020-03-16", "d2021-01-01", "m2020-03",
		"y2020"}
	sameIDs(t, "ap", got, want)
}

func TestParseDateRejects(t *testing.T) {
	for _, v := range []string{"2020-13", "2020-02-30", "20", "2020-01-01T25:00Z", "yesterday",
		"2020-01-01T10", "2020-01-01 10:00"} {
		if _, err := parseDate(v); err == nil {
			t.Errorf("parseDate(%q) gave no error", v)
		}
	}
}

func TestCoverIsExactAndSmall(t *testing.T) {
	r := dateRange{lo: time.Date(2020, 3, 15, 0, 0, 0, 0, time.UTC), hi: maxTime}
	buckets := cover(r)
	if len(buckets) > 90 {
		t.Errorf("open-ended range covered by %d buckets", len(buckets))
	}
	cur := r.lo
	for _, b := range buckets {
		if !b.start.Equal(cur) {
			t.Fatalf("gap before bucket %s", b.key())
		}
		cur = b.end()
	}
	if !cur.Equal(maxTime) {
		t.Errorf("cover ends at %v", cur)
	}
}
