package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/custos/custos/store"
)

func TestMatchUsesIndex(t *testing.T) {
	s := openTemp(t)
	tok := func(v string) []byte { return []byte(v) }
	cases := []struct {
		name    string
		clauses []store.Clause
	}{
		{"one token", []store.Clause{{tok("a")}}},
		{"one clause of three tokens", []store.Clause{{tok("a"), tok("b"), tok("c")}}},
		{"three clauses", []store.Clause{{tok("a")}, {tok("b"), tok("c")}, {tok("d")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := s.ExplainMatch(context.Background(), store.MatchQuery{Type: "Patient",
				Clauses: tc.clauses, AfterID: "x", Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("plan:\n%s", plan)
			for _, bad := range []string{"SCAN postings", "SCAN current", "postings_by_resource"} {
				if strings.Contains(plan, bad) {
					t.Fatalf("plan uses %q, walking postings instead of seeking tokens:\n%s",
						bad, plan)
				}
			}
			tokens := 0
			for _, c := range tc.clauses {
				tokens += len(c)
			}
			if n := strings.Count(plan, "SEARCH postings USING PRIMARY KEY"); n != tokens {
				t.Fatalf("plan seeks the postings key %d times, want one per token (%d):\n%s",
					n, tokens, plan)
			}
		})
	}
}
