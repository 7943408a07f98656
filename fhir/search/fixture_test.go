package search

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos/custos/store"
	"github.com/custos/custos/store/sqlite"
)

const testdata = "../../testdata/"

// testIndexKey is a fixed blind-index key so that failures reproduce.
var testIndexKey = []byte("0123456789abcdef0123456789abcdef")

// storeLoader opens resources the way the REST layer will, from the
// store's current version. The test store keeps bodies unsealed, since
// sealing belongs to another package.
type storeLoader struct{ st store.Store }

func (l storeLoader) Load(ctx context.Context, typ, id string) ([]byte, error) {
	v, err := l.st.Current(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if v.Deleted {
		return nil, store.ErrNotFound
	}
	return v.Body, nil
}

// corpus is the loaded test data: the raw resources by type, for the
// oracle, and the store and engine they were indexed into.
type corpus struct {
	st     store.Store
	engine *Engine
	byType map[string][]map[string]any
	dir    string
}

var (
	corpusOnce sync.Once
	shared     *corpus
	corpusErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.st.Close()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// loadCorpus indexes the 1,144 Synthea patients, the 1,215 Synthea
// DocumentReferences and the 44 official R4 examples into one SQLite store.
// Each resource gets a meta.lastUpdated one minute after the previous one,
// starting at 2026-01-01T00:00:00Z, so that _lastUpdated has data.
func loadCorpus(tb testing.TB) *corpus {
	tb.Helper()
	corpusOnce.Do(func() { shared, corpusErr = buildCorpus() })
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return shared
}

func buildCorpus() (*corpus, error) {
	dir, err := os.MkdirTemp("", "custos-search-test")
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(filepath.Join(dir, "custos.db"))
	if err != nil {
		return nil, err
	}
	c := &corpus{st: st, engine: NewEngine(testIndexKey, storeLoader{st}),
		byType: map[string][]map[string]any{}, dir: dir}
	var raw [][]byte
	for _, f := range []string{"synthea-1000/Patient.ndjson",
		"synthea-10/DocumentReference.ndjson"} {
		lines, err := readNDJSON(testdata + f)
		if err != nil {
			return nil, err
		}
		raw = append(raw, lines...)
	}
	examples, _ := filepath.Glob(testdata + "r4-examples/*.json")
	for _, f := range examples {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		raw = append(raw, b)
	}
	raw = append(raw, metaResources()...)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []store.Write
	for i, b := range raw {
		when := start.Add(time.Duration(i) * time.Minute)
		w, res, err := c.prepare(b, when)
		if err != nil {
			return nil, err
		}
		c.byType[w.Version.Type] = append(c.byType[w.Version.Type], res)
		batch = append(batch, w)
		if len(batch) == 200 || i == len(raw)-1 {
			if err := st.Put(context.Background(), batch...); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	return c, nil
}

func (c *corpus) prepare(b []byte, when time.Time) (store.Write, map[string]any, error) {
	res := decodeForTest(b)
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	meta["versionId"] = "1"
	meta["lastUpdated"] = when.Format("2006-01-02T15:04:05.000Z")
	body, err := json.Marshal(res)
	if err != nil {
		return store.Write{}, nil, err
	}
	typ, _ := res["resourceType"].(string)
	id, _ := res["id"].(string)
	tokens, err := c.engine.Tokens(typ, body)
	if err != nil {
		return store.Write{}, nil, fmt.Errorf("%s/%s: %w", typ, id, err)
	}
	return store.Write{Version: store.Version{Type: typ, ID: id, VersionID: 1,
		LastUpdated: when, KeyID: "test", Body: body, Hash: []byte{1}},
		Tokens: tokens}, decodeForTest(body), nil
}

func decodeForTest(b []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

func readNDJSON(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, append([]byte(nil), line...))
		}
	}
	return out, sc.Err()
}

// searchAll runs a search given as a query string and follows Next links,
// returning the sorted ids of all matches.
func (c *corpus) searchAll(tb testing.TB, typ, query string) []string {
	tb.Helper()
	ids, err := c.trySearchAll(typ, query)
	if err != nil {
		tb.Fatalf("%s?%s: %v", typ, query, err)
	}
	return ids
}

func (c *corpus) trySearchAll(typ, query string) ([]string, error) {
	vals, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	if vals.Get("_count") == "" {
		vals.Set("_count", "200")
	}
	q := Query{Type: typ, Params: vals, Handling: "strict"}
	var ids []string
	for pages := 0; pages < 1000; pages++ {
		page, err := c.engine.Search(context.Background(), c.st, q)
		if err != nil {
			return nil, err
		}
		for _, m := range page.Matches {
			ids = append(ids, m.ID)
		}
		if page.Next == "" {
			sort.Strings(ids)
			return ids, nil
		}
		q.Cursor = page.Next
	}
	return nil, fmt.Errorf("more than 1000 pages")
}

// idsWhere is the oracle's selection: the sorted ids of the resources of
// typ for which keep is true.
func (c *corpus) idsWhere(typ string, keep func(r map[string]any) bool) []string {
	ids := []string{}
	for _, r := range c.byType[typ] {
		if keep(r) {
			ids = append(ids, r["id"].(string))
		}
	}
	sort.Strings(ids)
	return ids
}

func sameIDs(tb testing.TB, label string, got, want []string) {
	tb.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		tb.Errorf("%s: got %d ids, want %d\n got  %s\n want %s", label, len(got), len(want),
			short(got), short(want))
	}
}

func short(ids []string) string {
	if len(ids) > 8 {
		return strings.Join(ids[:8], ",") + ",..."
	}
	return strings.Join(ids, ",")
}

// storeDelete writes a tombstone as the next version of a resource.
func storeDelete(t *testing.T, c *corpus, typ, id string) store.Version {
	t.Helper()
	cur, err := c.st.Current(context.Background(), typ, id)
	if err != nil {
		t.Fatal(err)
	}
	v := store.Version{Type: typ, ID: id, VersionID: cur.VersionID + 1,
		LastUpdated: time.Now().UTC(), Deleted: true, KeyID: "test"}
	if err := c.st.Put(context.Background(), store.Write{Version: v}); err != nil {
		t.Fatal(err)
	}
	return v
}

// Values of the meta elements that the common parameters (_profile,
// _security, _source, _tag) search, which the official examples and the
// Synthea data barely use: one resource of each type carries them.
const (
	testProfile  = "http://example.org/fhir/StructureDefinition/test"
	testSource   = "urn:custos:test-source"
	testTagSys   = "urn:custos:test"
	confidential = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
)

func metaResources() [][]byte {
	meta := `"meta":{"profile":["` + testProfile + `"],"source":"` + testSource +
		`","security":[{"system":"` + confidential + `","code":"R"}],"tag":[{"system":"` +
		testTagSys + `","code":"t1"}]}`
	return [][]byte{
		[]byte(`{"resourceType":"Patient","id":"meta-patient",` + meta + `}`),
		[]byte(`{"resourceType":"DocumentReference","id":"meta-documentreference",` + meta +
			`,"status":"current","subject":{"reference":"Patient/meta-patient"},` +
			`"content":[{"attachment":{"contentType":"text/plain"}}]}`),
		[]byte(`{"resourceType":"Consent","id":"meta-consent",` + meta +
			`,"status":"active","scope":{"text":"x"},"category":[{"text":"x"}],` +
			`"patient":{"reference":"Patient/meta-patient"}}`),
		[]byte(`{"resourceType":"AuditEvent","id":"meta-auditevent",` + meta +
			`,"type":{"code":"rest"},"recorded":"2026-01-01T00:00:00Z",` +
			`"agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`),
	}
}
