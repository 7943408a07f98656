package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Run runs every check of the suite against the client's base.
func Run(t *testing.T, c *Client) {
	t.Run("capability statement", func(t *testing.T) { capabilityStatement(t, c) })
	if c.Header.Get("Authorization") != "" {
		t.Run("authentication", func(t *testing.T) { authentication(t, c) })
	}
	t.Run("create and read", func(t *testing.T) { createAndRead(t, c) })
	t.Run("conditional read", func(t *testing.T) { conditionalRead(t, c) })
	t.Run("update and versions", func(t *testing.T) { updateAndVersions(t, c) })
	t.Run("update as create", func(t *testing.T) { updateAsCreate(t, c) })
	t.Run("delete", func(t *testing.T) { deleteResource(t, c) })
	t.Run("history paging", func(t *testing.T) { historyPaging(t, c) })
	t.Run("prefer return", func(t *testing.T) { preferReturn(t, c) })
	t.Run("formats", func(t *testing.T) { formats(t, c) })
	t.Run("bad input", func(t *testing.T) { badInput(t, c) })
	t.Run("other types", func(t *testing.T) { otherTypes(t, c) })
	t.Run("precision and meta", func(t *testing.T) { precisionAndMeta(t, c) })
	t.Run("search", func(t *testing.T) { searchChecks(t, c) })
}

// samplePatient returns a small Patient body with a marker family name.
func samplePatient(family string) []byte {
	return []byte(`{"resourceType":"Patient","active":true,"name":[{"family":"` + family +
		`","given":["Ada"]}],"gender":"female","birthDate":"1970-03-04"}`)
}

var locationPattern = regexp.MustCompile(`/Patient/([A-Za-z0-9\-.]{1,64})/_history/1$`)

// create posts body and returns the new id.
func create(t testing.TB, c *Client, typ string, body []byte) string {
	t.Helper()
	r := c.Do(t, "POST", typ, body)
	expectStatus(t, r, http.StatusCreated, "create "+typ)
	m := r.JSON(t)
	id, _ := m["id"].(string)
	if id == "" {
		t.Fatalf("created %s has no id", typ)
	}
	return id
}

func meta(t testing.TB, m map[string]any) (versionID, lastUpdated string) {
	t.Helper()
	mm, _ := m["meta"].(map[string]any)
	v, _ := mm["versionId"].(string)
	l, _ := mm["lastUpdated"].(string)
	return v, l
}

func capabilityStatement(t *testing.T, c *Client) {
	r := c.Do(t, "GET", "metadata", nil)
	expectStatus(t, r, http.StatusOK, "metadata")
	m := r.JSON(t)
	if m["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata is a %v", m["resourceType"])
	}
	if m["fhirVersion"] != "4.0.1" {
		t.Errorf("fhirVersion %v, want 4.0.1", m["fhirVersion"])
	}
	rest, _ := m["rest"].([]any)
	if len(rest) == 0 {
		t.Fatal("CapabilityStatement has no rest")
	}
	types := map[string]bool{}
	for _, res := range rest[0].(map[string]any)["resource"].([]any) {
		types[res.(map[string]any)["type"].(string)] = true
	}
	for _, want := range []string{"Patient", "DocumentReference", "Consent", "AuditEvent"} {
		if !types[want] {
			t.Errorf("CapabilityStatement does not list %s", want)
		}
	}
}

func createAndRead(t *testing.T, c *Client) {
	body := []byte(`{"resourceType":"Patient","id":"ignored-by-server","name":[{"family":"Zed"}]}`)
	r := c.Do(t, "POST", "Patient", body)
	expectStatus(t, r, http.StatusCreated, "create")
	loc := r.Header.Get("Location")
	m := locationPattern.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("Location %q is not BASE/Patient/ID/_history/1", loc)
	}
	id := m[1]
	if id == "ignored-by-server" {
		t.Errorf("server kept the client's id on create")
	}
	if got := r.Header.Get("ETag"); got != `W/"1"` {
		t.Errorf("ETag %q, want W/\"1\"", got)
	}
	if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q is not an HTTP date", r.Header.Get("Last-Modified"))
	}
	created := r.JSON(t)
	if created["id"] != id {
		t.Errorf("body id %v, Location id %s", created["id"], id)
	}
	v, last := meta(t, created)
	if v != "1" {
		t.Errorf("meta.versionId %q, want 1", v)
	}
	if _, err := time.Parse(time.RFC3339Nano, last); err != nil {
		t.Errorf("meta.lastUpdated %q is not an instant", last)
	}

	read := c.Do(t, "GET", "Patient/"+id, nil)
	expectStatus(t, read, http.StatusOK, "read")
	if ct := read.Header.Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !bytes.Equal(read.Body, r.Body) {
		t.Errorf("read body differs from create body:\n%s\n%s", read.Body, r.Body)
	}
	if got := read.Header.Get("ETag"); got != `W/"1"` {
		t.Errorf("read ETag %q", got)
	}

	missing := c.Do(t, "GET", "Patient/does-not-exist-"+id[:8], nil)
	expectOutcome(t, missing, http.StatusNotFound, "read unknown id")
}

func conditionalRead(t *testing.T, c *Client) {
	id := create(t, c, "Patient", samplePatient("Conditional"))
	r := c.Do(t, "GET", "Patient/"+id, nil, "If-None-Match", `W/"1"`)
	expectStatus(t, r, http.StatusNotModified, "If-None-Match current")
	if len(r.Body) != 0 {
		t.Errorf("304 has a body")
	}
	r = c.Do(t, "GET", "Patient/"+id, nil, "If-None-Match", `W/"7"`)
	expectStatus(t, r, http.StatusOK, "If-None-Match other version")

	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	r = c.Do(t, "GET", "Patient/"+id, nil, "If-Modified-Since", future)
	expectStatus(t, r, http.StatusNotModified, "If-Modified-Since later")
	past := time.Now().Add(-24 * time.Hour).UTC().Format(http.TimeFormat)
	r = c.Do(t, "GET", "Patient/"+id, nil, "If-Modified-Since", past)
	expectStatus(t, r, http.StatusOK, "If-Modified-Since earlier")
}

func withID(body []byte, id string) []byte {
	return bytes.Replace(body, []byte(`{"resourceType":"Patient",`),
		[]byte(`{"resourceType":"Patient","id":"`+id+`",`), 1)
}

func updateAndVersions(t *testing.T, c *Client) {
	id := create(t, c, "Patient", samplePatient("Version"))
	r := c.Do(t, "PUT", "Patient/"+id, withID(samplePatient("VersionTwo"), id))
	expectStatus(t, r, http.StatusOK, "update")
	if got := r.Header.Get("ETag"); got != `W/"2"` {
		t.Errorf("update ETag %q, want W/\"2\"", got)
	}

	stale := c.Do(t, "PUT", "Patient/"+id, withID(samplePatient("Stale"), id),
		"If-Match", `W/"1"`)
	expectOutcome(t, stale, http.StatusPreconditionFailed, "stale If-Match")

	fresh := c.Do(t, "PUT", "Patient/"+id, withID(samplePatient("Three"), id),
		"If-Match", `W/"2"`)
	expectStatus(t, fresh, http.StatusOK, "current If-Match")
	if v, _ := meta(t, fresh.JSON(t)); v != "3" {
		t.Errorf("versionId %q after If-Match update, want 3", v)
	}

	v1 := c.Do(t, "GET", "Patient/"+id+"/_history/1", nil)
	expectStatus(t, v1, http.StatusOK, "vread 1")
	if !bytes.Contains(v1.Body, []byte(`"Version"`)) || bytes.Contains(v1.Body, []byte("Three")) {
		t.Errorf("vread 1 returned another version: %s", v1.Body)
	}
	if got := v1.Header.Get("ETag"); got != `W/"1"` {
		t.Errorf("vread ETag %q", got)
	}
	expectOutcome(t, c.Do(t, "GET", "Patient/"+id+"/_history/99", nil),
		http.StatusNotFound, "vread unknown version")
	expectOutcome(t, c.Do(t, "GET", "Patient/"+id+"/_history/x", nil),
		http.StatusBadRequest, "vread bad version")

	cur := c.Do(t, "GET", "Patient/"+id, nil)
	if !bytes.Contains(cur.Body, []byte("Three")) {
		t.Errorf("stale update changed the resource: %s", cur.Body)
	}
}

func updateAsCreate(t *testing.T, c *Client) {
	id := fmt.Sprintf("client-chosen-%d", time.Now().UnixNano())
	r := c.Do(t, "PUT", "Patient/"+id, withID(samplePatient("Chosen"), id))
	expectStatus(t, r, http.StatusCreated, "update as create")
	if got := r.Header.Get("ETag"); got != `W/"1"` {
		t.Errorf("ETag %q, want W/\"1\"", got)
	}
	read := c.Do(t, "GET", "Patient/"+id, nil)
	expectStatus(t, read, http.StatusOK, "read client id")
}

func deleteResource(t *testing.T, c *Client) {
	id := create(t, c, "Patient", samplePatient("Deleted"))
	r := c.Do(t, "DELETE", "Patient/"+id, nil)
	if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
		t.Fatalf("delete: status %d", r.Status)
	}
	expectOutcome(t, c.Do(t, "GET", "Patient/"+id, nil), http.StatusGone, "read deleted")
	expectStatus(t, c.Do(t, "GET", "Patient/"+id+"/_history/1", nil), http.StatusOK,
		"vread before delete")

	again := c.Do(t, "DELETE", "Patient/"+id, nil)
	if again.Status != http.StatusNoContent && again.Status != http.StatusOK {
		t.Errorf("second delete: status %d", again.Status)
	}

	h := c.Do(t, "GET", "Patient/"+id+"/_history", nil)
	expectStatus(t, h, http.StatusOK, "history of deleted")
	entries := h.JSON(t)["entry"].([]any)
	if len(entries) != 2 {
		t.Fatalf("history has %d entries, want 2 (create, delete)", len(entries))
	}
	req := entries[0].(map[string]any)["request"].(map[string]any)
	if req["method"] != "DELETE" {
		t.Errorf("newest history entry method %v, want DELETE", req["method"])
	}

	back := c.Do(t, "PUT", "Patient/"+id, withID(samplePatient("Back"), id))
	if back.Status != http.StatusCreated && back.Status != http.StatusOK {
		t.Fatalf("update after delete: status %d", back.Status)
	}
	if v, _ := meta(t, back.JSON(t)); v != "3" {
		t.Errorf("versionId after resurrection %q, want 3", v)
	}
}

func historyPaging(t *testing.T, c *Client) {
	id := create(t, c, "Patient", samplePatient("History"))
	for i := 2; i <= 7; i++ {
		r := c.Do(t, "PUT", "Patient/"+id, withID(samplePatient(fmt.Sprintf("History%d", i)), id))
		expectStatus(t, r, http.StatusOK, "update")
	}
	next := "Patient/" + id + "/_history?_count=3"
	var versions []string
	for pages := 0; next != "" && pages < 10; pages++ {
		r := c.Do(t, "GET", next, nil)
		expectStatus(t, r, http.StatusOK, "history page")
		b := r.JSON(t)
		if b["type"] != "history" {
			t.Fatalf("bundle type %v", b["type"])
		}
		// Bundle.total is optional in a history Bundle.
		if total, ok := b["total"]; ok && fmt.Sprint(total) != "7" {
			t.Errorf("total %v, want 7", total)
		}
		entries, _ := b["entry"].([]any)
		if len(entries) > 3 {
			t.Errorf("page has %d entries, _count was 3", len(entries))
		}
		for _, e := range entries {
			v, _ := meta(t, e.(map[string]any)["resource"].(map[string]any))
			versions = append(versions, v)
		}
		next = ""
		for _, l := range b["link"].([]any) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
	}
	if got := strings.Join(versions, ","); got != "7,6,5,4,3,2,1" {
		t.Errorf("versions over all pages %s, want 7,6,5,4,3,2,1", got)
	}

	since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := c.Do(t, "GET", "Patient/"+id+"/_history?_since="+url.QueryEscape(since), nil)
	expectStatus(t, r, http.StatusOK, "history _since future")
	if n := len(entriesOf(r.JSON(t))); n != 0 {
		t.Errorf("_since in the future returned %d entries", n)
	}
	expectOutcome(t, c.Do(t, "GET", "Patient/"+id+"/_history?_since=yesterday", nil),
		http.StatusBadRequest, "bad _since")

	typ := c.Do(t, "GET", "Patient/_history?_count=5", nil)
	expectStatus(t, typ, http.StatusOK, "type history")
	sys := c.Do(t, "GET", "_history?_count=5", nil)
	expectStatus(t, sys, http.StatusOK, "system history")
	if n := len(entriesOf(sys.JSON(t))); n != 5 {
		t.Errorf("system history page has %d entries, want 5", n)
	}
}

func entriesOf(b map[string]any) []any {
	e, _ := b["entry"].([]any)
	return e
}

func preferReturn(t *testing.T, c *Client) {
	r := c.Do(t, "POST", "Patient", samplePatient("Minimal"), "Prefer", "return=minimal")
	expectStatus(t, r, http.StatusCreated, "create minimal")
	if len(r.Body) != 0 {
		t.Errorf("return=minimal sent a body: %s", r.Body)
	}
	if r.Header.Get("Location") == "" || r.Header.Get("ETag") == "" {
		t.Errorf("return=minimal lacks Location or ETag")
	}
	r = c.Do(t, "POST", "Patient", samplePatient("Outcome"), "Prefer", "return=OperationOutcome")
	expectStatus(t, r, http.StatusCreated, "create outcome")
	if r.JSON(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("return=OperationOutcome sent %s", r.Body)
	}
	r = c.Do(t, "POST", "Patient", samplePatient("Full"), "Prefer", "return=representation")
	if r.JSON(t)["resourceType"] != "Patient" {
		t.Errorf("return=representation sent %s", r.Body)
	}
}

func formats(t *testing.T, c *Client) {
	id := create(t, c, "Patient", samplePatient("Format"))
	expectOutcome(t, c.Do(t, "GET", "Patient/"+id+"?_format=xml", nil),
		http.StatusNotAcceptable, "_format=xml")
	expectOutcome(t, c.Do(t, "GET", "Patient/"+id, nil, "Accept", "application/fhir+xml"),
		http.StatusNotAcceptable, "Accept XML")
	expectStatus(t, c.Do(t, "GET", "Patient/"+id+"?_format=json", nil),
		http.StatusOK, "_format=json")
	expectStatus(t, c.Do(t, "GET", "Patient/"+id, nil, "Accept", "application/fhir+json"),
		http.StatusOK, "Accept FHIR JSON")

	xml := c.Do(t, "POST", "Patient", []byte(`<Patient xmlns="http://hl7.org/fhir"/>`),
		"Content-Type", "application/fhir+xml")
	expectOutcome(t, xml, http.StatusUnsupportedMediaType, "XML body")

	pretty := c.Do(t, "GET", "Patient/"+id+"?_pretty=true", nil)
	expectStatus(t, pretty, http.StatusOK, "_pretty")
	if !bytes.Contains(pretty.Body, []byte("\n  \"")) {
		t.Errorf("_pretty=true body is not indented: %.200s", pretty.Body)
	}
}

func badInput(t *testing.T, c *Client) {
	id := create(t, c, "Patient", samplePatient("Guarded"))
	before := c.Do(t, "GET", "Patient/"+id, nil)

	cases := []struct {
		name, method, path, body string
		status                   int
		element                  string // expected in expression or diagnostics
	}{
		{"malformed JSON", "PUT", "Patient/" + id, `{"resourceType":"Patient",`, 400, ""},
		{"unknown element", "PUT", "Patient/" + id,
			`{"resourceType":"Patient","id":"` + id + `","colour":"blue"}`, 400, "colour"},
		{"wrong type", "PUT", "Patient/" + id,
			`{"resourceType":"Patient","id":"` + id + `","active":"yes"}`, 400, "active"},
		{"bad primitive", "PUT", "Patient/" + id,
			`{"resourceType":"Patient","id":"` + id + `","birthDate":"1970-13-45"}`, 400, "birthDate"},
		{"resourceType mismatch", "PUT", "Patient/" + id,
			`{"resourceType":"Consent","id":"` + id + `"}`, 400, ""},
		{"id mismatch", "PUT", "Patient/" + id,
			`{"resourceType":"Patient","id":"someone-else"}`, 400, "id"},
		{"missing id", "PUT", "Patient/" + id, `{"resourceType":"Patient"}`, 400, "id"},
		{"empty body", "PUT", "Patient/" + id, ``, 400, ""},
		{"not an object", "POST", "Patient", `[1,2,3]`, 400, ""},
		{"missing required element", "POST", "DocumentReference",
			`{"resourceType":"DocumentReference","status":"current"}`, 422, "content"},
		{"wrong reference target", "POST", "DocumentReference",
			`{"resourceType":"DocumentReference","status":"current",` +
				`"subject":{"reference":"Observation/1"},"content":[{"attachment":{}}]}`,
			422, "subject"},
		{"control character in id", "GET", "Patient/a%01b", "", 400, ""},
		{"id too long", "GET", "Patient/" + strings.Repeat("a", 65), "", 400, ""},
		{"unknown type", "GET", "Observation/1", "", 404, ""},
		{"audit update", "PUT", "AuditEvent/" + id, `{"resourceType":"AuditEvent"}`, 405, ""},
		{"audit delete", "DELETE", "AuditEvent/" + id, "", 405, ""},
		{"bad If-Match", "PUT", "Patient/" + id, string(withID(samplePatient("X"), id)), 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" || tc.method == "PUT" || tc.method == "POST" {
				body = []byte(tc.body)
			}
			var hdr []string
			if tc.name == "bad If-Match" {
				hdr = []string{"If-Match", "version-two"}
			}
			r := c.Do(t, tc.method, tc.path, body, hdr...)
			m := expectOutcome(t, r, tc.status, tc.name)
			if tc.element != "" && !bytes.Contains(r.Body, []byte(tc.element)) {
				t.Errorf("OperationOutcome does not name %q: %s", tc.element, r.Body)
			}
			_ = m
		})
	}

	huge := append([]byte(`{"resourceType":"Patient","id":"`+id+`","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">`),
		bytes.Repeat([]byte("a"), 16<<20)...)
	huge = append(huge, []byte(`</div>"}}`)...)
	expectOutcome(t, c.Do(t, "PUT", "Patient/"+id, huge), http.StatusRequestEntityTooLarge,
		"huge body")

	after := c.Do(t, "GET", "Patient/"+id, nil)
	if !bytes.Equal(before.Body, after.Body) || after.Header.Get("ETag") != `W/"1"` {
		t.Errorf("bad input changed the stored resource: ETag %s", after.Header.Get("ETag"))
	}
}

func otherTypes(t *testing.T, c *Client) {
	pid := create(t, c, "Patient", samplePatient("Owner"))
	docs := map[string]string{
		"DocumentReference": `{"resourceType":"DocumentReference","status":"current",` +
			`"subject":{"reference":"Patient/` + pid + `"},"content":[{"attachment":` +
			`{"contentType":"text/plain","data":"aGVsbG8="}}]}`,
		"Consent": `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":` +
			`"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
			`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],` +
			`"patient":{"reference":"Patient/` + pid + `"}}`,
		"AuditEvent": `{"resourceType":"AuditEvent","type":{"system":` +
			`"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},` +
			`"recorded":"2024-01-02T03:04:05Z","agent":[{"requestor":true,"who":{"display":"x"}}],` +
			`"source":{"observer":{"display":"custos"}}}`,
	}
	for typ, body := range docs {
		id := create(t, c, typ, []byte(body))
		r := c.Do(t, "GET", typ+"/"+id, nil)
		expectStatus(t, r, http.StatusOK, "read "+typ)
		if r.JSON(t)["resourceType"] != typ {
			t.Errorf("read %s returned %s", typ, r.Body)
		}
	}
}

func precisionAndMeta(t *testing.T, c *Client) {
	body := []byte(`{"resourceType":"Patient","meta":{"profile":["http://example.org/p"],` +
		`"tag":[{"system":"http://example.org/t","code":"x"}],"security":[{"system":` +
		`"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},` +
		`"extension":[{"url":"http://example.org/e","valueDecimal":1.50}]}`)
	id := create(t, c, "Patient", body)
	r := c.Do(t, "GET", "Patient/"+id, nil)
	for _, want := range []string{`1.50`, `http://example.org/p`, `"code":"x"`, `"code":"R"`} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("read lost %s: %s", want, r.Body)
		}
	}
}

// authentication checks that data needs a bearer token while the
// CapabilityStatement does not.
func authentication(t *testing.T, c *Client) {
	anonymous := &Client{Base: c.Base, HTTP: c.HTTP}
	expectStatus(t, anonymous.Do(t, "GET", "metadata", nil), http.StatusOK, "anonymous metadata")
	r := anonymous.Do(t, "GET", "Patient/any", nil)
	expectOutcome(t, r, http.StatusUnauthorized, "anonymous read")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
	}
	bad := anonymous.Do(t, "GET", "Patient/any", nil, "Authorization", "Bearer not.a.token")
	expectOutcome(t, bad, http.StatusUnauthorized, "bad token")
	if !strings.Contains(bad.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("bad token challenge %q lacks invalid_token", bad.Header.Get("WWW-Authenticate"))
	}
}
