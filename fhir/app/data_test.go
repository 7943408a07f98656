package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// testdata is the repository's folder of real inputs.
var testdata = filepath.Join("..", "..", "testdata")

// input is one resource read straight from a test file.
type input struct {
	Type string
	ID   string
	Raw  []byte
}

// readInputs reads every resource in the NDJSON and JSON files given,
// without any Custos code.
func readInputs(t testing.TB, paths ...string) []input {
	t.Helper()
	var out []input
	add := func(raw []byte) {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatalf("test input is not JSON: %v", err)
		}
		out = append(out, input{head.ResourceType, head.ID, append([]byte(nil), raw...)})
	}
	for _, p := range paths {
		files := []string{p}
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.json"))
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".ndjson") {
				fh, err := os.Open(f)
				if err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(fh)
				sc.Buffer(nil, 64<<20)
				for sc.Scan() {
					if len(bytes.TrimSpace(sc.Bytes())) > 0 {
						add(sc.Bytes())
					}
				}
				fh.Close()
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			add(raw)
		}
	}
	return out
}

// decode parses JSON keeping numbers as written.
func decode(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	return m
}

// withoutServerMeta removes meta.versionId and meta.lastUpdated, and meta
// itself when nothing else is left in it.
func withoutServerMeta(m map[string]any) map[string]any {
	if meta, ok := m["meta"].(map[string]any); ok {
		delete(meta, "versionId")
		delete(meta, "lastUpdated")
		if len(meta) == 0 {
			delete(m, "meta")
		}
	}
	return m
}

func sameResource(t testing.TB, want, got []byte) bool {
	t.Helper()
	return reflect.DeepEqual(withoutServerMeta(decode(t, want)), withoutServerMeta(decode(t, got)))
}

// phi collects the values of the loaded records that must never be
// stored or logged in clear: names, birth dates, identifier values, phone
// numbers, address lines and decoded document text. Values shorter than
// minNeedle are left out, because random ciphertext would contain them by
// chance.
func phi(t testing.TB, inputs []input) map[string]bool {
	t.Helper()
	needles := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if len(s) >= minNeedle {
			needles[s] = true
		}
	}
	for _, in := range inputs {
		m := decode(t, in.Raw)
		switch in.Type {
		case "Patient":
			for _, n := range list(m["name"]) {
				add(str(n, "family"))
				for _, g := range list(n.(map[string]any)["given"]) {
					add(g.(string))
				}
			}
			add(str(m, "birthDate"))
			for _, id := range list(m["identifier"]) {
				if v := str(id, "value"); v != in.ID {
					add(v)
				}
			}
			for _, tel := range list(m["telecom"]) {
				add(str(tel, "value"))
			}
			for _, a := range list(m["address"]) {
				for _, l := range list(a.(map[string]any)["line"]) {
					add(l.(string))
				}
			}
		case "DocumentReference":
			for _, c := range list(m["content"]) {
				att, _ := c.(map[string]any)["attachment"].(map[string]any)
				data, _ := att["data"].(string)
				text, err := base64.StdEncoding.DecodeString(data)
				if err != nil {
					continue
				}
				for _, line := range strings.Split(string(text), "\n") {
					if line = strings.TrimSpace(line); len(line) >= 24 {
						add(line[:24])
					}
				}
			}
		}
	}
	return needles
}

const minNeedle = 8

func list(v any) []any { l, _ := v.([]any); return l }

func str(v any, key string) string {
	m, _ := v.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// findPHI returns the needles found in the printable runs of the files
// under dir (case-insensitive), and how many bytes it read.
func findPHI(t testing.TB, dir string, needles map[string]bool) ([]string, int64) {
	t.Helper()
	lengths := map[int]bool{}
	for n := range needles {
		lengths[len(n)] = true
	}
	var found []string
	seen := map[string]bool{}
	var total int64
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		total += int64(len(raw))
		for _, run := range printableRuns(raw, minNeedle) {
			run = bytes.ToLower(run)
			for i := range run {
				for l := range lengths {
					if i+l <= len(run) && needles[string(run[i:i+l])] && !seen[string(run[i:i+l])] {
						seen[string(run[i:i+l])] = true
						found = append(found, filepath.Base(path)+": "+string(run[i:i+l]))
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, total
}

// printableRuns returns the runs of printable ASCII of at least min bytes.
func printableRuns(b []byte, min int) [][]byte {
	var runs [][]byte
	start := -1
	for i, c := range b {
		printable := c >= 0x20 && c < 0x7f
		if printable && start < 0 {
			start = i
		}
		if !printable && start >= 0 {
			if i-start >= min {
				runs = append(runs, b[start:i])
			}
			start = -1
		}
	}
	if start >= 0 && len(b)-start >= min {
		runs = append(runs, b[start:])
	}
	return runs
}

// syncBuffer is a bytes.Buffer safe for concurrent writers, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

var _ = context.Background
