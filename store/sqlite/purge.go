package sqlite

import (
	"context"
	"fmt"
)

// Purge removes every version, the current row and the postings of the
// named resources in one transaction.
func (s *Store) Purge(ctx context.Context, typ string, ids []string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(fmt.Errorf("sqlite: purge: begin: %w", err))
	}
	defer tx.Rollback()
	for _, table := range []string{"versions", "current", "postings"} {
		st, err := tx.PrepareContext(ctx, `DELETE FROM `+table+` WHERE type = ? AND id = ?`)
		if err != nil {
			return s.wrap(fmt.Errorf("sqlite: purge: prepare: %w", err))
		}
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, typ, id); err != nil {
				st.Close()
				return s.wrap(fmt.Errorf("sqlite: purge %s/%s from %s: %w", typ, id, table, err))
			}
		}
		st.Close()
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(fmt.Errorf("sqlite: purge: commit: %w", err))
	}
	return nil
}
