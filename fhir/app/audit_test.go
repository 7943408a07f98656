package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/custos/custos/conformance"
	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/store"
)

// recorded is what a test reads back of one AuditEvent.
type recorded struct {
	ID, Subtype, Outcome, Who string
	Patients                  []string
	BreakGlass                bool
	Query                     bool
}

// auditByRequest opens every AuditEvent and indexes them by request id.
// It reads JSON directly, sharing no code with the audit package.
func auditByRequest(t *testing.T, s *server) map[string][]recorded {
	t.Helper()
	entries, err := s.app.Repository.History(context.Background(),
		store.HistoryFilter{Type: "AuditEvent"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]recorded{}
	for _, e := range entries {
		var doc struct {
			ID      string `json:"id"`
			Subtype []struct{ Code string }
			Outcome string `json:"outcome"`
			Meta    struct{ Security []struct{ Code string } }
			Agent   []struct {
				Requestor bool `json:"requestor"`
				Who       struct{ Reference string }
			}
			Entity []struct {
				What struct {
					Reference  string
					Identifier struct{ Value string }
				}
				Role  struct{ Code string }
				Type  struct{ Code string }
				Query string
			}
		}
		if err := json.Unmarshal(e.Body, &doc); err != nil {
			t.Fatal(err)
		}
		r := recorded{ID: doc.ID, Outcome: doc.Outcome}
		if len(doc.Subtype) > 0 {
			r.Subtype = doc.Subtype[0].Code
		}
		for _, a := range doc.Agent {
			if a.Requestor {
				r.Who = a.Who.Reference
			}
		}
		for _, sec := range doc.Meta.Security {
			r.BreakGlass = r.BreakGlass || sec.Code == "BTG"
		}
		requestID := ""
		for _, en := range doc.Entity {
			switch {
			case en.Type.Code == "XrequestId":
				requestID = en.What.Identifier.Value
			case en.Role.Code == "1":
				r.Patients = append(r.Patients, en.What.Reference)
			case en.Query != "":
				r.Query = true
			}
		}
		if requestID != "" {
			out[requestID] = append(out[requestID], r)
		}
	}
	return out
}

func TestAuditEveryInteraction(t *testing.T) {
	s := startWith(t, "", allowBreakGlass)
	tp := loadTwoPatients(t, s)
	put(t, s.client, "Consent", "only-f204", consentFor(t, "consent-example-notThem",
		"only-f204", tp.first))
	doctor := s.clientWith(t, auth.MintOptions{Scope: "user/*.cruds",
		FHIRUser: "Practitioner/f204", Purposes: []string{"TREAT"}})
	stranger := s.clientWith(t, auth.MintOptions{Scope: "user/*.rs",
		FHIRUser: "Practitioner/f202", Purposes: []string{"TREAT"}})
	emergency := s.clientWith(t, auth.MintOptions{Scope: "user/*.rs",
		FHIRUser: "Practitioner/f202", Purposes: []string{"ETREAT"}})
	narrow := s.clientWith(t, auth.MintOptions{Scope: "user/Consent.rs",
		FHIRUser: "Practitioner/f204"})
	anonymous := &conformance.Client{Base: s.client.Base, HTTP: s.client.HTTP}
	first := "Patient/" + tp.first

	cases := []struct {
		name     string
		client   *conformance.Client
		method   string
		path     string
		body     []byte
		status   int
		subtype  string
		outcome  string
		who      string
		patients []string
		glass    bool
		query    bool
	}{
		{"read", doctor, "GET", first, nil, 200, "read", "0", "Practitioner/f204",
			[]string{first}, false, false},
		{"vread", doctor, "GET", first + "/_history/1", nil, 200, "vread", "0",
			"Practitioner/f204", []string{first}, false, false},
		{"search", doctor, "GET", "DocumentReference?_id=" + tp.firstDoc + "," + tp.secondDoc,
			nil, 200, "search-type", "0", "Practitioner/f204",
			[]string{first, "Patient/" + tp.second}, false, true},
		{"history", doctor, "GET", first + "/_history", nil, 200, "history-instance", "0",
			"Practitioner/f204", []string{first}, false, false},
		{"everything", doctor, "GET", first + "/$everything", nil, 200, "operation", "0",
			"Practitioner/f204", []string{first}, false, true},
		{"update", doctor, "PUT", "DocumentReference/" + tp.firstDoc, nil, 200, "update", "0",
			"Practitioner/f204", []string{first}, false, false},
		{"consent denial", stranger, "GET", first, nil, 403, "read", "4", "Practitioner/f202",
			[]string{first}, false, false},
		{"break-glass", emergency, "GET", first, nil, 200, "read", "0", "Practitioner/f202",
			[]string{first}, true, false},
		{"scope denial", narrow, "GET", first, nil, 403, "read", "4", "Practitioner/f204",
			nil, false, false},
		{"no token", anonymous, "GET", first, nil, 401, "", "4", "", nil, false, false},
		{"not found", doctor, "GET", "Patient/nobody", nil, 404, "read", "4",
			"Practitioner/f204", nil, false, false},
		{"audit read", s.client, "GET", "AuditEvent?_count=1", nil, 200, "search-type", "0",
			"Practitioner/test-administrator", nil, false, true},
		{"audit read with a wildcard scope", doctor, "GET", "AuditEvent?_count=1", nil, 403,
			"search-type", "4", "Practitioner/f204", nil, false, false},
		{"delete", doctor, "DELETE", "DocumentReference/" + tp.firstDoc, nil, 204, "delete",
			"0", "Practitioner/f204", []string{first}, false, false},
	}
	docBody := doctor.Do(t, "GET", "DocumentReference/"+tp.firstDoc, nil).Body
	ids := map[string]string{}
	for _, tc := range cases {
		body := tc.body
		if tc.name == "update" {
			body = docBody
		}
		r := tc.client.Do(t, tc.method, tc.path, body)
		if r.Status != tc.status {
			t.Fatalf("%s: status %d, want %d: %.200s", tc.name, r.Status, tc.status, r.Body)
		}
		ids[tc.name] = r.Header.Get("X-Request-Id")
	}

	trail := auditByRequest(t, s)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := trail[ids[tc.name]]
			if len(events) != 1 {
				t.Fatalf("%d AuditEvents for the request, want 1", len(events))
			}
			e := events[0]
			if tc.subtype != "" && e.Subtype != tc.subtype {
				t.Errorf("subtype %q, want %q", e.Subtype, tc.subtype)
			}
			if e.Outcome != tc.outcome {
				t.Errorf("outcome %q, want %q", e.Outcome, tc.outcome)
			}
			if e.Who != tc.who {
				t.Errorf("requestor %q, want %q", e.Who, tc.who)
			}
			if fmt.Sprint(sorted(e.Patients)) != fmt.Sprint(sorted(tc.patients)) {
				t.Errorf("patients %v, want %v", e.Patients, tc.patients)
			}
			if e.BreakGlass != tc.glass {
				t.Errorf("break-glass %v, want %v", e.BreakGlass, tc.glass)
			}
			if e.Query != tc.query {
				t.Errorf("query entity %v, want %v", e.Query, tc.query)
			}
		})
	}

	t.Run("searchable", func(t *testing.T) {
		auditor := s.clientWith(t, auth.MintOptions{Scope: "user/AuditEvent.rs",
			FHIRUser: "Practitioner/auditor"})
		got := matchIDs(t, auditor, "AuditEvent?patient="+first+"&subtype=read&_count=100")
		// Four reads name the patient: read, consent denial and break-glass
		// in the table, and the read of the note before its update. The
		// scope denial comes before any resource is read, so it names none.
		if len(got) != 4 {
			t.Errorf("AuditEvent?patient&subtype=read found %d, want 4", len(got))
		}
		got = matchIDs(t, auditor, "AuditEvent?agent=Practitioner/f202&_count=100")
		if len(got) != 2 {
			t.Errorf("AuditEvent?agent=f202 found %d, want 2", len(got))
		}
		report := auditor.Do(t, "GET", first+"/$access-report", nil)
		if report.Status != http.StatusOK {
			t.Fatalf("$access-report: %d %s", report.Status, report.Body)
		}
		params, _ := report.JSON(t)["parameter"].([]any)
		if len(params) < 7 {
			t.Errorf("$access-report lists %d accesses, want at least 7", len(params))
		}
		own := s.clientWith(t, auth.MintOptions{Scope: "patient/*.rs", Patient: tp.first})
		if st := own.Do(t, "GET", first+"/$access-report", nil).Status; st != http.StatusOK {
			t.Errorf("patient's own $access-report: %d", st)
		}
		if st := own.Do(t, "GET", "Patient/"+tp.second+"/$access-report", nil).Status; st != 403 {
			t.Errorf("another patient's $access-report: %d, want 403", st)
		}
	})
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestAuditFailsClosed(t *testing.T) {
	s := startWith(t, "", func(o *app.Options) { o.Audit.Timeout = 300 * time.Millisecond })
	tp := loadTwoPatients(t, s)

	// Another connection holds the SQLite write lock: the store can still
	// be read, but no AuditEvent can be written.
	db, err := sql.Open("sqlite", filepath.Join(s.dir, app.SQLiteFile)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r := s.client.Do(t, "GET", "Patient/"+tp.first, nil)
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("read while the trail cannot be written: %d, want 503", r.Status)
		}
		if len(r.Body) > 0 && decode(t, r.Body)["resourceType"] != "OperationOutcome" {
			t.Fatalf("503 body is not an OperationOutcome: %s", r.Body)
		}
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}

	var ok []string
	deadline := time.Now().Add(20 * time.Second)
	for len(ok) < 5 && time.Now().Before(deadline) {
		r := s.client.Do(t, "GET", "Patient/"+tp.first, nil)
		if r.Status == http.StatusOK {
			ok = append(ok, r.Header.Get("X-Request-Id"))
		}
	}
	if len(ok) < 5 {
		t.Fatal("reads did not succeed after the store came back")
	}
	trail := auditByRequest(t, s)
	for _, id := range ok {
		if n := len(trail[id]); n != 1 {
			t.Errorf("successful read %s has %d AuditEvents, want 1", id, n)
		}
	}
}

func TestAuditCountUnderLoad(t *testing.T) {
	s := start(t, "")
	tp := loadTwoPatients(t, s)
	readers := []*conformance.Client{
		s.clientWith(t, auth.MintOptions{Scope: "user/*.rs", FHIRUser: "Practitioner/a"}),
		s.clientWith(t, auth.MintOptions{Scope: "user/Consent.rs", FHIRUser: "Practitioner/b"}),
		{Base: s.client.Base, HTTP: s.client.HTTP, Header: http.Header{
			"Authorization": {"Bearer not-a-token"}}},
	}
	const workers, each = 16, 40
	var mu sync.Mutex
	outcomes := map[int]int{}
	requestIDs := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c := readers[(w+i)%len(readers)]
				r := c.Do(t, "GET", "Patient/"+tp.first, nil)
				mu.Lock()
				outcomes[r.Status]++
				requestIDs[r.Header.Get("X-Request-Id")] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if outcomes[200]+outcomes[403]+outcomes[401] != workers*each {
		t.Fatalf("unexpected statuses %v", outcomes)
	}
	trail := auditByRequest(t, s)
	counted := 0
	for id := range requestIDs {
		n := len(trail[id])
		if n != 1 {
			t.Fatalf("request %s has %d AuditEvents, want 1", id, n)
		}
		counted += n
	}
	if counted != workers*each {
		t.Fatalf("%d AuditEvents for %d requests (%v)", counted, workers*each, outcomes)
	}
}
