package search

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

func patientRefOf(r rec) []string { return refsAt(r, "subject") }

func TestChainedParameters(t *testing.T) {
	c := loadCorpus(t)
	patients := func(pred func(r rec) bool) map[string]bool {
		out := map[string]bool{}
		for _, id := range c.idsWhere("Patient", pred) {
			out["Patient/"+id] = true
		}
		return out
	}
	cases := []struct {
		name, query string
		targets     map[string]bool
	}{
		{"patient family", "patient.family=cole117",
			patients(func(r rec) bool {
				return startsWithFolded(strsAt(r, "name", "family"), "cole117")
			})},
		{"typed subject birthdate", "subject:Patient.birthdate=1960-04-13",
			patients(func(r rec) bool { return anyDate(at(r, "birthDate"), "eq", "1960-04-13") })},
		{"patient identifier", "patient.identifier=" + ssnSystem + "|999-26-9282",
			patients(func(r rec) bool {
				return hasToken(at(r, "identifier"), ssnSystem, "999-26-9282")
			})},
		{"patient gender and family", "patient.family=cole117&patient.gender=female",
			patients(func(r rec) bool {
				return startsWithFolded(strsAt(r, "name", "family"), "cole117") &&
					hasToken(at(r, "gender"), "", "female")
			})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := c.idsWhere("DocumentReference", func(r rec) bool {
				for _, ref := range patientRefOf(r) {
					if tc.targets[ref] {
						return true
					}
				}
				return false
			})
			got := c.searchAll(t, "DocumentReference", tc.query)
			sameIDs(t, tc.query, got, want)
		})
	}
}

func TestReverseChain(t *testing.T) {
	c := loadCorpus(t)
	referenced := map[string]bool{}
	for _, d := range c.byType["DocumentReference"] {
		if hasToken(at(d, "status"), "", "current") {
			for _, ref := range patientRefOf(d) {
				referenced[ref] = true
			}
		}
	}
	want := c.idsWhere("Patient", func(r rec) bool {
		return referenced["Patient/"+r["id"].(string)]
	})
	if len(want) < 10 {
		t.Fatalf("oracle finds only %d patients", len(want))
	}
	got := c.searchAll(t, "Patient", "_has:DocumentReference:subject:status=current")
	sameIDs(t, "_has", got, want)

	got = c.searchAll(t, "Patient", "_has:DocumentReference:subject:status=current&gender=male")
	wantMale := c.idsWhere("Patient", func(r rec) bool {
		return referenced["Patient/"+r["id"].(string)] && r["gender"] == "male"
	})
	sameIDs(t, "_has and gender", got, wantMale)
}

func search(t *testing.T, c *corpus, typ, query string) Page {
	t.Helper()
	vals, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.engine.Search(context.Background(), c.st, Query{Type: typ, Params: vals,
		Handling: "strict"})
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, query, err)
	}
	return page
}

func entryIDs(entries []Entry) []string {
	ids := []string{}
	for _, e := range entries {
		ids = append(ids, e.Type+"/"+e.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestIncludeAndRevinclude(t *testing.T) {
	c := loadCorpus(t)
	const doc = "00cfe53c-1fd4-f9de-0709-0e0317492e8c"
	var subject string
	for _, d := range c.byType["DocumentReference"] {
		if d["id"] == doc {
			subject = patientRefOf(d)[0]
		}
	}
	page := search(t, c, "DocumentReference", "_id="+doc+"&_include=DocumentReference:subject")
	if got := entryIDs(page.Matches); len(got) != 1 || got[0] != "DocumentReference/"+doc {
		t.Errorf("matches %v", got)
	}
	sameIDs(t, "_include", entryIDs(page.Includes), []string{subject})

	var docsOfSubject []string
	for _, d := range c.byType["DocumentReference"] {
		if patientRefOf(d)[0] == subject {
			docsOfSubject = append(docsOfSubject, "DocumentReference/"+d["id"].(string))
		}
	}
	sort.Strings(docsOfSubject)
	pid := strings.TrimPrefix(subject, "Patient/")
	page = search(t, c, "Patient", "_id="+pid+"&_revinclude=DocumentReference:subject")
	sameIDs(t, "_revinclude", entryIDs(page.Includes), docsOfSubject)

	// The subject, then every other note of the subject by :iterate.
	page = search(t, c, "DocumentReference", "_id="+doc+
		"&_include=DocumentReference:subject&_revinclude:iterate=DocumentReference:subject")
	want := []string{subject}
	for _, d := range docsOfSubject {
		if d != "DocumentReference/"+doc {
			want = append(want, d)
		}
	}
	sort.Strings(want)
	sameIDs(t, "_include then _revinclude:iterate", entryIDs(page.Includes), want)
}

func TestSortSeveralKeys(t *testing.T) {
	c := loadCorpus(t)
	page := search(t, c, "Patient", "family=c&_sort=-birthdate,given&_count=1000")
	var pats []rec
	for _, p := range c.byType["Patient"] {
		if startsWithFolded(strs(at(p, "name", "family")), "c") {
			pats = append(pats, p)
		}
	}
	minGiven := func(r rec) string {
		g := []string{}
		for _, s := range strsAt(r, "name", "given") {
			g = append(g, fold(s))
		}
		sort.Strings(g)
		if len(g) == 0 {
			return "\uffff"
		}
		return g[0]
	}
	sort.SliceStable(pats, func(i, j int) bool {
		bi, _ := pats[i]["birthDate"].(string)
		bj, _ := pats[j]["birthDate"].(string)
		if bi != bj {
			return bi > bj
		}
		gi, gj := minGiven(pats[i]), minGiven(pats[j])
		if gi != gj {
			return gi < gj
		}
		return pats[i]["id"].(string) < pats[j]["id"].(string)
	})
	if len(pats) < 50 || len(page.Matches) != len(pats) {
		t.Fatalf("got %d matches, oracle %d", len(page.Matches), len(pats))
	}
	for i := range pats {
		if page.Matches[i].ID != pats[i]["id"] {
			t.Fatalf("position %d: got %s, want %s", i, page.Matches[i].ID, pats[i]["id"])
		}
	}
}

func TestSortPagesAndBound(t *testing.T) {
	c := loadCorpus(t)
	all := search(t, c, "Patient", "family=c&_sort=birthdate&_count=1000")
	var paged []Entry
	q := Query{Type: "Patient", Params: url.Values{"family": {"c"}, "_sort": {"birthdate"},
		"_count": {"7"}}}
	for {
		page, err := c.engine.Search(context.Background(), c.st, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.Matches...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if len(paged) != len(all.Matches) {
		t.Fatalf("paged %d, one page %d", len(paged), len(all.Matches))
	}
	for i := range paged {
		if paged[i].ID != all.Matches[i].ID {
			t.Fatalf("position %d differs", i)
		}
	}

	bounded := NewEngine(testIndexKey, storeLoader{c.st})
	bounded.SetLimits(Limits{MaxSort: 10})
	_, err := bounded.Search(context.Background(), c.st, Query{Type: "Patient",
		Params: url.Values{"_sort": {"family"}}})
	var se *Error
	if !errors.As(err, &se) || se.Code != "too-costly" || !strings.Contains(se.Msg, "narrow") {
		t.Errorf("sort past the bound: got %v, want too-costly saying how to narrow", err)
	}
}

func TestPagingStableWhileDataChanges(t *testing.T) {
	var pats []map[string]any
	for i := 0; i < 30; i++ {
		pats = append(pats, map[string]any{"resourceType": "Patient",
			"id": string(rune('a'+i/10)) + string(rune('0'+i%10)), "gender": "female"})
	}
	c := smallCorpus(t, pats...)
	q := Query{Type: "Patient", Params: url.Values{"gender": {"female"}, "_count": {"10"}}}
	first, err := c.engine.Search(context.Background(), c.st, q)
	if err != nil {
		t.Fatal(err)
	}
	if first.Next == "" || len(first.Matches) != 10 {
		t.Fatalf("first page: %d matches, next %q", len(first.Matches), first.Next)
	}
	// Add one resource before the cursor and one after, delete one after.
	for _, id := range []string{"a55", "b55"} {
		b, _ := json.Marshal(map[string]any{"resourceType": "Patient", "id": id,
			"gender": "female"})
		w, _, err := c.prepare(b, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.st.Put(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	storeDelete(t, c, "Patient", "c5")
	var rest []string
	q.Cursor = first.Next
	for q.Cursor != "" {
		page, err := c.engine.Search(context.Background(), c.st, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Matches {
			rest = append(rest, m.ID)
		}
		q.Cursor = page.Next
	}
	want := []string{"b0", "b1", "b2", "b3", "b4", "b5", "b55", "b6", "b7", "b8", "b9",
		"c0", "c1", "c2", "c3", "c4", "c6", "c7", "c8", "c9"}
	sameIDs(t, "later pages", rest, want)
}

func TestTotals(t *testing.T) {
	c := loadCorpus(t)
	want := c.idsWhere("Patient", func(r rec) bool { return r["gender"] == "female" })
	page := search(t, c, "Patient", "gender=female&_count=5&_total=accurate")
	if !page.HasTotal || page.Total != len(want) {
		t.Errorf("accurate total %d (set %v), want %d", page.Total, page.HasTotal, len(want))
	}
	page = search(t, c, "Patient", "gender=female&_count=5&_total=estimate")
	if !page.HasTotal || page.Total < len(want) {
		t.Errorf("estimate %d, want at least %d", page.Total, len(want))
	}
	page = search(t, c, "Patient", "gender=female&_count=5")
	if page.HasTotal {
		t.Errorf("total reported without _total on a partial result")
	}
	page = search(t, c, "Patient", "gender=female&_summary=count")
	if !page.HasTotal || page.Total != len(want) || len(page.Matches) != 0 {
		t.Errorf("_summary=count: total %d, %d entries", page.Total, len(page.Matches))
	}
}

func TestFilterHidesFromResultsAndTotal(t *testing.T) {
	c := loadCorpus(t)
	hidden := func(id string) bool { return id[0] < '8' }
	want := c.idsWhere("Patient", func(r rec) bool {
		return r["gender"] == "male" && !hidden(r["id"].(string))
	})
	q := Query{Type: "Patient", Params: url.Values{"gender": {"male"}, "_count": {"1000"},
		"_total": {"accurate"}},
		Filter: func(typ, id string, _ []byte) bool { return !hidden(id) }}
	page, err := c.engine.Search(context.Background(), c.st, q)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "filtered", idsOf(page.Matches), want)
	if page.Total != len(want) {
		t.Errorf("total %d, want %d", page.Total, len(want))
	}
}

func idsOf(entries []Entry) []string {
	ids := []string{}
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestStrictAndLenientHandling(t *testing.T) {
	c := loadCorpus(t)
	vals := url.Values{"gender": {"other"}, "favourite-colour": {"blue"}}
	_, err := c.engine.Search(context.Background(), c.st, Query{Type: "Patient", Params: vals,
		Handling: "strict"})
	var se *Error
	if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(se.Msg, "favourite-colour") {
		t.Fatalf("strict: got %v, want a 400 naming the parameter", err)
	}
	page, err := c.engine.Search(context.Background(), c.st, Query{Type: "Patient",
		Params: vals, Handling: "lenient"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Ignored) != 1 || page.Ignored[0] != "favourite-colour" {
		t.Errorf("ignored %v", page.Ignored)
	}
	want := c.idsWhere("Patient", func(r rec) bool { return r["gender"] == "other" })
	sameIDs(t, "lenient", idsOf(page.Matches), want)
}

func TestElementsAndSummary(t *testing.T) {
	c := loadCorpus(t)
	page := search(t, c, "Patient", "_id="+synPatient+"&_elements=gender,birthDate")
	var got map[string]any
	if err := json.Unmarshal(page.Matches[0].Resource, &got); err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "birthDate,gender,id,meta,resourceType" {
		t.Errorf("_elements kept %v", keys)
	}
	if !strings.Contains(string(page.Matches[0].Resource), `"SUBSETTED"`) {
		t.Error("no SUBSETTED tag")
	}
	page = search(t, c, "Patient", "_id="+synPatient+"&_summary=true")
	summary := map[string]any{}
	if err := json.Unmarshal(page.Matches[0].Resource, &summary); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"extension", "text", "communication", "maritalStatus"} {
		if _, ok := summary[absent]; ok {
			t.Errorf("_summary=true kept %s", absent)
		}
	}
	for _, present := range []string{"name", "birthDate", "identifier", "deceasedDateTime"} {
		if _, ok := summary[present]; !ok {
			t.Errorf("_summary=true dropped %s", present)
		}
	}
	page = search(t, c, "Patient", "_id="+synPatient+"&_summary=data")
	if strings.Contains(string(page.Matches[0].Resource), `"div"`) {
		t.Error("_summary=data kept the narrative")
	}
}

func TestParamsListsWhatWorks(t *testing.T) {
	e := NewEngine(testIndexKey, nil)
	byCode := func(typ string) map[string]Param {
		out := map[string]Param{}
		for _, p := range e.Params(typ) {
			out[p.Code] = p
		}
		return out
	}
	pat := byCode("Patient")
	for _, code := range []string{"family", "given", "name", "birthdate", "identifier",
		"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_has",
		"death-date", "deceased", "email", "phone", "address-city", "mothersMaidenName"} {
		if _, ok := pat[code]; !ok {
			t.Errorf("Patient lacks %s", code)
		}
	}
	for _, code := range []string{"phonetic", "_content", "_text", "_query", "_filter", "age",
		"part-agree"} {
		if _, ok := pat[code]; ok {
			t.Errorf("Patient lists unsupported %s", code)
		}
	}
	if got := pat["family"].Expression; got != "Patient.name.family" {
		t.Errorf("family expression %q", got)
	}
	doc := byCode("DocumentReference")
	const docPatient = "DocumentReference.subject.where(resolve() is Patient)"
	if got := doc["patient"].Expression; got != docPatient {
		t.Errorf("DocumentReference patient expression %q", got)
	}
	if p, ok := doc["relationship"]; !ok || p.Type != "composite" {
		t.Error("composite relationship is not listed")
	}
	got := strings.Join(doc["subject"].Targets, ",")
	if got != "Practitioner,Group,Device,Patient" {
		t.Errorf("subject targets %v", got)
	}
	if got := byCode("Consent")["date"].Expression; got != "Consent.dateTime" {
		t.Errorf("Consent date expression %q", got)
	}
	if n := len(byCode("AuditEvent")); n != 18+7 {
		t.Errorf("AuditEvent has %d parameters, want 18 of its own and 7 common", n)
	}
	if e.Params("Observation") != nil {
		t.Error("unknown type has parameters")
	}
}

func TestMetaParameters(t *testing.T) {
	sec := "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	c := smallCorpus(t,
		map[string]any{"resourceType": "Consent", "id": "tagged", "status": "active",
			"meta": map[string]any{
				"tag":      []any{map[string]any{"system": "urn:custos:test", "code": "import"}},
				"security": []any{map[string]any{"system": sec, "code": "R"}},
				"source":   "urn:custos:importer#run1"}},
		map[string]any{"resourceType": "Consent", "id": "plain", "status": "active"},
	)
	cases := []struct{ query, want string }{
		{"_tag=urn:custos:test|import", "tagged"},
		{"_tag=import", "tagged"},
		{"_tag:not=import", "plain"},
		{"_security=" + sec + "|R", "tagged"},
		{"_security=" + sec + "|", "tagged"},
		{"_security:missing=true", "plain"},
		{"_source=urn:custos:importer#run1", "tagged"},
		{"_source=urn:custos:importer", ""},
		{"_id=plain", "plain"},
		{"_lastUpdated=2026-02-01T00:00:01Z", "plain"},
		{"_lastUpdated=2026-02-01", "plain,tagged"},
	}
	for _, tc := range cases {
		got := c.searchAll(t, "Consent", escapeQuery(tc.query))
		sameIDs(t, tc.query, got, split(tc.want))
	}
}

// escapeQuery escapes the characters a raw query would misread (# and +)
// in a query string written by hand.
func escapeQuery(q string) string {
	return strings.NewReplacer("#", "%23", "+", "%2B").Replace(q)
}

func TestMothersMaidenNameExtension(t *testing.T) {
	c := smallCorpus(t,
		map[string]any{"resourceType": "Patient", "id": "defined-url", "extension": []any{
			map[string]any{"url": maidenNameURL, "valueString": "Harold594 VonRueden376"}}},
		map[string]any{"resourceType": "Patient", "id": "synthea-url", "extension": []any{
			map[string]any{"url": "http://hl7.org/fhir/StructureDefinition/" +
				"patient-mothersMaidenName", "valueString": "Harold594 VonRueden376"}}},
	)
	sameIDs(t, "prefix", c.searchAll(t, "Patient", "mothersMaidenName=harold"),
		[]string{"defined-url"})
	sameIDs(t, "contains", c.searchAll(t, "Patient", "mothersMaidenName:contains=vonrue"),
		[]string{"defined-url"})
}
