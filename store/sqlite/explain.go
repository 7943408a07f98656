package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/custos/custos/store"
)

// ExplainMatch returns SQLite's query plan for Match(q), one step a line,
// so that operators and tests can see which index serves a search.
func (s *Store) ExplainMatch(ctx context.Context, q store.MatchQuery) (string, error) {
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	query, args := matchSelect(q, true)
	args = append(args, max(q.Limit, 1))
	rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query+` ORDER BY id LIMIT ?`,
		args...)
	if err != nil {
		return "", s.wrap(fmt.Errorf("sqlite: explain match %s: %w", q.Type, err))
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", s.wrap(err)
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "\n"), rows.Err()
}
