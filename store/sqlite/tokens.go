package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/custos/custos/store"
)

// AddTokens adds postings to current resources in one transaction. The
// postings go in token order, so that each token's part of the index is
// written together.
func (s *Store) AddTokens(ctx context.Context, typ string, entries []store.TokenEntry) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(fmt.Errorf("sqlite: add tokens: begin: %w", err))
	}
	defer tx.Rollback()
	st := s.stmts.bind(ctx, tx)

	var postings []posting
	for _, e := range entries {
		var current int64
		var deleted bool
		err := tx.QueryRowContext(ctx, `SELECT version_id, deleted FROM current
			WHERE type = ? AND id = ?`, typ, e.ID).Scan(&current, &deleted)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (current != e.VersionID || deleted)) {
			continue
		}
		if err != nil {
			return s.wrap(fmt.Errorf("sqlite: add tokens %s/%s: %w", typ, e.ID, err))
		}
		for _, tok := range e.Tokens {
			postings = append(postings, posting{tok, typ, e.ID})
		}
	}
	sort.Slice(postings, func(i, j int) bool { return postings[i].less(postings[j]) })
	for _, p := range postings {
		if _, err := st.insertPosting.ExecContext(ctx, p.token, typ, p.id); err != nil {
			return s.wrap(fmt.Errorf("sqlite: add tokens %s/%s: %w", typ, p.id, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(fmt.Errorf("sqlite: add tokens: commit: %w", err))
	}
	return nil
}

// Unindexed returns current resources of typ without postings.
func (s *Store) Unindexed(ctx context.Context, typ, afterID string, limit int) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM current c
		WHERE type = ? AND deleted = 0 AND id > ?
		AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.type = c.type AND p.id = c.id)
		ORDER BY id LIMIT ?`, typ, afterID, limit)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: unindexed %s: %w", typ, err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap(err)
		}
		ids = append(ids, id)
	}
	return ids, s.wrap(rows.Err())
}
