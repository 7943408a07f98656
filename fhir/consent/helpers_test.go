package consent

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const testdataDir = "../../testdata"

// syntheaPatientIDs reads the ids of the Synthea sample patients.
func syntheaPatientIDs(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir, "synthea-10", "Patient.ndjson"))
	if err != nil {
		t.Fatalf("open Synthea patients: %v", err)
	}
	defer f.Close()
	var ids []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for scanner.Scan() {
		var p struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &p); err != nil {
			t.Fatalf("decode Synthea patient: %v", err)
		}
		ids = append(ids, p.ID)
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read Synthea patients: %v", err)
	}
	if len(ids) < 12 {
		t.Fatalf("want at least 12 Synthea patients, found %d", len(ids))
	}
	return ids
}

// loadExample reads an official R4 Consent example and points its patient
// reference at patientID.
func loadExample(t testing.TB, name, patientID string) map[string]any {
	t.Helper()
	path := filepath.Join(testdataDir, "r4-examples", "Consent-"+name+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	patient, ok := m["patient"].(map[string]any)
	if !ok {
		t.Fatalf("%s has no patient", path)
	}
	patient["reference"] = "Patient/" + patientID
	delete(patient, "display")
	return m
}

// decodeJSON decodes a Consent written inline in a test.
func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode test Consent: %v\n%s", err, s)
	}
	return m
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse time %q: %v", s, err)
	}
	return v
}

func actor(ref string, roles ...string) Actor {
	a := Actor{Reference: ref}
	for _, r := range roles {
		a.Roles = append(a.Roles, Role(r))
	}
	return a
}

func confidentiality(code string) Coding {
	return Coding{System: SystemConfidentiality, Code: code}
}

func sensitivity(code string) Coding {
	return Coding{System: SystemActCode, Code: code}
}

func loinc(code string) Coding {
	return Coding{System: "http://loinc.org", Code: code}
}

// want is the expected decision of one table row.
type want struct {
	permit     bool
	breakGlass bool
	consentID  string
	path       string
}

func checkDecision(t *testing.T, got Decision, w want) {
	t.Helper()
	if got.Permit != w.permit {
		t.Errorf("Permit = %v, want %v (reason: %s)", got.Permit, w.permit, got.Reason)
	}
	if got.BreakGlass != w.breakGlass {
		t.Errorf("BreakGlass = %v, want %v", got.BreakGlass, w.breakGlass)
	}
	if got.ConsentID != w.consentID {
		t.Errorf("ConsentID = %q, want %q", got.ConsentID, w.consentID)
	}
	if got.ProvisionPath != w.path {
		t.Errorf("ProvisionPath = %q, want %q", got.ProvisionPath, w.path)
	}
	if got.Reason == "" {
		t.Errorf("Reason is empty")
	}
}
