package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/custos/custos/store"
)

// planToken returns the token shared by the resources whose number is r
// modulo m.
func planToken(m, r int) []byte { return fmt.Appendf(nil, "mod%d=%d", m, r) }

// BenchmarkMatchPlans compares the plan of matchSelect (an INTERSECT of
// one SELECT per clause) with matchExists (walk the first clause, EXISTS
// for the others), on 5,000 resources whose tokens match 1/2, 1/10 and 1/100 of
// them.
func BenchmarkMatchPlans(b *testing.B) {
	const resources = 5000
	s := openTemp(b)
	var batch []store.Write
	for i := range resources {
		batch = append(batch, store.Write{
			Version: store.Version{Type: "Patient", ID: fmt.Sprintf("p%05d", i), VersionID: 1,
				LastUpdated: time.Now(), Body: make([]byte, 100)},
			Tokens: [][]byte{planToken(2, i%2), planToken(10, i%10), planToken(100, i%100)},
		})
		if len(batch) == 500 {
			if err := s.Put(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	queries := []struct {
		name    string
		clauses []store.Clause
	}{
		{"half", []store.Clause{{planToken(2, 0)}}},
		{"half AND hundredth", []store.Clause{{planToken(2, 0)}, {planToken(100, 4)}}},
		{"hundredth AND half", []store.Clause{{planToken(100, 4)}, {planToken(2, 0)}}},
		{"tenth OR tenth AND half", []store.Clause{
			{planToken(10, 1), planToken(10, 2)}, {planToken(2, 1)}}},
	}
	plans := []struct {
		name  string
		build func(store.MatchQuery) (string, []any)
	}{
		{"exists", matchExists},
		{"intersect", func(q store.MatchQuery) (string, []any) { return matchSelect(q, true) }},
	}
	for _, q := range queries {
		for _, limit := range []int{20, 0} {
			for _, plan := range plans {
				name := fmt.Sprintf("%s/limit=%d/%s", q.name, limit, plan.name)
				b.Run(name, func(b *testing.B) {
					mq := store.MatchQuery{Type: "Patient", Clauses: q.clauses}
					query, args := plan.build(mq)
					lim := -1
					if limit > 0 {
						lim = limit
					}
					args = append(args, lim)
					query += ` ORDER BY id LIMIT ?`
					for b.Loop() {
						rows, err := s.read.Query(query, args...)
						if err != nil {
							b.Fatal(err)
						}
						n := 0
						for rows.Next() {
							n++
						}
						rows.Close()
						if n == 0 {
							b.Fatal("no rows")
						}
					}
				})
			}
		}
	}
}
