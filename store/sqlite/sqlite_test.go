package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
	"github.com/custos/custos/store/storetest"
)

func openTemp(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "custos.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	cases := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", fmt.Sprint(busyTimeoutMS)},
		{"foreign_keys", "0"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, pool := range []struct {
		name string
		run  func(query string) (string, error)
	}{
		{"write", func(q string) (v string, err error) {
			return v, s.write.QueryRow(q).Scan(&v)
		}},
		{"read", func(q string) (v string, err error) {
			return v, s.read.QueryRow(q).Scan(&v)
		}},
	} {
		for _, tc := range cases {
			got, err := pool.run("PRAGMA " + tc.pragma)
			require.NoError(t, err, "%s pool: %s", pool.name, tc.pragma)
			assert.Equal(t, tc.want, got, "%s pool: %s", pool.name, tc.pragma)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	s, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, store.Write{Version: store.Version{
		Type: "Patient", ID: "p1", VersionID: 1, LastUpdated: time.Now(), Body: []byte("x"),
	}, Tokens: [][]byte{[]byte("t")}}))
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.Current(ctx, "Patient", "p1")
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), v.Body)
	ids, err := s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("t")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"p1"}, ids)
}

// TestTwoStoresOneFile stands for a server and an import run that open the
// same file: both write at once, to their own resources and to one they
// share, and neither may fail with a lock error.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	a, err := Open(path)
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(path)
	require.NoError(t, err)
	defer b.Close()

	const perStore = 8     // goroutines per store
	const batches = 10     // Puts per goroutine
	const batchSize = 20   // writes per Put
	const sharedBumps = 10 // versions each goroutine adds to the shared resource
	ctx := context.Background()
	now := time.Now()
	shared := store.Version{Type: "Patient", ID: "shared", VersionID: 1, LastUpdated: now}
	require.NoError(t, a.Put(ctx, store.Write{Version: shared}))

	var wg sync.WaitGroup
	errs := make(chan error, 2*perStore)
	for si, s := range []*Store{a, b} {
		for g := range perStore {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- writeLoad(ctx, s, fmt.Sprintf("s%d-g%d", si, g), batches, batchSize,
					sharedBumps)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}

	// Each store reads what the other wrote.
	for name, s := range map[string]*Store{"first": a, "second": b} {
		n, err := s.CountMatch(ctx, store.MatchQuery{Type: "Observation",
			Clauses: []store.Clause{{[]byte("load")}}})
		require.NoError(t, err, name)
		assert.Equal(t, 2*perStore*batches*batchSize, n, "%s store: resources", name)
		v, err := s.Current(ctx, "Patient", "shared")
		require.NoError(t, err, name)
		assert.Equal(t, int64(1+2*perStore*sharedBumps), v.VersionID,
			"%s store: versions of the shared resource", name)
	}
}

// writeLoad puts batches of new Observations and adds versions to
// Patient/shared, retrying after conflicts.
func writeLoad(ctx context.Context, s *Store, prefix string, batches, size, bumps int) error {
	for i := range batches {
		var ws []store.Write
		for j := range size {
			ws = append(ws, store.Write{Version: store.Version{
				Type: "Observation", ID: fmt.Sprintf("%s-%d-%d", prefix, i, j), VersionID: 1,
				LastUpdated: time.Now(), Body: []byte("sealed"),
			}, Tokens: [][]byte{[]byte("load"), []byte(prefix)}})
		}
		if err := s.Put(ctx, ws...); err != nil {
			return fmt.Errorf("%s: batch %d: %w", prefix, i, err)
		}
	}
	for range bumps {
		for {
			cur, err := s.Current(ctx, "Patient", "shared")
			if err != nil {
				return fmt.Errorf("%s: current: %w", prefix, err)
			}
			err = s.Put(ctx, store.Write{Version: store.Version{Type: "Patient", ID: "shared",
				VersionID: cur.VersionID + 1, LastUpdated: time.Now()}})
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: shared: %w", prefix, err)
			}
			break
		}
	}
	return nil
}

func TestOpenInvalidPath(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing-dir", "custos.db"))
	assert.Error(t, err, "a folder that does not exist")
	_, err = Open(filepath.Join(t.TempDir(), "a?b.db"))
	assert.Error(t, err, "a path with '?'")
}

// benchResources is the number of resources seeded for the read
// benchmarks, about the Synthea sample that the design figures used.
const benchResources = 2000

func BenchmarkPut(b *testing.B) {
	storetest.BenchmarkPut(b, openTemp(b))
}

func BenchmarkCurrent(b *testing.B) {
	s := openTemp(b)
	storetest.Seed(b, s, benchResources)
	storetest.BenchmarkCurrent(b, s, benchResources)
}

func BenchmarkMatchUnique(b *testing.B) {
	s := openTemp(b)
	storetest.Seed(b, s, benchResources)
	storetest.BenchmarkMatchUnique(b, s, benchResources)
}

func BenchmarkMatchPage(b *testing.B) {
	s := openTemp(b)
	storetest.Seed(b, s, benchResources)
	storetest.BenchmarkMatchPage(b, s, benchResources)
}

func TestFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(context.Background(), store.Write{Version: store.Version{Type: "Patient",
		ID: "p", VersionID: 1, LastUpdated: time.Now(), Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "custos.db*"))
	if len(files) < 2 {
		t.Fatalf("expected the database and its WAL, found %v", files)
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), perm)
		}
	}
}
