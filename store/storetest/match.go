package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
)

// clause returns a clause of the given tokens.
func clause(tokens ...string) store.Clause {
	c := make(store.Clause, len(tokens))
	for i, tok := range tokens {
		c[i] = []byte(tok)
	}
	return c
}

// matchSet is stored by testMatch. Tokens are plain strings here; real
// tokens are HMAC outputs, which the store treats the same way.
func matchSet() []store.Write {
	return []store.Write{
		write("Patient", "p1", 1, at(0), "family:smith", "gender:female", "city:lyon"),
		write("Patient", "p2", 1, at(0), "family:smith", "gender:male", "city:paris"),
		write("Patient", "p3", 1, at(0), "family:jones", "gender:female", "city:paris"),
		write("Patient", "p4", 1, at(0), "family:brown", "gender:female"),
		// The same token twice must still give one match.
		write("Patient", "p5", 1, at(0), "family:smith", "family:smith", "gender:other"),
		// Another type with the same tokens must never match a Patient query.
		write("Practitioner", "p1", 1, at(0), "family:smith", "gender:male"),
		write("Practitioner", "d1", 1, at(0), "family:jones"),
		// Binary tokens with bytes that are not valid UTF-8.
		{Version: write("Patient", "p6", 1, at(0)).Version,
			Tokens: [][]byte{{0xff, 0x00, 0x01}, []byte("gender:female")}},
	}
}

func testMatch(t *testing.T, s store.Store) {
	for _, w := range matchSet() {
		put(t, s, w)
	}
	cases := []struct {
		name    string
		typ     string
		clauses []store.Clause
		want    []string // worked out by hand from matchSet
	}{
		{"no clauses lists the type", "Patient", nil,
			[]string{"p1", "p2", "p3", "p4", "p5", "p6"}},
		{"no clauses in another type", "Practitioner", nil, []string{"d1", "p1"}},
		{"one token", "Patient", []store.Clause{clause("family:smith")},
			[]string{"p1", "p2", "p5"}},
		{"one token in another type", "Practitioner", []store.Clause{clause("family:smith")},
			[]string{"p1"}},
		{"unknown token", "Patient", []store.Clause{clause("family:nobody")}, nil},
		{"unknown type", "Encounter", []store.Clause{clause("family:smith")}, nil},
		{"OR within a clause", "Patient", []store.Clause{clause("family:jones", "family:brown")},
			[]string{"p3", "p4"}},
		{"AND of two clauses", "Patient",
			[]store.Clause{clause("family:smith"), clause("gender:female")}, []string{"p1"}},
		{"AND of OR clauses", "Patient",
			[]store.Clause{clause("family:smith", "family:jones"), clause("city:paris")},
			[]string{"p2", "p3"}},
		{"three clauses", "Patient", []store.Clause{
			clause("gender:female", "gender:male"), clause("city:paris"), clause("family:jones"),
		}, []string{"p3"}},
		{"AND that nothing satisfies", "Patient",
			[]store.Clause{clause("family:brown"), clause("city:paris")}, nil},
		{"OR where one resource has both tokens", "Patient",
			[]store.Clause{clause("family:smith", "gender:male")}, []string{"p1", "p2", "p5"}},
		{"empty clause matches nothing", "Patient",
			[]store.Clause{clause("family:smith"), clause()}, nil},
		{"binary token", "Patient", []store.Clause{{{0xff, 0x00, 0x01}}}, []string{"p6"}},
		{"prefix of a binary token", "Patient", []store.Clause{{{0xff, 0x00}}}, nil},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := store.MatchQuery{Type: tc.typ, Clauses: tc.clauses}
			ids, err := s.Match(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, tc.want, nilIfEmpty(ids))

			n, err := s.CountMatch(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, len(tc.want), n, "CountMatch")
		})
	}
}

func nilIfEmpty(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func testMatchPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Ids chosen so that byte order differs from numeric order and from
	// the order of insertion.
	ids := []string{"b", "a-2", "a", "a-10", "C", "c", "b.1", "0"}
	want := []string{"0", "C", "a", "a-10", "a-2", "b", "b.1", "c"}
	for i, id := range ids {
		tokens := []string{"all"}
		if i%2 == 0 {
			tokens = append(tokens, "even")
		}
		put(t, s, write("Observation", id, 1, at(i), tokens...))
	}
	wantEven := []string{"C", "a", "b", "b.1"} // ids[0], ids[2], ids[4], ids[6] sorted

	for _, tc := range []struct {
		name    string
		clauses []store.Clause
		want    []string
	}{
		{"no clauses", nil, want},
		{"one clause", []store.Clause{clause("all")}, want},
		{"two clauses", []store.Clause{clause("all"), clause("even")}, wantEven},
	} {
		for _, limit := range []int{1, 3, 8} {
			t.Run(fmt.Sprintf("%s limit %d", tc.name, limit), func(t *testing.T) {
				var walked []string
				q := store.MatchQuery{Type: "Observation", Clauses: tc.clauses, Limit: limit}
				for page := 0; ; page++ {
					require.Less(t, page, 20, "paging does not end")
					got, err := s.Match(ctx, q)
					require.NoError(t, err)
					require.LessOrEqual(t, len(got), limit)
					walked = append(walked, got...)
					if len(got) < limit {
						break
					}
					q.AfterID = got[len(got)-1]
				}
				assert.Equal(t, tc.want, walked)

				q.AfterID = "a-10"
				n, err := s.CountMatch(ctx, q)
				require.NoError(t, err)
				assert.Equal(t, len(tc.want), n, "CountMatch ignores AfterID and Limit")
			})
		}
	}

	ids2, err := s.Match(ctx, store.MatchQuery{Type: "Observation", AfterID: "b"})
	require.NoError(t, err)
	assert.Equal(t, []string{"b.1", "c"}, ids2, "AfterID is exclusive")
}

func testTokensReplaced(t *testing.T, s store.Store) {
	ctx := context.Background()
	match := func(tok string) []string {
		t.Helper()
		ids, err := s.Match(ctx, store.MatchQuery{Type: "Patient",
			Clauses: []store.Clause{clause(tok)}})
		require.NoError(t, err)
		return nilIfEmpty(ids)
	}

	put(t, s, write("Patient", "p1", 1, at(0), "a", "b"))
	put(t, s, write("Patient", "p2", 1, at(0), "a"))
	put(t, s, write("Patient", "p1", 2, at(1), "b", "c"))
	assert.Equal(t, []string{"p2"}, match("a"), "a token of the old version")
	assert.Equal(t, []string{"p1"}, match("b"), "a token of both versions")
	assert.Equal(t, []string{"p1"}, match("c"), "a token of the new version")

	put(t, s, write("Patient", "p1", 3, at(2)))
	assert.Nil(t, match("b"), "an update without tokens")
	assert.Nil(t, match("c"), "an update without tokens")

	put(t, s, write("Patient", "p1", 4, at(3), "d"))
	assert.Equal(t, []string{"p1"}, match("d"))
	del := tombstone("Patient", "p1", 5, at(4))
	del.Tokens = [][]byte{[]byte("e")} // a tombstone's tokens are ignored
	put(t, s, del)
	assert.Nil(t, match("d"), "a token of a deleted resource")
	assert.Nil(t, match("e"), "a token given with a tombstone")
	assert.Equal(t, []string{"p2"}, match("a"), "a token of another resource")

	n, err := s.CountMatch(ctx, store.MatchQuery{Type: "Patient"})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "current, non-deleted Patients")
}
