// Package storetest is the contract suite that every store.Store
// implementation passes, and the benchmarks of its hot paths. The tests of
// each implementation call Run and the Benchmark functions.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
)

// Option changes what Run checks.
type Option func(*config)

type config struct {
	atomicPut bool
}

// WithoutAtomicPut skips the one check that a Put of several writes stores
// all of them or none, for a deployment that cannot run multi-document
// transactions (FerretDB v1, a standalone MongoDB). Every other check
// still runs.
func WithoutAtomicPut() Option {
	return func(c *config) { c.atomicPut = false }
}

// Run runs the contract suite. open must return an empty store that the
// test may use alone; Run closes it when the test ends unless the test
// closed it itself.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	cfg := config{atomicPut: true}
	for _, o := range opts {
		o(&cfg)
	}

	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"PutCurrentRead", testPutCurrentRead},
		{"PutNothing", testPutNothing},
		{"VersionConflicts", testVersionConflicts},
		{"ConcurrentWriters", testConcurrentWriters},
		{"HistoryOrder", testHistoryOrder},
		{"HistorySince", testHistorySince},
		{"HistoryBeforePaging", testHistoryBeforePaging},
		{"CountHistory", testCountHistory},
		{"Tombstones", testTombstones},
		{"Match", testMatch},
		{"MatchPaging", testMatchPaging},
		{"TokensReplaced", testTokensReplaced},
		{"WrappedKeys", testWrappedKeys},
		{"WrappedKeysConcurrent", testWrappedKeysConcurrent},
		{"Leases", testLeases},
		{"Purge", testPurge},
		{"AddTokens", testAddTokens},
		{"AtomicPut", func(t *testing.T, s store.Store) {
			if !cfg.atomicPut {
				t.Skip("skipped: this store cannot make a Put of several writes atomic")
			}
			testAtomicPut(t, s)
		}},
		{"ContextCanceled", testContextCanceled},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.run(t, s)
		})
	}
}

// base is the LastUpdated of the first version in most tests.
var base = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// at returns base plus n milliseconds.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

// write returns a write of one version with a body and hash that name it,
// and the given tokens.
func write(typ, id string, versionID int64, lastUpdated time.Time, tokens ...string) store.Write {
	w := store.Write{Version: store.Version{
		Type:        typ,
		ID:          id,
		VersionID:   versionID,
		LastUpdated: lastUpdated,
		KeyID:       "key-" + id,
		Body:        fmt.Appendf(nil, "sealed %s/%s/%d", typ, id, versionID),
		Hash:        fmt.Appendf(nil, "hash %s/%s/%d", typ, id, versionID),
	}}
	for _, tok := range tokens {
		w.Tokens = append(w.Tokens, []byte(tok))
	}
	return w
}

// tombstone returns a write that deletes a resource at versionID.
func tombstone(typ, id string, versionID int64, lastUpdated time.Time) store.Write {
	return store.Write{Version: store.Version{
		Type: typ, ID: id, VersionID: versionID, LastUpdated: lastUpdated,
		Deleted: true, KeyID: "key-" + id,
	}}
}

func put(t testing.TB, s store.Store, writes ...store.Write) {
	t.Helper()
	require.NoError(t, s.Put(context.Background(), writes...))
}

// assertVersion checks every field of got against want. Empty and nil
// byte slices count as equal.
func assertVersion(t *testing.T, want, got store.Version) {
	t.Helper()
	assert.Equal(t, want.Type, got.Type, "Type")
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.VersionID, got.VersionID, "VersionID")
	assert.True(t, want.LastUpdated.Equal(got.LastUpdated),
		"LastUpdated: want %v, got %v", want.LastUpdated, got.LastUpdated)
	assert.Equal(t, time.UTC, got.LastUpdated.Location(), "LastUpdated location")
	assert.Equal(t, want.Deleted, got.Deleted, "Deleted")
	assert.Equal(t, want.KeyID, got.KeyID, "KeyID")
	assert.True(t, bytes.Equal(want.Body, got.Body), "Body: want %q, got %q", want.Body, got.Body)
	assert.True(t, bytes.Equal(want.Hash, got.Hash), "Hash: want %q, got %q", want.Hash, got.Hash)
}

// positionOf returns the history position of v.
func positionOf(v store.Version) store.Position {
	return store.Position{
		LastUpdated: v.LastUpdated, Type: v.Type, ID: v.ID, VersionID: v.VersionID,
	}
}

// label names a version in failure messages.
func label(v store.Version) string {
	return fmt.Sprintf("%s/%s/_history/%d", v.Type, v.ID, v.VersionID)
}

func labels(vs []store.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = label(v)
	}
	return out
}

func testPutCurrentRead(t *testing.T, s store.Store) {
	ctx := context.Background()

	// A time with nanoseconds in another zone must come back as UTC at
	// millisecond precision.
	paris := time.FixedZone("UTC+1", 3600)
	first := write("Patient", "p1", 1, base.In(paris).Add(1234567*time.Nanosecond), "a")
	second := write("Patient", "p1", 2, at(5), "b")
	put(t, s, first)
	put(t, s, second)

	wantFirst := first.Version
	wantFirst.LastUpdated = at(1)
	got, err := s.Read(ctx, "Patient", "p1", 1)
	require.NoError(t, err)
	assertVersion(t, wantFirst, got)

	got, err = s.Read(ctx, "Patient", "p1", 2)
	require.NoError(t, err)
	assertVersion(t, second.Version, got)

	got, err = s.Current(ctx, "Patient", "p1")
	require.NoError(t, err)
	assertVersion(t, second.Version, got)

	notFound := []struct {
		name string
		call func() error
	}{
		{"current of unknown id", func() error {
			_, err := s.Current(ctx, "Patient", "p2")
			return err
		}},
		{"current of same id in other type", func() error {
			_, err := s.Current(ctx, "Observation", "p1")
			return err
		}},
		{"read of version after current", func() error {
			_, err := s.Read(ctx, "Patient", "p1", 3)
			return err
		}},
		{"read of version 0", func() error {
			_, err := s.Read(ctx, "Patient", "p1", 0)
			return err
		}},
	}
	for _, tc := range notFound {
		assert.ErrorIs(t, tc.call(), store.ErrNotFound, tc.name)
	}

	require.NoError(t, s.Ping(ctx))
}

func testPutNothing(t *testing.T, s store.Store) {
	require.NoError(t, s.Put(context.Background()))
	n, err := s.CountHistory(context.Background(), store.HistoryFilter{})
	require.NoError(t, err)
	assert.Zero(t, n)
}

func testVersionConflicts(t *testing.T, s store.Store) {
	ctx := context.Background()
	steps := []struct {
		name      string
		versionID int64
		conflict  bool
	}{
		{"version 2 of a new resource", 2, true},
		{"version 0 of a new resource", 0, true},
		{"version 1 of a new resource", 1, false},
		{"version 1 again", 1, true},
		{"version 3 skipping 2", 3, true},
		{"version 2", 2, false},
		{"version 2 again", 2, true},
	}
	for _, st := range steps {
		err := s.Put(ctx, write("Patient", "p1", st.versionID, at(int(st.versionID))))
		if st.conflict {
			assert.ErrorIs(t, err, store.ErrConflict, st.name)
		} else {
			assert.NoError(t, err, st.name)
		}
	}

	got, err := s.Current(ctx, "Patient", "p1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.VersionID)
	n, err := s.CountHistory(ctx, store.HistoryFilter{Type: "Patient", ID: "p1"})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a conflicting write must store nothing")
}

// historySet is stored by the history tests. Its versions share
// LastUpdated values across types and ids, so the order needs every part
// of the (LastUpdated, Type, ID, VersionID) key.
func historySet() []store.Write {
	return []store.Write{
		write("Patient", "a", 1, at(0)),
		write("Patient", "b", 1, at(0)),
		write("Observation", "a", 1, at(0)),
		write("Patient", "a", 2, at(10)),
		write("Observation", "o1", 1, at(10)),
		write("Patient", "b", 2, at(20)),
		write("Patient", "a", 3, at(20)),
		write("Observation", "a", 2, at(30)),
		tombstone("Patient", "b", 3, at(40)),
		write("Patient", "c", 1, at(40)),
	}
}

// expectedHistory returns the versions of writes that keep reports true
// for, sorted newest first by (LastUpdated, Type, ID, VersionID).
func expectedHistory(writes []store.Write, keep func(store.Version) bool) []store.Version {
	var out []store.Version
	for _, w := range writes {
		if keep(w.Version) {
			out = append(out, w.Version)
		}
	}
	slices.SortFunc(out, func(x, y store.Version) int {
		if c := y.LastUpdated.Compare(x.LastUpdated); c != 0 {
			return c
		}
		if x.Type != y.Type {
			return -compareStrings(x.Type, y.Type)
		}
		if x.ID != y.ID {
			return -compareStrings(x.ID, y.ID)
		}
		return int(y.VersionID - x.VersionID)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testHistoryOrder(t *testing.T, s store.Store) {
	writes := historySet()
	for _, w := range writes {
		put(t, s, w)
	}

	cases := []struct {
		name   string
		filter store.HistoryFilter
		keep   func(store.Version) bool
	}{
		{"every type", store.HistoryFilter{},
			func(store.Version) bool { return true }},
		{"one type", store.HistoryFilter{Type: "Patient"},
			func(v store.Version) bool { return v.Type == "Patient" }},
		{"one resource", store.HistoryFilter{Type: "Patient", ID: "a"},
			func(v store.Version) bool { return v.Type == "Patient" && v.ID == "a" }},
		{"unknown type", store.HistoryFilter{Type: "Encounter"},
			func(store.Version) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.History(context.Background(), tc.filter)
			require.NoError(t, err)
			want := expectedHistory(writes, tc.keep)
			require.Equal(t, labels(want), labels(got))
			for i := range want {
				assertVersion(t, want[i], got[i])
			}
		})
	}

	t.Run("limit", func(t *testing.T) {
		got, err := s.History(context.Background(), store.HistoryFilter{Limit: 3})
		require.NoError(t, err)
		want := expectedHistory(writes, func(store.Version) bool { return true })
		assert.Equal(t, labels(want[:3]), labels(got))
	})
}

func testHistorySince(t *testing.T, s store.Store) {
	writes := historySet()
	for _, w := range writes {
		put(t, s, w)
	}
	cases := []struct {
		name  string
		since time.Time
		count int // worked out by hand from historySet
	}{
		{"before everything", at(-1000), 10},
		{"exactly the first time", at(0), 10},
		{"exactly a later time", at(20), 5},
		{"half a millisecond before a time", at(20).Add(-500 * time.Microsecond), 5},
		{"half a millisecond after a time", at(20).Add(500 * time.Microsecond), 3},
		{"after everything", at(41), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := store.HistoryFilter{Since: tc.since}
			got, err := s.History(context.Background(), f)
			require.NoError(t, err)
			assert.Len(t, got, tc.count)
			for _, v := range got {
				assert.False(t, v.LastUpdated.Before(tc.since), "%s is before Since", label(v))
			}
			n, err := s.CountHistory(context.Background(), f)
			require.NoError(t, err)
			assert.Equal(t, tc.count, n)
		})
	}
}

func testHistoryBeforePaging(t *testing.T, s store.Store) {
	writes := historySet()
	for _, w := range writes {
		put(t, s, w)
	}
	for _, pageSize := range []int{1, 2, 3, 4, 10, 11} {
		for _, typ := range []string{"", "Patient"} {
			t.Run(fmt.Sprintf("page size %d type %q", pageSize, typ), func(t *testing.T) {
				want := expectedHistory(writes, func(v store.Version) bool {
					return typ == "" || v.Type == typ
				})
				var walked []store.Version
				f := store.HistoryFilter{Type: typ, Limit: pageSize}
				for page := 0; ; page++ {
					require.Less(t, page, 20, "paging does not end")
					got, err := s.History(context.Background(), f)
					require.NoError(t, err)
					require.LessOrEqual(t, len(got), pageSize)
					walked = append(walked, got...)
					if len(got) < pageSize {
						break
					}
					p := positionOf(got[len(got)-1])
					f.Before = &p
				}
				assert.Equal(t, labels(want), labels(walked),
					"the walk must list every version once, newest first")
			})
		}
	}
}

func testCountHistory(t *testing.T, s store.Store) {
	writes := historySet()
	for _, w := range writes {
		put(t, s, w)
	}
	ctx := context.Background()
	before := positionOf(writes[5].Version)
	cases := []struct {
		name   string
		filter store.HistoryFilter
		count  int // worked out by hand from historySet
	}{
		{"everything", store.HistoryFilter{}, 10},
		{"one type", store.HistoryFilter{Type: "Observation"}, 3},
		{"one resource", store.HistoryFilter{Type: "Patient", ID: "b"}, 3},
		{"since", store.HistoryFilter{Type: "Patient", Since: at(20)}, 4},
		{"before and limit are ignored", store.HistoryFilter{Before: &before, Limit: 1}, 10},
		{"nothing", store.HistoryFilter{Type: "Patient", ID: "zzz"}, 0},
	}
	for _, tc := range cases {
		n, err := s.CountHistory(ctx, tc.filter)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.count, n, tc.name)
	}
}

func testTombstones(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, write("Patient", "p1", 1, at(0), "name:ann"))
	del := tombstone("Patient", "p1", 2, at(1))
	put(t, s, del)

	got, err := s.Current(ctx, "Patient", "p1")
	require.NoError(t, err)
	assertVersion(t, del.Version, got)
	assert.Empty(t, got.Body)
	assert.Empty(t, got.Hash)

	old, err := s.Read(ctx, "Patient", "p1", 1)
	require.NoError(t, err, "history keeps the version before the delete")
	assert.False(t, old.Deleted)

	ids, err := s.Match(ctx, store.MatchQuery{Type: "Patient"})
	require.NoError(t, err)
	assert.Empty(t, ids, "a deleted resource matches no query")
	ids, err = s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("name:ann")}}})
	require.NoError(t, err)
	assert.Empty(t, ids, "a deleted resource keeps no tokens")

	hist, err := s.History(ctx, store.HistoryFilter{Type: "Patient", ID: "p1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"Patient/p1/_history/2", "Patient/p1/_history/1"}, labels(hist))

	// A deleted resource can be created again with the next version.
	assert.ErrorIs(t, s.Put(ctx, write("Patient", "p1", 1, at(2))), store.ErrConflict)
	put(t, s, write("Patient", "p1", 3, at(3), "name:ann"))
	ids, err = s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("name:ann")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"p1"}, ids)
}

func testAtomicPut(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, write("Patient", "exists", 1, at(0), "old"))

	// The last write conflicts, so none of the three may be stored.
	err := s.Put(ctx,
		write("Patient", "new", 1, at(1), "shared"),
		write("Patient", "exists", 2, at(1), "shared"),
		write("Patient", "missing", 2, at(1), "shared"),
	)
	require.ErrorIs(t, err, store.ErrConflict)

	_, err = s.Current(ctx, "Patient", "new")
	assert.ErrorIs(t, err, store.ErrNotFound, "first write of a failed Put was stored")
	got, err := s.Current(ctx, "Patient", "exists")
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.VersionID, "second write of a failed Put was stored")

	ids, err := s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("shared")}}})
	require.NoError(t, err)
	assert.Empty(t, ids, "tokens of a failed Put were stored")
	ids, err = s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("old")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"exists"}, ids, "a failed Put removed tokens")

	// The same writes without the conflicting one are stored together.
	require.NoError(t, s.Put(ctx,
		write("Patient", "new", 1, at(1), "shared"),
		write("Patient", "exists", 2, at(1), "shared"),
		write("Patient", "new", 2, at(2), "shared", "again"),
	))
	ids, err = s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("shared")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"exists", "new"}, ids)
	got, err = s.Current(ctx, "Patient", "new")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.VersionID, "two versions of one resource in one Put")
}

func testContextCanceled(t *testing.T, s store.Store) {
	put(t, s, write("Patient", "p1", 1, at(0), "a"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error { return s.Put(ctx, write("Patient", "p1", 2, at(1), "b")) }},
		{"Current", func() error { _, err := s.Current(ctx, "Patient", "p1"); return err }},
		{"Read", func() error { _, err := s.Read(ctx, "Patient", "p1", 1); return err }},
		{"History", func() error { _, err := s.History(ctx, store.HistoryFilter{}); return err }},
		{"CountHistory", func() error {
			_, err := s.CountHistory(ctx, store.HistoryFilter{})
			return err
		}},
		{"Match", func() error {
			_, err := s.Match(ctx, store.MatchQuery{Type: "Patient"})
			return err
		}},
		{"CountMatch", func() error {
			_, err := s.CountMatch(ctx, store.MatchQuery{Type: "Patient"})
			return err
		}},
		{"WrappedKey", func() error { _, err := s.WrappedKey(ctx, "k"); return err }},
		{"PutWrappedKey", func() error {
			_, err := s.PutWrappedKey(ctx, "k", []byte("w"))
			return err
		}},
		{"ClaimLease", func() error {
			_, err := s.ClaimLease(ctx, "l", "o", time.Minute)
			return err
		}},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		assert.ErrorIs(t, c.call(), context.Canceled, c.name)
	}

	bg := context.Background()
	got, err := s.Current(bg, "Patient", "p1")
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.VersionID, "a canceled Put was stored")
	_, err = s.WrappedKey(bg, "k")
	assert.ErrorIs(t, err, store.ErrNotFound, "a canceled PutWrappedKey was stored")
}

func testClose(t *testing.T, s store.Store) {
	put(t, s, write("Patient", "p1", 1, at(0), "a"))
	require.NoError(t, s.Close())

	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error { return s.Put(ctx, write("Patient", "p1", 2, at(1))) }},
		{"Current", func() error { _, err := s.Current(ctx, "Patient", "p1"); return err }},
		{"Read", func() error { _, err := s.Read(ctx, "Patient", "p1", 1); return err }},
		{"History", func() error { _, err := s.History(ctx, store.HistoryFilter{}); return err }},
		{"CountHistory", func() error {
			_, err := s.CountHistory(ctx, store.HistoryFilter{})
			return err
		}},
		{"Match", func() error {
			_, err := s.Match(ctx, store.MatchQuery{Type: "Patient"})
			return err
		}},
		{"CountMatch", func() error {
			_, err := s.CountMatch(ctx, store.MatchQuery{Type: "Patient"})
			return err
		}},
		{"WrappedKey", func() error { _, err := s.WrappedKey(ctx, "k"); return err }},
		{"PutWrappedKey", func() error {
			_, err := s.PutWrappedKey(ctx, "k", []byte("w"))
			return err
		}},
		{"ClaimLease", func() error {
			_, err := s.ClaimLease(ctx, "l", "o", time.Minute)
			return err
		}},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		err := c.call()
		assert.ErrorIs(t, err, store.ErrUnavailable, c.name)
		assert.False(t, errors.Is(err, store.ErrNotFound), "%s: closed is not not-found", c.name)
	}
	assert.NoError(t, s.Close(), "a second Close")
}
