package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
)

func testAddTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, write("AuditEvent", "e1", 1, at(0)))
	put(t, s, write("AuditEvent", "e2", 1, at(1)))
	put(t, s, write("AuditEvent", "e3", 1, at(2), "already"))
	put(t, s, write("AuditEvent", "e4", 1, at(3)))
	put(t, s, tombstone("AuditEvent", "e4", 2, at(4)))

	ids, err := s.Unindexed(ctx, "AuditEvent", "", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"e1", "e2"}, ids, "resources without tokens, tombstones left out")
	ids, err = s.Unindexed(ctx, "AuditEvent", "e1", 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"e2"}, ids, "after and limit")

	require.NoError(t, s.AddTokens(ctx, "AuditEvent", []store.TokenEntry{
		{ID: "e1", VersionID: 1, Tokens: [][]byte{[]byte("agent:x"), []byte("date:2024")}},
		{ID: "e2", VersionID: 7, Tokens: [][]byte{[]byte("agent:x")}},
		{ID: "missing", VersionID: 1, Tokens: [][]byte{[]byte("agent:x")}},
	}))
	got, err := s.Match(ctx, store.MatchQuery{Type: "AuditEvent",
		Clauses: []store.Clause{{[]byte("agent:x")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"e1"}, got, "only the entry naming the current version is indexed")
	got, err = s.Match(ctx, store.MatchQuery{Type: "AuditEvent",
		Clauses: []store.Clause{{[]byte("agent:x")}, {[]byte("date:2024")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"e1"}, got)

	ids, err = s.Unindexed(ctx, "AuditEvent", "", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"e2"}, ids)

	// Adding the same tokens again changes nothing.
	require.NoError(t, s.AddTokens(ctx, "AuditEvent", []store.TokenEntry{
		{ID: "e1", VersionID: 1, Tokens: [][]byte{[]byte("agent:x")}}}))
	n, err := s.CountMatch(ctx, store.MatchQuery{Type: "AuditEvent",
		Clauses: []store.Clause{{[]byte("agent:x")}}})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
