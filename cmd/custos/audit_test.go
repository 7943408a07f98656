package main

import (
	"database/sql"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	_ "modernc.org/sqlite"
)

func runCustos(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestAuditVerifyAndReport(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir)
	addr := strings.TrimSuffix(strings.TrimPrefix(s.base, "http://"), "/fhir")
	reader := token(t, dir, addr, "--scope", "user/*.rs", "--fhir-user", "Practitioner/p1",
		"--purpose", "TREAT")
	for i := 0; i < 5; i++ {
		get(t, s.base+"/Patient/unknown", reader)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done

	out, code := runCustos(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "audit trail verified") {
		t.Fatalf("verify of an untouched trail: exit %d: %s", code, out)
	}

	out, code = runCustos(t, "audit", "report", "--data-dir", dir, "--from", "2000-01-01",
		"--to", "2100-01-01")
	if code != 0 || !strings.Contains(out, "accesses from") || !strings.Contains(out, "read") {
		t.Fatalf("report: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "unique users: 1") {
		t.Errorf("report does not count one user: %s", out)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "custos.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var edited, removed string
	rows, err := db.Query(`SELECT id FROM versions WHERE type = 'AuditEvent' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) < 4 {
		t.Fatalf("only %d AuditEvents stored", len(ids))
	}
	edited, removed = ids[1], ids[2]
	if _, err := db.Exec(`UPDATE versions SET body = substr(body, 1, 40) || x'00' ||
		substr(body, 42) WHERE type = 'AuditEvent' AND id = ?`, edited); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"versions", "current", "postings"} {
		if _, err := db.Exec(`DELETE FROM `+table+` WHERE type = 'AuditEvent' AND id = ?`,
			removed); err != nil {
			t.Fatal(err)
		}
	}

	out, code = runCustos(t, "audit", "verify", "--data-dir", dir)
	if code != 1 {
		t.Fatalf("verify of a tampered trail: exit %d, want 1: %s", code, out)
	}
	for _, id := range []string{edited, removed} {
		if !strings.Contains(out, id) {
			t.Errorf("verify output does not name %s:\n%s", id, out)
		}
	}
}
