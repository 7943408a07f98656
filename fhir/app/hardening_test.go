package app_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/custos/custos/fhir/auth"
)

func TestForwardedForIsNotTrusted(t *testing.T) {
	s := start(t, "")
	r := s.client.Do(t, "GET", "Patient/nobody", nil, "X-Forwarded-For", "203.0.113.66")
	if r.Status != http.StatusNotFound {
		t.Fatalf("read: %d", r.Status)
	}
	auditor := s.clientWith(t, auth.MintOptions{Scope: "user/AuditEvent.rs", FHIRUser: "Practitioner/a"})
	if ids := matchIDs(t, auditor, "AuditEvent?address=203.0.113.66"); len(ids) != 0 {
		t.Errorf("the trail recorded the client's claimed address: %v", ids)
	}
	if ids := matchIDs(t, auditor, "AuditEvent?address=127.0.0.1&_count=1"); len(ids) == 0 {
		t.Error("the trail did not record the socket peer")
	}
}

func TestClientAuditEvents(t *testing.T) {
	s := start(t, "")
	event := `{"resourceType":"AuditEvent","type":{"system":` +
		`"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},` +
		`"recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true,"who":{"reference":` +
		`"Practitioner/innocent"}}],"source":{"observer":{"display":"elsewhere"}}%s}`
	forged := fmt.Sprintf(event, `,"extension":[{"url":`+
		`"http://custos.example/fhir/StructureDefinition/audit-chain","valueString":"x"}]`)
	if r := s.client.Do(t, "POST", "AuditEvent", []byte(forged)); r.Status != 422 {
		t.Errorf("AuditEvent with the chain extension: %d, want 422", r.Status)
	}
	r := s.client.Do(t, "POST", "AuditEvent", []byte(fmt.Sprintf(event, "")))
	if r.Status != http.StatusCreated {
		t.Fatalf("client AuditEvent: %d %s", r.Status, r.Body)
	}
	if !bytes.Contains(r.Body, []byte("client-submitted")) {
		t.Errorf("client AuditEvent is not tagged: %s", r.Body)
	}
	clinician := s.clientWith(t, auth.MintOptions{Scope: "user/*.cruds", FHIRUser: "Practitioner/c"})
	if st := clinician.Do(t, "POST", "AuditEvent", []byte(fmt.Sprintf(event, ""))).Status; st != 403 {
		t.Errorf("AuditEvent create with a wildcard scope: %d, want 403", st)
	}
}

func TestHeadAndLimits(t *testing.T) {
	s := start(t, "")
	id := create(t, s, `{"resourceType":"Patient","active":true}`)
	r := s.client.Do(t, "HEAD", "Patient/"+id, nil)
	if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("ETag") != `W/"1"` {
		t.Errorf("HEAD: %d, %d bytes, ETag %q", r.Status, len(r.Body), r.Header.Get("ETag"))
	}

	var names []string
	for i := 0; i < 3000; i++ {
		names = append(names, fmt.Sprintf(`{"family":"F%d","given":["A%d","B%d","C%d"]}`, i, i, i, i))
	}
	big := `{"resourceType":"Patient","name":[` + strings.Join(names, ",") + `]}`
	r = s.client.Do(t, "POST", "Patient", []byte(big))
	if r.Status != http.StatusUnprocessableEntity || !bytes.Contains(r.Body, []byte("searchable values")) {
		t.Errorf("resource with tens of thousands of names: %d %.200s", r.Status, r.Body)
	}

	dup := `{"resourceType":"Patient","gender":"male","gender":"female"}`
	if st := s.client.Do(t, "POST", "Patient", []byte(dup)).Status; st != http.StatusBadRequest {
		t.Errorf("duplicate key: %d, want 400", st)
	}
	search := s.client.Do(t, "GET", "Patient?_id="+id+"&_count=5", nil)
	if bytes.Contains(search.Body, []byte(`\u0026`)) {
		t.Errorf("links escape &: %.300s", search.Body)
	}
}
