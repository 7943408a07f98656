package mongo

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
	"github.com/custos/custos/store/mongo/ferrettest"
)

func patient(id string, versionID int64, tokens ...string) store.Write {
	w := store.Write{Version: store.Version{
		Type: "Patient", ID: id, VersionID: versionID,
		LastUpdated: time.UnixMilli(1_700_000_000_000 + versionID).UTC(),
		Body:        []byte("sealed " + id),
	}}
	for _, tok := range tokens {
		w.Tokens = append(w.Tokens, []byte(tok))
	}
	return w
}

func matchOne(t *testing.T, s *Store, tok string) []string {
	t.Helper()
	ids, err := s.Match(context.Background(), store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte(tok)}}})
	require.NoError(t, err)
	return ids
}

// TestPutWithoutTransactionRace shows what a Put of several writes loses
// without a transaction: a version that another writer stores between the
// check and the insert fails the call, and the writes before it stay.
func TestPutWithoutTransactionRace(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	s := openNew(t, uri)
	ctx := context.Background()

	// The raced version's document names another resource in its fields,
	// so the check does not see it, but its _id is that of Patient/b
	// version 1.
	raced := newVersionDoc(patient("b", 1).Version)
	raced.Type = "Elsewhere"
	_, err := s.versions.InsertOne(ctx, raced)
	require.NoError(t, err)

	err = s.Put(ctx, patient("a", 1, "tok-a"), patient("b", 1, "tok-b"), patient("c", 1, "tok-c"))
	require.ErrorIs(t, err, store.ErrConflict)

	got, err := s.Current(ctx, "Patient", "a")
	require.NoError(t, err, "the write before the rejected one is stored")
	assert.Equal(t, int64(1), got.VersionID)
	assert.Equal(t, []string{"a"}, matchOne(t, s, "tok-a"),
		"the write before the rejected one has its tokens")
	_, err = s.Current(ctx, "Patient", "c")
	assert.ErrorIs(t, err, store.ErrNotFound, "the write after the rejected one is not stored")
	assert.Empty(t, matchOne(t, s, "tok-c"))
}

// TestCurrentDocumentCatchesUp stands for a writer that stopped between
// its version document and its current document: the next write of the
// resource must succeed and bring the current document up to date.
func TestCurrentDocumentCatchesUp(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	s := openNew(t, uri)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, patient("p", 1, "v1")))

	_, err := s.versions.InsertOne(ctx, newVersionDoc(patient("p", 2).Version))
	require.NoError(t, err)
	got, err := s.Current(ctx, "Patient", "p")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.VersionID, "Current reads the versions collection")
	assert.Equal(t, []string{"p"}, matchOne(t, s, "v1"), "Match still sees version 1")

	assert.ErrorIs(t, s.Put(ctx, patient("p", 2, "v2")), store.ErrConflict)
	require.NoError(t, s.Put(ctx, patient("p", 3, "v3")))
	assert.Equal(t, []string{"p"}, matchOne(t, s, "v3"))
	assert.Empty(t, matchOne(t, s, "v1"))
}

// TestSlowerWriterKeepsNewerCurrent checks that the current document of a
// newer version is not overwritten by a writer of an older one that
// finishes later.
func TestSlowerWriterKeepsNewerCurrent(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	s := openNew(t, uri)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, patient("p", 1, "v1")))
	require.NoError(t, s.Put(ctx, patient("p", 2, "v2")))

	require.NoError(t, s.setCurrent(ctx, patient("p", 1, "v1")), "a guarded update")
	assert.Equal(t, []string{"p"}, matchOne(t, s, "v2"))
	assert.Empty(t, matchOne(t, s, "v1"))

	require.NoError(t, s.setCurrents(ctx, []store.Write{patient("p", 1, "v1")}),
		"an insert of a created resource's current document")
	assert.Equal(t, []string{"p"}, matchOne(t, s, "v2"))
	assert.Empty(t, matchOne(t, s, "v1"))
}
