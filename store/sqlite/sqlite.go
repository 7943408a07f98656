// Package sqlite implements store.Store in one SQLite file, the embedded
// default store. It uses modernc.org/sqlite (pure Go) in WAL mode, so a
// running server and an import run may open the same file at once.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/custos/custos/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeoutMS is the time, in milliseconds, that a connection waits for
// a lock held by another connection or process before it fails with
// SQLITE_BUSY. A Put of 100 writes with 60 tokens each held the write
// lock for about 0.15 s in BenchmarkPut.
const busyTimeoutMS = 10000

// Page cache sizes in KiB. SQLite's default of 2 MiB makes a batch of
// inserts into the postings index, whose keys are random tokens, read most
// pages back from the file: BenchmarkPut ran about 1.4 times faster with
// the larger write cache.
const (
	writeCacheKiB = 64 << 10
	readCacheKiB  = 16 << 10
)

const schema = `
CREATE TABLE IF NOT EXISTS versions (
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	version_id INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	deleted INTEGER NOT NULL,
	key_id TEXT NOT NULL,
	body BLOB,
	hash BLOB,
	PRIMARY KEY (type, id, version_id)
);
CREATE INDEX IF NOT EXISTS versions_by_time
	ON versions (last_updated, type, id, version_id);
CREATE INDEX IF NOT EXISTS versions_by_type_time
	ON versions (type, last_updated, id, version_id);
CREATE TABLE IF NOT EXISTS current (
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	version_id INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	deleted INTEGER NOT NULL,
	PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS postings (
	token BLOB NOT NULL,
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	PRIMARY KEY (type, token, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS postings_by_resource ON postings (type, id);
CREATE TABLE IF NOT EXISTS keys (
	key_id TEXT PRIMARY KEY,
	wrapped BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
	name TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
`

// Store is a store.Store in one SQLite file. Writes go through a pool of
// one connection, which serializes them inside this process and takes the
// file's write lock at BEGIN. Reads use a separate pool of several
// connections, so in WAL mode they do not wait for a write transaction
// to finish.
type Store struct {
	write  *sql.DB
	read   *sql.DB
	stmts  writeStatements
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the SQLite database file at path and creates the
// tables that are missing.
func Open(path string) (*Store, error) {
	// SQLite gives its WAL and shared-memory files the mode of the
	// database file, so creating that file private keeps all three so.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	write, err := openPool(path, false)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)

	if _, err := write.Exec(schema); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: create schema in %s: %w", path, err)
	}

	read, err := openPool(path, true)
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(max(4, 2*runtime.GOMAXPROCS(0)))
	read.SetMaxIdleConns(max(4, 2*runtime.GOMAXPROCS(0)))

	s := &Store{write: write, read: read}
	if err := s.stmts.prepare(write); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare statements for %s: %w", path, err)
	}
	return s, nil
}

// openPool opens a connection pool on path with the pragmas every
// connection needs. Write connections begin their transactions IMMEDIATE,
// so that a second process waits for the lock at BEGIN (for up to the busy
// timeout) instead of failing when a read turns into a write.
func openPool(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "0")
	if readOnly {
		q.Set("_query_only", "1")
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -readCacheKiB))
	} else {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writeCacheKiB))
	}
	if strings.ContainsRune(path, '?') {
		// The driver splits its parameters off at the first '?'.
		return nil, fmt.Errorf("sqlite: invalid path %q: contains '?'", path)
	}
	dsn := path + "?" + q.Encode()

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Ping reports whether the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrUnavailable
	}
	return s.wrap(s.read.PingContext(ctx))
}

// Close closes both connection pools. Every later call returns
// store.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stmts.close()
	return errors.Join(s.read.Close(), s.write.Close())
}

// wrap adds store.ErrUnavailable to err when the store was closed while
// the call ran, and leaves nil and every other error as it is.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// checkOpen returns store.ErrUnavailable once the store is closed.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return store.ErrUnavailable
	}
	return nil
}
