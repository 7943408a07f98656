package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the custos command built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "custos-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "custos")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serving is a running `custos serve` process.
type serving struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	done chan error
}

func startServe(t *testing.T, dataDir string, args ...string) *serving {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, append([]string{"serve", "--addr", addr, "--data-dir", dataDir},
		args...)...)
	logs := &bytes.Buffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "custos serving") {
				started <- sc.Text()
			}
		}
	}()
	s := &serving{cmd: cmd, base: "http://" + addr + "/fhir", logs: logs, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case line := <-started:
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("startup line is not JSON: %s", line)
		}
		for _, field := range []string{"version", "store", "kms"} {
			if m[field] == nil || m[field] == "" {
				t.Errorf("startup line lacks %s: %s", field, line)
			}
		}
		if strings.Contains(line, "kek") {
			t.Errorf("startup line mentions key material: %s", line)
		}
	case err := <-s.done:
		t.Fatalf("custos serve exited: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("custos serve did not start:\n%s", logs)
	}
	return s
}

// token runs `custos token` on a data directory.
func token(t *testing.T, dataDir, addr string, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"token", "--data-dir", dataDir,
		"--addr", addr}, args...)...).Output()
	if err != nil {
		t.Fatalf("custos token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeNeedsTokens(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir)
	addr := strings.TrimSuffix(strings.TrimPrefix(s.base, "http://"), "/fhir")
	if st := get(t, s.base+"/metadata", ""); st != http.StatusOK {
		t.Errorf("metadata without a token: %d", st)
	}
	if st := get(t, s.base+"/Patient/x", ""); st != http.StatusUnauthorized {
		t.Errorf("read without a token: %d, want 401", st)
	}
	good := token(t, dir, addr, "--scope", "user/*.rs")
	if st := get(t, s.base+"/Patient/x", good); st != http.StatusNotFound {
		t.Errorf("read with a token: %d, want 404", st)
	}
	other := token(t, dir, addr, "--scope", "user/*.rs", "--audience", "http://elsewhere/fhir")
	if st := get(t, s.base+"/Patient/x", other); st != http.StatusUnauthorized {
		t.Errorf("read with another audience: %d, want 401", st)
	}
	narrow := token(t, dir, addr, "--scope", "user/Consent.rs")
	if st := get(t, s.base+"/Patient/x", narrow); st != http.StatusForbidden {
		t.Errorf("read outside the scopes: %d, want 403", st)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir)
	addr := strings.TrimSuffix(strings.TrimPrefix(s.base, "http://"), "/fhir")
	bearer := "Bearer " + token(t, dir, addr, "--scope", "user/*.cruds")
	post := func(body io.Reader) (*http.Response, error) {
		req, _ := http.NewRequest("POST", s.base+"/Patient", body)
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", bearer)
		return http.DefaultClient.Do(req)
	}
	r, err := post(strings.NewReader(`{"resourceType":"Patient","active":true}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", r.StatusCode)
	}
	loc := r.Header.Get("Location")

	// A slow upload is in flight when SIGTERM arrives; it must complete.
	pr, pw := io.Pipe()
	result := make(chan int, 1)
	go func() {
		resp, err := post(pr)
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"resourceType":"Patient",`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := pw.Write([]byte(`"active":false}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if status := <-result; status != http.StatusCreated {
		t.Fatalf("in-flight request finished with %d, want 201", status)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, s.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}

	// The store was closed cleanly: a new server reads what was written.
	again := startServe(t, dir)
	path := loc[strings.Index(loc, "/Patient/"):]
	againAddr := strings.TrimSuffix(strings.TrimPrefix(again.base, "http://"), "/fhir")
	reader := token(t, dir, againAddr, "--scope", "user/*.rs")
	if st := get(t, again.base+strings.TrimSuffix(path, "/_history/1"), reader); st != http.StatusOK {
		t.Fatalf("read after restart: %d", st)
	}
	_ = again.cmd.Process.Signal(syscall.SIGINT)
	<-again.done
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join("..", "..", "testdata")
	good := filepath.Join(data, "synthea-10", "Patient.ndjson")
	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	if err := os.WriteFile(bad, []byte("{\"resourceType\":\"Patient\",\"gender\":7}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, append([]string{"import", "--data-dir", dir}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}

	out, _, code := run(good, filepath.Join(data, "r4-examples"))
	if code != 0 {
		t.Fatalf("import exit %d: %s", code, out)
	}
	if !strings.Contains(out, "57 created") {
		t.Errorf("summary %q, want 57 created (13 patients and 44 examples)", out)
	}
	out, _, _ = run(good)
	if !strings.Contains(out, "0 created, 0 updated, 13 unchanged") {
		t.Errorf("second import summary %q", out)
	}
	out, errOut, code := run(bad)
	if code != 2 {
		t.Errorf("import of a bad line exited %d, want 2", code)
	}
	if !strings.Contains(errOut, bad+":1: ") {
		t.Errorf("stderr %q does not report %s:1", errOut, bad)
	}
	if !strings.Contains(out, "1 failed") {
		t.Errorf("summary %q", out)
	}
}
