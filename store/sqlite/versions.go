package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/custos/custos/store"
)

// writeStatements are the statements of Put, prepared once on the single
// write connection and bound to each transaction with Tx.StmtContext.
type writeStatements struct {
	currentVersion *sql.Stmt
	insertVersion  *sql.Stmt
	upsertCurrent  *sql.Stmt
	deletePostings *sql.Stmt
	insertPosting  *sql.Stmt
}

func (w *writeStatements) prepare(db *sql.DB) error {
	var err error
	prep := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.Prepare(query)
		return st
	}
	w.currentVersion = prep(`SELECT version_id FROM current WHERE type = ? AND id = ?`)
	w.insertVersion = prep(`INSERT INTO versions
		(type, id, version_id, last_updated, deleted, key_id, body, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	w.upsertCurrent = prep(`INSERT INTO current
		(type, id, version_id, last_updated, deleted) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (type, id) DO UPDATE SET version_id = excluded.version_id,
		last_updated = excluded.last_updated, deleted = excluded.deleted`)
	w.deletePostings = prep(`DELETE FROM postings WHERE type = ? AND id = ?`)
	w.insertPosting = prep(`INSERT OR IGNORE INTO postings (token, type, id) VALUES (?, ?, ?)`)
	return err
}

func (w *writeStatements) close() {
	for _, st := range []*sql.Stmt{w.currentVersion, w.insertVersion, w.upsertCurrent,
		w.deletePostings, w.insertPosting} {
		if st != nil {
			st.Close()
		}
	}
}

// bind returns the statements bound to tx.
func (w *writeStatements) bind(ctx context.Context, tx *sql.Tx) writeStatements {
	return writeStatements{
		currentVersion: tx.StmtContext(ctx, w.currentVersion),
		insertVersion:  tx.StmtContext(ctx, w.insertVersion),
		upsertCurrent:  tx.StmtContext(ctx, w.upsertCurrent),
		deletePostings: tx.StmtContext(ctx, w.deletePostings),
		insertPosting:  tx.StmtContext(ctx, w.insertPosting),
	}
}

// Put stores the writes in one transaction: all of them or none.
func (s *Store) Put(ctx context.Context, writes ...store.Write) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(writes) == 0 {
		return nil
	}
	for _, w := range writes {
		if w.Version.Type == "" || w.Version.ID == "" {
			return fmt.Errorf("sqlite: put: invalid write: type and id must not be empty")
		}
	}

	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(fmt.Errorf("sqlite: put: begin: %w", err))
	}
	defer tx.Rollback()

	st := s.stmts.bind(ctx, tx)
	var postings []posting
	for _, w := range writes {
		if err := putOne(ctx, &st, w); err != nil {
			return s.wrap(err)
		}
		if !w.Version.Deleted {
			for _, tok := range w.Tokens {
				postings = append(postings, posting{tok, w.Version.Type, w.Version.ID})
			}
		}
	}
	// Inserting in key order touches each page of the postings index once
	// or twice, where the order of the writes would seek all over it.
	sort.Slice(postings, func(i, j int) bool { return postings[i].less(postings[j]) })
	for _, p := range postings {
		if _, err := st.insertPosting.ExecContext(ctx, p.token, p.typ, p.id); err != nil {
			return s.wrap(fmt.Errorf("sqlite: put %s/%s: insert posting: %w", p.typ, p.id, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(fmt.Errorf("sqlite: put: commit: %w", err))
	}
	return nil
}

// putOne stores one write inside the transaction that st is bound to.
func putOne(ctx context.Context, st *writeStatements, w store.Write) error {
	v := w.Version

	var current int64
	err := st.currentVersion.QueryRowContext(ctx, v.Type, v.ID).Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: put %s/%s: read current version: %w", v.Type, v.ID, err)
	}
	if v.VersionID != current+1 {
		return fmt.Errorf("%w: %s/%s is at version %d, write is version %d",
			store.ErrConflict, v.Type, v.ID, current, v.VersionID)
	}

	ms := v.LastUpdated.UnixMilli()
	body, hash := v.Body, v.Hash
	if v.Deleted {
		body, hash = nil, nil
	}
	_, err = st.insertVersion.ExecContext(ctx, v.Type, v.ID, v.VersionID, ms, v.Deleted,
		v.KeyID, body, hash)
	if err != nil {
		return fmt.Errorf("sqlite: put %s/%s: insert version: %w", v.Type, v.ID, err)
	}
	_, err = st.upsertCurrent.ExecContext(ctx, v.Type, v.ID, v.VersionID, ms, v.Deleted)
	if err != nil {
		return fmt.Errorf("sqlite: put %s/%s: update current: %w", v.Type, v.ID, err)
	}

	// Postings exist only for current, non-deleted versions, so Match
	// needs no join with current to leave out tombstones and old versions.
	if current > 0 {
		if _, err := st.deletePostings.ExecContext(ctx, v.Type, v.ID); err != nil {
			return fmt.Errorf("sqlite: put %s/%s: delete postings: %w", v.Type, v.ID, err)
		}
	}
	return nil
}

// posting is one row of the postings table, in the table's key order.
type posting struct {
	token []byte
	typ   string
	id    string
}

func (p posting) less(q posting) bool {
	if p.typ != q.typ {
		return p.typ < q.typ
	}
	if c := bytes.Compare(p.token, q.token); c != 0 {
		return c < 0
	}
	return p.id < q.id
}

const versionColumns = `type, id, version_id, last_updated, deleted, key_id, body, hash`

// Current returns the newest version of a resource, tombstone included.
func (s *Store) Current(ctx context.Context, typ, id string) (store.Version, error) {
	if err := s.checkOpen(); err != nil {
		return store.Version{}, err
	}
	row := s.read.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM versions
		WHERE type = ? AND id = ? ORDER BY version_id DESC LIMIT 1`, typ, id)
	v, err := scanVersion(row)
	if err != nil {
		return v, s.wrap(fmt.Errorf("sqlite: current %s/%s: %w", typ, id, err))
	}
	return v, nil
}

// Read returns one version of a resource.
func (s *Store) Read(ctx context.Context, typ, id string, versionID int64) (store.Version, error) {
	if err := s.checkOpen(); err != nil {
		return store.Version{}, err
	}
	row := s.read.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM versions
		WHERE type = ? AND id = ? AND version_id = ?`, typ, id, versionID)
	v, err := scanVersion(row)
	if err != nil {
		return v, s.wrap(fmt.Errorf("sqlite: read %s/%s/%d: %w", typ, id, versionID, err))
	}
	return v, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanVersion reads one row of versionColumns; a missing row is
// store.ErrNotFound.
func scanVersion(row scanner) (store.Version, error) {
	var v store.Version
	var ms int64
	err := row.Scan(&v.Type, &v.ID, &v.VersionID, &ms, &v.Deleted, &v.KeyID, &v.Body, &v.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Version{}, store.ErrNotFound
	}
	if err != nil {
		return store.Version{}, err
	}
	v.LastUpdated = time.UnixMilli(ms).UTC()
	return v, nil
}

// History lists the versions that f selects, newest first.
func (s *Store) History(ctx context.Context, f store.HistoryFilter) ([]store.Version, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	where, args := historyWhere(f, true)
	limit := -1 // no limit in SQLite
	if f.Limit > 0 {
		limit = f.Limit
	}
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, `SELECT `+versionColumns+` FROM versions`+where+
		` ORDER BY last_updated DESC, type DESC, id DESC, version_id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: history: %w", err))
	}
	defer rows.Close()

	var out []store.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, s.wrap(fmt.Errorf("sqlite: history: %w", err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: history: %w", err))
	}
	return out, nil
}

// CountHistory counts the versions that f selects, ignoring Before and
// Limit.
func (s *Store) CountHistory(ctx context.Context, f store.HistoryFilter) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	where, args := historyWhere(f, false)
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM versions`+where, args...).Scan(&n)
	if err != nil {
		return 0, s.wrap(fmt.Errorf("sqlite: count history: %w", err))
	}
	return n, nil
}

// historyWhere returns the WHERE clause for f, with a placeholder for each
// value, and the values. withBefore adds the condition of f.Before.
func historyWhere(f store.HistoryFilter, withBefore bool) (string, []any) {
	var conds []string
	var args []any
	if f.Type != "" {
		conds = append(conds, "type = ?")
		args = append(args, f.Type)
	}
	if f.ID != "" {
		conds = append(conds, "id = ?")
		args = append(args, f.ID)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "last_updated >= ?")
		args = append(args, ceilMilli(f.Since))
	}
	if b := f.Before; withBefore && b != nil {
		conds = append(conds, "(last_updated, type, id, version_id) < (?, ?, ?, ?)")
		args = append(args, b.LastUpdated.UnixMilli(), b.Type, b.ID, b.VersionID)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ceilMilli returns t in Unix milliseconds, rounded up, so that a stored
// millisecond is >= the result exactly when it is not before t.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
