package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
)

func testPurge(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, write("AuditEvent", "a1", 1, at(0), "agent:x"))
	put(t, s, write("AuditEvent", "a2", 1, at(1), "agent:x"))
	put(t, s, write("Patient", "a1", 1, at(2), "agent:x"))
	put(t, s, write("AuditEvent", "a1", 2, at(3), "agent:x"))

	require.NoError(t, s.Purge(ctx, "AuditEvent", []string{"a1", "missing"}))

	_, err := s.Current(ctx, "AuditEvent", "a1")
	assert.ErrorIs(t, err, store.ErrNotFound, "the purged resource is gone")
	_, err = s.Read(ctx, "AuditEvent", "a1", 1)
	assert.ErrorIs(t, err, store.ErrNotFound, "its old versions are gone too")
	hist, err := s.History(ctx, store.HistoryFilter{Type: "AuditEvent"})
	require.NoError(t, err)
	assert.Equal(t, []string{"AuditEvent/a2/_history/1"}, labels(hist))

	ids, err := s.Match(ctx, store.MatchQuery{Type: "AuditEvent",
		Clauses: []store.Clause{{[]byte("agent:x")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"a2"}, ids, "the purged resource's postings are gone")

	_, err = s.Current(ctx, "Patient", "a1")
	assert.NoError(t, err, "a resource of another type with the same id stays")

	// The id can be used again from version 1.
	put(t, s, write("AuditEvent", "a1", 1, at(4)))
	require.NoError(t, s.Purge(ctx, "AuditEvent", nil))
}
