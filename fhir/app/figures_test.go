package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/rest"
	"github.com/custos/custos/store"
)

// figureData is the data set of the figures: the 1,144 Synthea patients and
// the 1,215 Synthea notes.
type figureData struct {
	s        *server
	patients []input
	docs     []input
}

func loadFigures(b *testing.B, adjust func(*app.Options)) figureData {
	b.Helper()
	s := startWith(b, "", adjust)
	files := []string{patients1000, filepath.Join(testdata, "synthea-10", "DocumentReference.ndjson")}
	s.importFiles(b, files...)
	return figureData{s: s, patients: readInputs(b, files[0]), docs: readInputs(b, files[1])}
}

// load runs requests from clients goroutines for about d and returns each
// request's latency. next returns the path of request i.
func load(b *testing.B, client *http.Client, token, base string, clients int, d time.Duration,
	next func(i int) string) []time.Duration {
	b.Helper()
	var n atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("GET", base+"/"+next(int(n.Add(1))), nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				drainAndClose(resp)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// stats returns requests per second, p50 and p99.
func stats(lat []time.Duration, d time.Duration) (float64, time.Duration, time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / d.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
}

// BenchmarkFigureReadLayers measures reads by id with 16 clients, in one
// run: from the store directly, over HTTP with nothing in front, with
// authorization and consent, and with auditing too (the product as it
// runs).
func BenchmarkFigureReadLayers(b *testing.B) {
	f := loadFigures(b, nil)
	const clients, d = 16, 3 * time.Second
	path := func(i int) string { return "Patient/" + f.patients[i%len(f.patients)].ID }

	// From the store: the rows the HTTP reads send.
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				in := f.patients[int(n.Add(1))%len(f.patients)]
				if _, err := f.s.app.Store.Current(context.Background(), "Patient", in.ID); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	storeRate := float64(n.Load()) / d.Seconds()
	b.Logf("store Current, %d goroutines: %.0f reads/s", clients, storeRate)

	variants := []struct {
		name    string
		handler http.Handler
		token   bool
	}{
		{"HTTP, no auth, consent or audit", rest.New(rest.Config{BaseURL: f.s.client.Base},
			f.s.app.Repository), false},
		{"HTTP, auth and consent", rest.New(rest.Config{BaseURL: f.s.client.Base,
			Verifier: f.s.app.Verifier, Guard: f.s.app.Guard}, f.s.app.Repository), true},
		{"HTTP, auth, consent and audit", f.s.app.REST, true},
	}
	token, _ := f.s.app.Token(auth.MintOptions{Scope: "user/*.rs", FHIRUser: "Practitioner/bench",
		Purposes: []string{"TREAT"}})
	for _, v := range variants {
		ts := httptest.NewServer(v.handler)
		tok := ""
		if v.token {
			tok = token
		}
		// The token's audience is the app's base; the other servers
		// listen elsewhere but check the same audience string.
		lat := load(b, newClient(), tok, ts.URL+"/fhir", clients, d, path)
		rate, p50, p99 := stats(lat, d)
		b.Logf("%s: %.0f reads/s (%.2f of the store), p50 %v, p99 %v", v.name, rate,
			rate/storeRate, p50, p99)
		ts.Close()
	}
}

// BenchmarkFigureAudit compares read throughput with auditing on and off
// at 1, 16 and 64 clients, and measures the trail's size per read.
func BenchmarkFigureAudit(b *testing.B) {
	f := loadFigures(b, nil)
	path := func(i int) string { return "Patient/" + f.patients[i%len(f.patients)].ID }
	token, _ := f.s.app.Token(auth.MintOptions{Scope: "user/*.rs", FHIRUser: "Practitioner/bench"})
	off := httptest.NewServer(rest.New(rest.Config{BaseURL: f.s.client.Base,
		Verifier: f.s.app.Verifier, Guard: f.s.app.Guard}, f.s.app.Repository))
	defer off.Close()
	const d = 3 * time.Second
	for _, clients := range []int{1, 16, 64} {
		offRate, _, _ := stats(load(b, newClient(), token, off.URL+"/fhir", clients, d, path), d)
		onRate, _, p99 := stats(load(b, newClient(), token, f.s.http.URL+"/fhir", clients, d, path), d)
		b.Logf("%d clients: audit off %.0f reads/s, on %.0f reads/s (ratio %.2f), p99 on %v",
			clients, offRate, onRate, onRate/offRate, p99)
	}

	// Size: the store's growth over a known number of audited reads, with
	// the index caught up before and after.
	flushStart := time.Now()
	if err := f.s.app.Audit.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("the search index of the trail caught up %v after the load ended",
		time.Since(flushStart).Round(time.Millisecond))
	before := dirSize(b, f.s.dir)
	if before == 0 {
		b.Fatal("no store file")
	}
	events0, _ := f.s.app.Store.CountHistory(context.Background(), store.HistoryFilter{Type: "AuditEvent"})
	load(b, newClient(), token, f.s.http.URL+"/fhir", 16, 2*time.Second, path)
	events1, _ := f.s.app.Store.CountHistory(context.Background(), store.HistoryFilter{Type: "AuditEvent"})
	if err := f.s.app.Audit.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	after := dirSize(b, f.s.dir)
	perEvent := float64(after-before) / float64(events1-events0)
	b.Logf("trail: %d AuditEvents took %d bytes: %.0f bytes per read, %.1f GB per million reads",
		events1-events0, after-before, perEvent, perEvent*1e6/1e9)
}

// BenchmarkFigureSearch measures search latency with one client, each as
// a ratio to reading one resource by id in the same run.
func BenchmarkFigureSearch(b *testing.B) {
	f := loadFigures(b, nil)
	first := decode(b, f.patients[0].Raw)
	family := first["name"].([]any)[0].(map[string]any)["family"].(string)
	identifier := first["identifier"].([]any)[1].(map[string]any)
	doc := decode(b, f.docs[0].Raw)
	docPatient := doc["subject"].(map[string]any)["reference"].(string)
	docType := doc["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
	queries := []struct{ name, path string }{
		{"read by id", "Patient/" + f.patients[0].ID},
		{"Patient?family=", "Patient?family=" + url.QueryEscape(family)},
		{"Patient?birthdate=ge", "Patient?birthdate=ge1990-01-01&_count=50"},
		{"Patient?identifier=", "Patient?identifier=" + url.QueryEscape(
			fmt.Sprint(identifier["system"], "|", identifier["value"]))},
		{"DocumentReference?patient&type", "DocumentReference?patient=" + docPatient +
			"&type=" + docType},
		{"chained subject:Patient.family", "DocumentReference?subject:Patient.family=" +
			url.QueryEscape(family) + "&_count=50"},
	}
	token, _ := f.s.app.Token(auth.MintOptions{Scope: "user/*.rs", FHIRUser: "Practitioner/bench"})
	const d = 2 * time.Second
	var base time.Duration
	for _, q := range queries {
		lat := load(b, newClient(), token, f.s.http.URL+"/fhir", 1, d, func(int) string { return q.path })
		_, p50, p99 := stats(lat, d)
		if base == 0 {
			base = p50
		}
		b.Logf("%-34s p50 %8v (%.1f× read), p99 %8v", q.name, p50, float64(p50)/float64(base), p99)
	}
}

// BenchmarkFigureConsentSearch measures a search over 1,000 patients with
// a mix of permitting and denying consents, against the same search
// without consents.
func BenchmarkFigureConsentSearch(b *testing.B) {
	f := loadFigures(b, nil)
	token, _ := f.s.app.Token(auth.MintOptions{Scope: "user/*.rs", FHIRUser: "Practitioner/f202",
		Purposes: []string{"TREAT"}})
	query := func(int) string { return "Patient?gender=female&_count=50&_total=accurate" }
	const d = 3 * time.Second
	_, p50Before, p99Before := stats(load(b, newClient(), token, f.s.http.URL+"/fhir", 4, d, query), d)

	// A third of the patients permit only Practitioner/f204, a third carry
	// an opt-out Consent that denies no one, and a third have none.
	for i, p := range f.patients {
		var body []byte
		switch i % 3 {
		case 0:
			body = consentFor(b, "consent-example-notThem", fmt.Sprintf("c%d", i), p.ID)
		case 1:
			body = []byte(`{"resourceType":"Consent","status":"active","scope":{"coding":[{` +
				`"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":` +
				`"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org",` +
				`"code":"59284-0"}]}],"patient":{"reference":"Patient/` + p.ID + `"},` +
				`"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/` +
				`v3-ActCode","code":"OPTOUT"}]}}`)
		default:
			continue
		}
		r := f.s.client.Do(b, "POST", "Consent", body)
		if r.Status != http.StatusCreated {
			b.Fatalf("create consent: %d %s", r.Status, r.Body)
		}
	}
	_, p50After, p99After := stats(load(b, newClient(), token, f.s.http.URL+"/fhir", 4, d, query), d)
	b.Logf("Patient?gender=female, 4 clients: without consents p50 %v p99 %v; with a third "+
		"denying, a third permitting: p50 %v p99 %v (%.2f×)", p50Before, p99Before, p50After,
		p99After, float64(p50After)/float64(p50Before))
}

// dirSize returns the size of a compacted copy of the SQLite database
// (VACUUM INTO), so that sizes before and after compare the data stored,
// not free pages or the WAL.
func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, app.SQLiteFile)+"?_busy_timeout=30000")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(b.TempDir(), "copy.db")
	if _, err := db.Exec(`VACUUM INTO ?`, path); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}
