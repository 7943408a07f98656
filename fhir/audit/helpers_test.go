package audit

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/store"
	"github.com/custos/custos/store/kms"
	"github.com/custos/custos/store/seal"
	"github.com/custos/custos/store/sqlite"

	_ "modernc.org/sqlite" // the driver the tests use to alter rows
)

// trail is a repository over a SQLite file in a temporary directory, put
// together as the server's app package does.
type trail struct {
	repo   *repository.Repository
	store  *sqlite.Store
	sealer *seal.Sealer
	path   string
	dir    string
}

func openTrail(t testing.TB) *trail {
	t.Helper()
	dir := t.TempDir()
	return reopenTrail(t, dir)
}

func reopenTrail(t testing.TB, dir string) *trail {
	t.Helper()
	keys, err := kms.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "custos.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	codec, err := model.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	sealer := seal.New(keys, st)
	repo, err := repository.New(context.Background(), codec, st, sealer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &trail{repo: repo, store: st, sealer: sealer, path: path, dir: dir}
}

// sqlDB opens the trail's file directly, as someone with access to the
// file but not to the keys would.
func (tr *trail) sqlDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", tr.path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (tr *trail) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	res, err := tr.sqlDB(t).Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows changed, expected 1", query, n)
	}
}

func (tr *trail) recorder(t testing.TB, cfg Config) *Recorder {
	t.Helper()
	if cfg.Server.Name == "" {
		cfg.Server = testServer
	}
	r, err := NewRecorder(context.Background(), tr.repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readEvent is a typical read of one of a hundred patients.
func readEvent(i int) Event {
	p := "pat-" + strconv.Itoa(i%100)
	return Event{Interaction: "read", Method: "GET", Status: 200,
		RequestID: "req-" + strconv.Itoa(i), Time: time.Now(),
		User: Requestor{FHIRUser: "Practitioner/1", Subject: "user-1", ClientID: "app",
			Address: "127.0.0.1"},
		Patients: []string{p}, Resources: []string{"Patient/" + p},
		Purposes: []string{"TREAT"}}
}

func historyOf(typ string) store.HistoryFilter { return store.HistoryFilter{Type: typ} }

type repositoryRawDoc = repository.RawDoc

// openBody returns the opened canonical JSON of AuditEvent/id.
func (tr *trail) openBody(t testing.TB, id string) []byte {
	t.Helper()
	e, err := tr.repo.VRead(context.Background(), "AuditEvent", id, 1)
	if err != nil {
		t.Fatal(err)
	}
	return e.Body
}

// reseal replaces the stored body of AuditEvent/id by body sealed under
// the audit key, as an insider holding the keys could.
func (tr *trail) reseal(t testing.TB, id string, body []byte) {
	t.Helper()
	sealed, err := tr.sealer.Seal(context.Background(), seal.AuditKeyID, "AuditEvent",
		id, 1, body)
	if err != nil {
		t.Fatal(err)
	}
	tr.exec(t, `UPDATE versions SET body = ? WHERE type = 'AuditEvent' AND id = ?`,
		sealed, id)
}
