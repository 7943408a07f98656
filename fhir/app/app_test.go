package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/custos/custos/conformance"
	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/importer"
	"github.com/custos/custos/store/mongo/ferrettest"
)

// server is an assembled Custos behind a real HTTP server on loopback.
type server struct {
	app    *app.App
	http   *httptest.Server
	client *conformance.Client
	logs   *syncBuffer
	dir    string
}

// start assembles Custos over a fresh data directory; mongoURI selects
// the MongoDB store.
func start(t testing.TB, mongoURI string) *server {
	t.Helper()
	return startWith(t, mongoURI, nil)
}

// startWith is start with a function that adjusts the options.
func startWith(t testing.TB, mongoURI string, adjust func(*app.Options)) *server {
	t.Helper()
	dir := t.TempDir()
	logs := &syncBuffer{}
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String() + "/fhir"
	opts := app.Options{DataDir: dir, MongoURI: mongoURI,
		MongoDatabase: "custos_test", BaseURL: base, Logger: zerolog.New(logs)}
	if adjust != nil {
		adjust(&opts)
	}
	a, err := app.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open app: %v", err)
	}
	ts.Config.Handler = a.REST
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		a.Close()
	})
	s := &server{app: a, http: ts, logs: logs, dir: dir}
	s.client = s.clientWith(t, auth.MintOptions{Scope: "user/*.cruds user/AuditEvent.cruds",
		FHIRUser: "Practitioner/test-administrator"})
	return s
}

// clientWith returns a client whose requests carry a development token.
func (s *server) clientWith(t testing.TB, opts auth.MintOptions) *conformance.Client {
	t.Helper()
	token, err := s.app.Token(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance.Client{Base: s.app.Options.BaseURL, HTTP: s.http.Client(),
		Header: http.Header{"Authorization": {"Bearer " + token}}}
}

// emergencyReader is a client whose token claims emergency treatment,
// on a server that allows break-glass: it reads records that the official
// Consent examples deny to ordinary readers.
func (s *server) emergencyReader(t testing.TB) *conformance.Client {
	return s.clientWith(t, auth.MintOptions{Scope: "user/*.rs user/AuditEvent.rs",
		FHIRUser: "Practitioner/test-emergency", Purposes: []string{"ETREAT"}})
}

func allowBreakGlass(o *app.Options) { o.Consent.BreakGlass = true }

func (s *server) importFiles(t testing.TB, paths ...string) importer.Summary {
	t.Helper()
	files, _, err := importer.Files(paths)
	if err != nil {
		t.Fatal(err)
	}
	im := &importer.Importer{Repo: s.app.Repository,
		Problems: func(p importer.Problem) { t.Errorf("import problem: %s", p) }}
	sum, err := im.Run(context.Background(), files)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return sum
}

// checkRoundTrip reads every input back over HTTP and compares it with
// the file it came from.
func checkRoundTrip(t *testing.T, s *server, inputs []input) {
	reader := s.emergencyReader(t)
	var mu sync.Mutex
	failures := 0
	var wg sync.WaitGroup
	work := make(chan input)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				r := reader.Do(t, "GET", in.Type+"/"+in.ID, nil)
				ok := r.Status == http.StatusOK && sameResource(t, in.Raw, r.Body)
				if !ok {
					mu.Lock()
					if failures++; failures <= 5 {
						t.Errorf("%s/%s: status %d, read back differs from input",
							in.Type, in.ID, r.Status)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, in := range inputs {
		work <- in
	}
	close(work)
	wg.Wait()
	if failures > 0 {
		t.Fatalf("%d of %d resources did not round-trip", failures, len(inputs))
	}
}

func TestRoundTripSQLite(t *testing.T) {
	s := startWith(t, "", allowBreakGlass)
	sources := []string{
		filepath.Join(testdata, "synthea-10", "Patient.ndjson"),
		filepath.Join(testdata, "synthea-10", "DocumentReference.ndjson"),
		filepath.Join(testdata, "synthea-1000", "Patient.ndjson"),
		filepath.Join(testdata, "r4-examples"),
	}
	sum := s.importFiles(t, sources...)
	inputs := readInputs(t, sources...)
	unique := map[string]bool{}
	for _, in := range inputs {
		unique[in.Type+"/"+in.ID] = true
	}
	if sum.Created != len(unique) {
		t.Errorf("import created %d resources, want %d", sum.Created, len(unique))
	}
	if sum.Failed != 0 {
		t.Errorf("import failed on %d inputs", sum.Failed)
	}

	checkRoundTrip(t, s, inputs)

	t.Run("import again creates no version", func(t *testing.T) {
		again := s.importFiles(t, sources...)
		if again.Created != 0 || again.Updated != 0 {
			t.Errorf("second import: %d created, %d updated, want none", again.Created,
				again.Updated)
		}
		r := s.client.Do(t, "GET", inputs[0].Type+"/"+inputs[0].ID, nil)
		if etag := r.Header.Get("ETag"); etag != `W/"1"` {
			t.Errorf("after second import ETag %s, want W/\"1\"", etag)
		}
	})

	t.Run("sealed under compartment keys", func(t *testing.T) {
		for _, in := range inputs {
			v, err := s.app.Store.Current(context.Background(), in.Type, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := "shared"
			m := decode(t, in.Raw)
			switch in.Type {
			case "Patient":
				want = "patient/" + in.ID
			case "DocumentReference", "Consent":
				field := map[string]string{"DocumentReference": "subject", "Consent": "patient"}[in.Type]
				if ref := str(m[field], "reference"); strings.HasPrefix(ref, "Patient/") {
					want = "patient/" + strings.TrimPrefix(ref, "Patient/")
				}
			case "AuditEvent":
				want = "audit"
			}
			if v.KeyID != want {
				t.Fatalf("%s/%s sealed under %q, want %q", in.Type, in.ID, v.KeyID, want)
			}
		}
	})

	needles := phi(t, inputs)
	if len(needles) < 5000 {
		t.Fatalf("only %d PHI values collected; the test data is not what it should be",
			len(needles))
	}
	t.Run("no PHI at rest", func(t *testing.T) {
		found, read := findPHI(t, s.dir, needles)
		if read < 1<<20 {
			t.Fatalf("read only %d bytes from the data directory", read)
		}
		if len(found) > 0 {
			t.Fatalf("%d PHI values in clear in the store files, e.g. %q", len(found),
				found[:min(3, len(found))])
		}
	})
	t.Run("no PHI in logs", func(t *testing.T) {
		logs := s.logs.String()
		if n := strings.Count(logs, `"route":"/fhir/:type/:id"`); n < len(inputs) {
			t.Fatalf("log has %d read lines, want at least %d", n, len(inputs))
		}
		lower := strings.ToLower(logs)
		for n := range needles {
			if strings.Contains(lower, n) {
				t.Fatalf("log contains PHI %q", n)
			}
		}
	})
}

func TestRoundTripMongo(t *testing.T) {
	uri, ferretDir := ferrettest.Start(t)
	s := startWith(t, uri, allowBreakGlass)
	sources := []string{
		filepath.Join(testdata, "synthea-10", "Patient.ndjson"),
		filepath.Join(testdata, "r4-examples"),
	}
	s.importFiles(t, sources...)
	// FerretDB v1 scans a collection for every query, so the documents run
	// uses a slice of the notes.
	docs := readInputs(t, filepath.Join(testdata, "synthea-10", "DocumentReference.ndjson"))[:150]
	for _, d := range docs {
		r := s.client.Do(t, "PUT", "DocumentReference/"+d.ID, d.Raw)
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT %s: status %d: %s", d.ID, r.Status, r.Body)
		}
	}
	inputs := append(readInputs(t, sources...), docs...)
	checkRoundTrip(t, s, inputs)

	needles := phi(t, inputs)
	found, read := findPHI(t, ferretDir, needles)
	if read < 1<<16 {
		t.Fatalf("read only %d bytes from FerretDB's files", read)
	}
	if len(found) > 0 {
		t.Fatalf("%d PHI values in clear in FerretDB's files, e.g. %q", len(found),
			found[:min(3, len(found))])
	}
}

func TestConformanceSQLite(t *testing.T) {
	conformance.Run(t, start(t, "").client)
}

func TestConformanceMongo(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	conformance.Run(t, start(t, uri).client)
}

func TestConformanceExternalMongo(t *testing.T) {
	uri := os.Getenv("CUSTOS_TEST_MONGODB_URI")
	if uri == "" {
		t.Skip("CUSTOS_TEST_MONGODB_URI is not set: no real MongoDB deployment to test")
	}
	conformance.Run(t, start(t, uri).client)
}

func TestTamperedVersionFailsToOpen(t *testing.T) {
	s := start(t, "")
	a := create(t, s, `{"resourceType":"Patient","name":[{"family":"Original"}]}`)
	b := create(t, s, `{"resourceType":"Patient","name":[{"family":"Victim"}]}`)

	db, err := sql.Open("sqlite", filepath.Join(s.dir, app.SQLiteFile)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE versions SET body = (SELECT body FROM versions WHERE id = ?),
		key_id = (SELECT key_id FROM versions WHERE id = ?) WHERE id = ?`, a, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampering changed %d rows, want 1", n)
	}

	r := s.client.Do(t, "GET", "Patient/"+b, nil)
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("tampered read: status %d, want 500: %s", r.Status, r.Body)
	}
	if bytes.Contains(r.Body, []byte("Original")) {
		t.Fatalf("tampered read sent the other resource's data")
	}
	if !bytes.Contains(r.Body, []byte(`"resourceType":"OperationOutcome"`)) {
		t.Fatalf("tampered read did not send an OperationOutcome: %s", r.Body)
	}
	if ok := s.client.Do(t, "GET", "Patient/"+a, nil); ok.Status != http.StatusOK {
		t.Errorf("untouched resource: status %d", ok.Status)
	}
}

func create(t testing.TB, s *server, body string) string {
	t.Helper()
	r := s.client.Do(t, "POST", "Patient", []byte(body))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", r.Status, r.Body)
	}
	return r.JSON(t)["id"].(string)
}

func TestConcurrentUpdates(t *testing.T) {
	for _, backend := range []string{"sqlite", "mongo"} {
		t.Run(backend, func(t *testing.T) {
			uri := ""
			if backend == "mongo" {
				uri, _ = ferrettest.Start(t)
			}
			s := start(t, uri)
			concurrentUpdates(t, s)
			ifMatchRace(t, s)
		})
	}
}

func patientBody(id, family string) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":%q}]}`,
		id, family))
}

func concurrentUpdates(t *testing.T, s *server) {
	id := create(t, s, `{"resourceType":"Patient"}`)
	const writers = 50
	var wg sync.WaitGroup
	statuses := make([]int, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := s.client.Do(t, "PUT", "Patient/"+id, patientBody(id, fmt.Sprintf("Writer%d", i)))
			statuses[i] = r.Status
		}(i)
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Fatalf("writer %d: status %d", i, st)
		}
	}

	r := s.client.Do(t, "GET", "Patient/"+id+"/_history?_count=100", nil)
	entries := r.JSON(t)["entry"].([]any)
	if len(entries) != writers+1 {
		t.Fatalf("history has %d versions, want %d", len(entries), writers+1)
	}
	writersSeen := map[string]bool{}
	for i, e := range entries {
		res := e.(map[string]any)["resource"].(map[string]any)
		want := fmt.Sprint(writers + 1 - i)
		if v := res["meta"].(map[string]any)["versionId"]; v != want {
			t.Fatalf("history entry %d has version %v, want %s", i, v, want)
		}
		if names, ok := res["name"].([]any); ok {
			writersSeen[names[0].(map[string]any)["family"].(string)] = true
		}
	}
	if len(writersSeen) != writers {
		t.Fatalf("%d writers' versions kept, want %d", len(writersSeen), writers)
	}
}

func ifMatchRace(t *testing.T, s *server) {
	for round := 0; round < 5; round++ {
		id := create(t, s, `{"resourceType":"Patient"}`)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		begin := make(chan struct{})
		for i := range statuses {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-begin
				r := s.client.Do(t, "PUT", "Patient/"+id, patientBody(id, "Race"), "If-Match", `W/"1"`)
				statuses[i] = r.Status
			}(i)
		}
		close(begin)
		wg.Wait()
		ok, failed := 0, 0
		for _, st := range statuses {
			switch st {
			case http.StatusOK:
				ok++
			case http.StatusPreconditionFailed:
				failed++
			}
		}
		if ok != 1 || failed != 1 {
			t.Fatalf("round %d: statuses %v, want one 200 and one 412", round, statuses)
		}
		r := s.client.Do(t, "GET", "Patient/"+id, nil)
		if etag := r.Header.Get("ETag"); etag != `W/"2"` {
			t.Fatalf("round %d: ETag %s after race, want W/\"2\"", round, etag)
		}
	}
}

func TestImportReportsBadLines(t *testing.T) {
	s := start(t, "")
	dir := t.TempDir()
	good := readInputs(t, filepath.Join(testdata, "synthea-10", "Patient.ndjson"))
	lines := []string{
		string(good[0].Raw),
		`{"resourceType":"Patient","id":"bad-1","birthDate":"not-a-date"}`,
		string(good[1].Raw),
		`{not json`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{}}`,
		string(good[2].Raw),
	}
	path := filepath.Join(dir, "mixed.ndjson")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var problems []string
	im := &importer.Importer{Repo: s.app.Repository,
		Problems: func(p importer.Problem) { problems = append(problems, p.String()) }}
	sum, err := im.Run(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 3 || sum.Failed != 3 {
		t.Fatalf("created %d, failed %d; want 3 and 3", sum.Created, sum.Failed)
	}
	for i, line := range []int{2, 4, 5} {
		prefix := fmt.Sprintf("%s:%d: ", path, line)
		if i >= len(problems) || !strings.HasPrefix(problems[i], prefix) {
			t.Errorf("problem %d is %q, want prefix %q", i, problems, prefix)
		}
	}
	for _, in := range good[:3] {
		if r := s.client.Do(t, "GET", "Patient/"+in.ID, nil); r.Status != http.StatusOK {
			t.Errorf("good line %s not loaded: %d", in.ID, r.Status)
		}
	}
}

func TestImportBesideRunningServer(t *testing.T) {
	s := start(t, "")
	inputs := readInputs(t, filepath.Join(testdata, "synthea-10", "Patient.ndjson"))

	// A second App on the same data directory stands for `custos import`
	// running in another process while the server writes.
	other, err := app.Open(context.Background(), app.Options{DataDir: s.dir,
		BaseURL: s.client.Base, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	done := make(chan error, 1)
	go func() {
		files, _, _ := importer.Files([]string{filepath.Join(testdata, "synthea-10",
			"Patient.ndjson")})
		_, err := (&importer.Importer{Repo: other.Repository}).Run(context.Background(), files)
		done <- err
	}()
	for i := 0; i < 40; i++ {
		create(t, s, `{"resourceType":"Patient","active":true}`)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("import beside server: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("import beside server did not finish")
	}
	for _, in := range inputs {
		r := s.client.Do(t, "GET", "Patient/"+in.ID, nil)
		if r.Status != http.StatusOK || !sameResource(t, in.Raw, r.Body) {
			t.Fatalf("%s after concurrent import: status %d", in.ID, r.Status)
		}
	}
}
