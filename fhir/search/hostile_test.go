package search

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestHostileValues sends values that attack other kinds of stores or
// exhaust resources. Each must give the correct result (no match, because
// no resource contains such a value) or a clear *Error, within a second.
func TestHostileValues(t *testing.T) {
	c := loadCorpus(t)
	many := strings.TrimSuffix(strings.Repeat("x,", 1000), ",")
	hundred := strings.TrimSuffix(strings.Repeat("y,", 100), ",")
	deepChain := "subject" + strings.Repeat(".organization", 9) + ".name"
	deepHas := strings.Repeat("_has:DocumentReference:subject:", 10) + "status"
	cases := []struct {
		name, typ string
		params    url.Values
		errCode   string // empty: the search must succeed with no match
	}{
		{"mongo where operator", "Patient", url.Values{"family": {"$where"}}, ""},
		{"mongo ne operator", "Patient", url.Values{"family": {`{"$ne":null}`}}, ""},
		{"mongo operator as key", "Patient", url.Values{"family[$ne]": {"x"}}, "invalid"},
		{"regex metacharacters", "Patient", url.Values{"family": {".*"}}, ""},
		{"regex in contains", "Patient", url.Values{"name:contains": {"(a+)+$"}}, ""},
		{"sql quote", "Patient", url.Values{"identifier": {"' OR 1=1 --"}}, ""},
		{"escaped comma and pipe", "Patient", url.Values{"identifier": {`a\,b\|c`}}, ""},
		{"NUL byte", "Patient", url.Values{"family": {"a\x00b"}}, "invalid"},
		{"invalid UTF-8", "Patient", url.Values{"family": {"\xff\xfe"}}, "invalid"},
		{"100 KB value", "Patient", url.Values{"family": {strings.Repeat("a", 100<<10)}},
			"too-costly"},
		{"1,000 OR values", "Patient", url.Values{"family": {many}}, "too-costly"},
		{"100 OR values", "Patient", url.Values{"gender": {hundred}}, ""},
		{"chain ten deep", "DocumentReference", url.Values{deepChain: {"x"}}, "too-costly"},
		{"_has ten deep", "Patient", url.Values{deepHas: {"current"}}, "too-costly"},
		{"bad date", "Patient", url.Values{"birthdate": {"ge1970-13-45"}}, "invalid"},
		{"bad prefix", "Patient", url.Values{"birthdate": {"xx1970"}}, "invalid"},
		{"bad _count", "Patient", url.Values{"_count": {"many"}}, "invalid"},
		{"bad _sort", "Patient", url.Values{"_sort": {"shoe-size"}}, "invalid"},
		{"unknown modifier", "Patient", url.Values{"family:sounds-like": {"x"}}, "invalid"},
		{"terminology modifier", "Patient", url.Values{"gender:in": {"http://x"}},
			"not-supported"},
		{"missing not boolean", "Patient", url.Values{"family:missing": {"maybe"}}, "invalid"},
		{"empty token", "Patient", url.Values{"gender": {"|"}}, "invalid"},
		{"reference of wrong type", "DocumentReference",
			url.Values{"subject:Patient": {"Group/1"}}, "invalid"},
		{"unsearchable type", "Observation", url.Values{"code": {"x"}}, "not-supported"},
		{"bad cursor", "Patient", url.Values{"gender": {"male"}}, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := Query{Type: tc.typ, Params: tc.params, Handling: "strict"}
			if tc.name == "bad cursor" {
				q.Cursor = "zzz"
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			page, err := c.engine.Search(ctx, c.st, q)
			if tc.errCode == "" {
				if err != nil {
					t.Fatalf("got error %v, want no match", err)
				}
				if len(page.Matches) != 0 {
					t.Errorf("got %d matches, want none", len(page.Matches))
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want an *Error with code %s", err, tc.errCode)
			}
			if se.Code != tc.errCode {
				t.Errorf("code %s (%s), want %s", se.Code, se.Msg, tc.errCode)
			}
			if se.Status != 400 {
				t.Errorf("status %d, want 400", se.Status)
			}
		})
	}
}

// TestErrorsRepeatNoValue checks that error messages, which may reach
// logs, never echo a search value.
func TestErrorsRepeatNoValue(t *testing.T) {
	c := loadCorpus(t)
	secret := "Considine820"
	for _, params := range []url.Values{
		{"birthdate": {secret}},
		{"family:bogus": {secret}},
		{"gender": {secret + "|" + secret + "|" + secret}},
		{"identifier:of-type": {secret}},
	} {
		_, err := c.engine.Search(context.Background(), c.st, Query{Type: "Patient",
			Params: params, Handling: "strict"})
		if err == nil {
			t.Errorf("%v: want an error", params)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q repeats the search value", err)
		}
	}
}

func TestCountIsCapped(t *testing.T) {
	c := loadCorpus(t)
	page := search(t, c, "Patient", "_count=100000")
	if len(page.Matches) != DefaultLimits().MaxCount {
		t.Errorf("got %d matches, want the maximum %d", len(page.Matches),
			DefaultLimits().MaxCount)
	}
	page = search(t, c, "Patient", "_count=0&_total=accurate")
	if len(page.Matches) != 0 || page.Total != len(c.byType["Patient"]) {
		t.Errorf("_count=0: %d matches, total %d", len(page.Matches), page.Total)
	}
}

func TestScanLimit(t *testing.T) {
	c := loadCorpus(t)
	e := NewEngine(testIndexKey, storeLoader{c.st})
	e.SetLimits(Limits{MaxScan: 100})
	_, err := e.Search(context.Background(), c.st, Query{Type: "Patient",
		Params: url.Values{"gender:not": {"male"}, "_total": {"accurate"}}})
	var se *Error
	if !errors.As(err, &se) || se.Code != "too-costly" {
		t.Errorf("got %v, want too-costly", err)
	}
}

func TestTokensAreKeyedAndClean(t *testing.T) {
	lines, err := readNDJSON(testdata + "synthea-10/Patient.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	a := NewEngine(testIndexKey, nil)
	b := NewEngine([]byte("another key of thirty-two bytes!"), nil)
	ta, err := a.Tokens("Patient", lines[1])
	if err != nil {
		t.Fatal(err)
	}
	ta2, _ := a.Tokens("Patient", lines[1])
	tb, _ := b.Tokens("Patient", lines[1])
	if len(ta) < 100 || len(ta) != len(ta2) {
		t.Fatalf("%d tokens, then %d", len(ta), len(ta2))
	}
	other := map[string]bool{}
	for _, tok := range tb {
		other[string(tok)] = true
	}
	for i, tok := range ta {
		if len(tok) != 16 {
			t.Fatalf("token of %d bytes", len(tok))
		}
		if !bytes.Equal(tok, ta2[i]) {
			t.Fatal("tokens differ between two runs")
		}
		if other[string(tok)] {
			t.Fatal("two keys gave a common token")
		}
	}
	joined := bytes.Join(ta, nil)
	for _, phi := range []string{"Cole117", "cole", "Devin82", "1960-04-13", "999-26-9282",
		"555-478-8993", "Haysville"} {
		if bytes.Contains(joined, []byte(phi)) {
			t.Errorf("tokens contain %q in clear", phi)
		}
	}
	if _, err := a.Tokens("DocumentReference", lines[1]); err == nil {
		t.Error("a Patient indexed as a DocumentReference")
	}
	if _, err := a.Tokens("Patient", []byte("{not json")); err == nil {
		t.Error("invalid JSON indexed")
	}
}

func TestConcurrentSearches(t *testing.T) {
	c := smallCorpus(t, dateTargets...)
	want := c.searchAll(t, "Patient", "birthdate=2020")
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 20; j++ {
				got, err := c.trySearchAll("Patient", "birthdate=2020")
				if err == nil && strings.Join(got, ",") != strings.Join(want, ",") {
					err = errors.New("results differ: " + strings.Join(got, ","))
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
