package app_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/custos/custos/conformance"
	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/auth"
)

// twoPatients loads two Synthea patients and their notes and returns
// their ids, the family name of the second and one note id of each.
type twoPatients struct {
	first, second       string
	secondFamily        string
	firstDoc, secondDoc string
}

func loadTwoPatients(t *testing.T, s *server) twoPatients {
	t.Helper()
	patients := readInputs(t, filepath.Join(testdata, "synthea-10", "Patient.ndjson"))[:2]
	docs := readInputs(t, filepath.Join(testdata, "synthea-10", "DocumentReference.ndjson"))
	var tp twoPatients
	tp.first, tp.second = patients[0].ID, patients[1].ID
	tp.secondFamily = decode(t, patients[1].Raw)["name"].([]any)[0].(map[string]any)["family"].(string)
	for _, p := range patients {
		put(t, s.client, "Patient", p.ID, p.Raw)
	}
	for _, d := range docs {
		switch {
		case tp.firstDoc == "" && bytes.Contains(d.Raw, []byte("Patient/"+tp.first)):
			tp.firstDoc = d.ID
		case tp.secondDoc == "" && bytes.Contains(d.Raw, []byte("Patient/"+tp.second)):
			tp.secondDoc = d.ID
		default:
			continue
		}
		put(t, s.client, "DocumentReference", d.ID, d.Raw)
	}
	if tp.firstDoc == "" || tp.secondDoc == "" {
		t.Fatal("the test data has no note for one of the two patients")
	}
	return tp
}

func put(t testing.TB, c *conformance.Client, typ, id string, body []byte) {
	t.Helper()
	r := c.Do(t, "PUT", typ+"/"+id, body)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("PUT %s/%s: %d %s", typ, id, r.Status, r.Body)
	}
}

// matchIDs returns the ids of every entry of a searchset, match or include.
func matchIDs(t testing.TB, c *conformance.Client, path string) []string {
	t.Helper()
	r := c.Do(t, "GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var ids []string
	entries, _ := r.JSON(t)["entry"].([]any)
	for _, e := range entries {
		res, _ := e.(map[string]any)["resource"].(map[string]any)
		if res["resourceType"] != "OperationOutcome" {
			ids = append(ids, fmt.Sprint(res["resourceType"], "/", res["id"]))
		}
	}
	return ids
}

func TestPatientScopedTokenStaysInCompartment(t *testing.T) {
	s := start(t, "")
	tp := loadTwoPatients(t, s)
	own := s.clientWith(t, auth.MintOptions{Scope: "patient/*.rs launch/patient",
		Patient: tp.first})

	status := func(path string) int { return own.Do(t, "GET", path, nil).Status }
	if st := status("Patient/" + tp.first); st != http.StatusOK {
		t.Fatalf("own record: %d", st)
	}
	refused := []string{
		"Patient/" + tp.second,
		"DocumentReference/" + tp.secondDoc,
		"Patient/" + tp.second + "/_history",
		"Patient/" + tp.second + "/_history/1",
		"Patient/" + tp.second + "/$everything",
	}
	for _, path := range refused {
		if st := status(path); st != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", path, st)
		}
	}

	empty := []string{
		"Patient?_id=" + tp.second,
		"DocumentReference?patient=Patient/" + tp.second,
		"DocumentReference?subject:Patient.family=" + url.QueryEscape(tp.secondFamily),
		"DocumentReference?_id=" + tp.secondDoc + "&_include=DocumentReference:subject",
		"Patient?_id=" + tp.second + "&_revinclude=DocumentReference:subject",
		"Patient/" + tp.second + "/DocumentReference",
		"Patient?_has:DocumentReference:subject:_id=" + tp.secondDoc,
	}
	for _, path := range empty {
		if ids := matchIDs(t, own, path); len(ids) != 0 {
			t.Errorf("GET %s returned %v to another patient's token", path, ids)
		}
	}

	// The same searches on the patient's own data find it.
	if ids := matchIDs(t, own, "DocumentReference?_id="+tp.firstDoc+
		"&_include=DocumentReference:subject"); len(ids) != 2 {
		t.Errorf("own note with its subject: %v", ids)
	}
	history := matchIDs(t, own, "Patient/_history")
	for _, id := range history {
		if id != "Patient/"+tp.first {
			t.Errorf("type history shows %s to another patient's token", id)
		}
	}
	if len(history) == 0 {
		t.Error("type history hides the patient's own record")
	}

	doc := `{"resourceType":"DocumentReference","status":"current","subject":{"reference":` +
		`"Patient/` + tp.second + `"},"content":[{"attachment":{"contentType":"text/plain"}}]}`
	if st := own.Do(t, "POST", "DocumentReference", []byte(doc)).Status; st != http.StatusForbidden {
		t.Errorf("create in another compartment with a read scope: %d, want 403", st)
	}
}

func TestScopesDecideInteractions(t *testing.T) {
	s := start(t, "")
	tp := loadTwoPatients(t, s)
	cases := []struct {
		name   string
		scope  string
		method string
		path   string
		want   int
	}{
		{"v1 read allows read", "user/Patient.read", "GET", "Patient/" + tp.first, 200},
		{"v1 read allows search", "user/Patient.read", "GET", "Patient?_id=" + tp.first, 200},
		{"v1 read refuses delete", "user/Patient.read", "DELETE", "Patient/" + tp.first, 403},
		{"v2 r refuses search", "user/Patient.r", "GET", "Patient?_id=" + tp.first, 403},
		{"v2 s refuses read", "user/Patient.s", "GET", "Patient/" + tp.first, 403},
		{"other type refused", "user/Consent.rs", "GET", "Patient/" + tp.first, 403},
		{"granular category allows", "user/DocumentReference.rs?category=" +
			"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note",
			"GET", "DocumentReference/" + tp.firstDoc, 200},
		{"granular category refuses", "user/DocumentReference.rs?category=http://example.org|x",
			"GET", "DocumentReference/" + tp.firstDoc, 403},
		{"system wildcard", "system/*.read", "GET", "DocumentReference/" + tp.secondDoc, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.clientWith(t, auth.MintOptions{Scope: tc.scope,
				FHIRUser: "Practitioner/scope-test"})
			if r := c.Do(t, tc.method, tc.path, nil); r.Status != tc.want {
				t.Fatalf("%s %s: %d, want %d: %.200s", tc.method, tc.path, r.Status, tc.want, r.Body)
			}
		})
	}
}

// consentFor rewrites an official Consent example to concern patient.
func consentFor(t testing.TB, example, id, patient string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "r4-examples", "Consent-"+example+".json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(`"Patient/f001"`), []byte(`"Patient/`+patient+`"`))
	raw = bytes.Replace(raw, []byte(`"id": "`+example+`"`), []byte(`"id": "`+id+`"`), 1)
	raw = bytes.Replace(raw, []byte(`"id":"`+example+`"`), []byte(`"id":"`+id+`"`), 1)
	return raw
}

func TestConsentDecidesReads(t *testing.T) {
	s := start(t, "")
	tp := loadTwoPatients(t, s)
	// consent-example-notThem has policy OPTIN (deny what is not
	// permitted) and one provision permitting Practitioner/f204, as
	// recipient (PRCP), to access and correct. Its narrative states the
	// opposite, but the coded provision decides.
	put(t, s.client, "Consent", "only-f204", consentFor(t, "consent-example-notThem",
		"only-f204", tp.first))

	named := s.clientWith(t, auth.MintOptions{Scope: "user/*.rs",
		FHIRUser: "Practitioner/f204", Purposes: []string{"TREAT"}})
	other := s.clientWith(t, auth.MintOptions{Scope: "user/*.rs",
		FHIRUser: "Practitioner/f202", Purposes: []string{"TREAT"}})
	if st := named.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != http.StatusOK {
		t.Errorf("permitted practitioner read: %d, want 200", st)
	}
	r := other.Do(t, "GET", "Patient/"+tp.first, nil)
	if r.Status != http.StatusForbidden || !bytes.Contains(r.Body, []byte("consent")) {
		t.Errorf("other practitioner read: %d %s, want a 403 naming the consent", r.Status, r.Body)
	}
	if st := other.Do(t, "GET", "Patient/"+tp.second, nil).Status; st != http.StatusOK {
		t.Errorf("other practitioner reading a patient without consent: %d, want 200", st)
	}
	if ids := matchIDs(t, other, "DocumentReference?patient=Patient/"+tp.first); len(ids) != 0 {
		t.Errorf("other practitioner's search found %v", ids)
	}
	if ids := matchIDs(t, named, "DocumentReference?patient=Patient/"+tp.first); len(ids) == 0 {
		t.Errorf("permitted practitioner's search found nothing")
	}
	r = other.Do(t, "GET", "DocumentReference?_id="+tp.firstDoc+","+tp.secondDoc+
		"&_total=accurate", nil)
	if total := fmt.Sprint(r.JSON(t)["total"]); total != "1" {
		t.Errorf("_total counts %s, want 1 (the note the consent does not cover)", total)
	}
	if ids := matchIDs(t, other, "Patient/"+tp.second+"/$everything"); len(ids) == 0 {
		t.Errorf("$everything of the other patient found nothing")
	}
	if st := other.Do(t, "GET", "Patient/"+tp.first+"/_history", nil).Status; st != http.StatusForbidden {
		t.Errorf("other practitioner's history read: %d, want 403", st)
	}

	patient := s.clientWith(t, auth.MintOptions{Scope: "patient/*.rs", Patient: tp.first,
		FHIRUser: "Patient/" + tp.first})
	if st := patient.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != http.StatusOK {
		t.Errorf("patient reading their own record: %d", st)
	}

	// Revoking the consent takes effect at once.
	revoked := bytes.Replace(consentFor(t, "consent-example-notThem", "only-f204", tp.first),
		[]byte(`"status": "active"`), []byte(`"status": "inactive"`), 1)
	put(t, s.client, "Consent", "only-f204", revoked)
	if st := other.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != http.StatusOK {
		t.Errorf("read after the consent was revoked: %d, want 200", st)
	}
}

func TestBreakGlass(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed %v", allowed), func(t *testing.T) {
			s := startWith(t, "", func(o *app.Options) { o.Consent.BreakGlass = allowed })
			tp := loadTwoPatients(t, s)
			put(t, s.client, "Consent", "only-f204", consentFor(t, "consent-example-notThem",
				"only-f204", tp.first))
			emergency := s.clientWith(t, auth.MintOptions{Scope: "user/*.rs",
				FHIRUser: "Practitioner/f202", Purposes: []string{"ETREAT"}})
			want := http.StatusForbidden
			if allowed {
				want = http.StatusOK
			}
			if st := emergency.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != want {
				t.Fatalf("emergency read: %d, want %d", st, want)
			}
		})
	}
}

func TestOptInDefault(t *testing.T) {
	s := startWith(t, "", func(o *app.Options) { o.Consent.Default = "opt-in" })
	tp := loadTwoPatients(t, s)
	doctor := s.clientWith(t, auth.MintOptions{Scope: "user/*.rs",
		FHIRUser: "Practitioner/any"})
	if st := doctor.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != http.StatusForbidden {
		t.Errorf("opt-in read without a consent: %d, want 403", st)
	}
	// consent-example-smartonfhir permits... only what it names; a plain
	// active consent without provisions under OPTOUT permits all.
	permit := `{"resourceType":"Consent","id":"permit-all","status":"active",` +
		`"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",` +
		`"code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org",` +
		`"code":"59284-0"}]}],"patient":{"reference":"Patient/` + tp.first + `"},` +
		`"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",` +
		`"code":"OPTOUT"}]}}`
	put(t, s.client, "Consent", "permit-all", []byte(permit))
	if st := doctor.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != http.StatusOK {
		t.Errorf("opt-in read with an opt-out consent: %d, want 200", st)
	}
	if st := doctor.Do(t, "GET", "Patient/"+tp.second, nil).Status; st != http.StatusForbidden {
		t.Errorf("opt-in read of a patient without consent: %d, want 403", st)
	}
}

func TestConsentDecisionExplains(t *testing.T) {
	s := start(t, "")
	tp := loadTwoPatients(t, s)
	put(t, s.client, "Consent", "only-f204", consentFor(t, "consent-example-notThem",
		"only-f204", tp.first))
	param := func(body map[string]any, name string) map[string]any {
		for _, p := range body["parameter"].([]any) {
			if m := p.(map[string]any); m["name"] == name {
				return m
			}
		}
		return nil
	}
	cases := []struct {
		actor, decision, provision string
	}{
		{"Practitioner/f204", "permit", "provision"},
		{"Practitioner/f202", "deny", ""},
	}
	for _, tc := range cases {
		r := s.client.Do(t, "GET", "Patient/"+tp.first+"/$consent-decision?actor="+tc.actor+
			"&purpose=TREAT&type=DocumentReference", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("$consent-decision: %d %s", r.Status, r.Body)
		}
		body := r.JSON(t)
		if got := param(body, "decision")["valueCode"]; got != tc.decision {
			t.Errorf("%s: decision %v, want %s", tc.actor, got, tc.decision)
		}
		ref := param(body, "consent")["valueReference"].(map[string]any)["reference"]
		if ref != "Consent/only-f204" {
			t.Errorf("%s: deciding consent %v", tc.actor, ref)
		}
		if tc.provision != "" && param(body, "provision")["valueString"] != tc.provision {
			t.Errorf("%s: provision %v, want %s", tc.actor, param(body, "provision"), tc.provision)
		}
		if param(body, "evaluated") == nil {
			t.Errorf("%s: no evaluated Consents listed", tc.actor)
		}
	}
	none := s.client.Do(t, "GET", "Patient/"+tp.second+"/$consent-decision?actor=Practitioner/x", nil)
	if got := param(none.JSON(t), "decision")["valueCode"]; got != "permit" {
		t.Errorf("patient without a consent under opt-out: %v", got)
	}
}
