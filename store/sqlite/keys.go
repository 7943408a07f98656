package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/custos/custos/store"
)

// WrappedKey returns the wrapped data key stored under keyID.
func (s *Store) WrappedKey(ctx context.Context, keyID string) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var wrapped []byte
	err := s.read.QueryRowContext(ctx, `SELECT wrapped FROM keys WHERE key_id = ?`, keyID).
		Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: wrapped key %q: %w", keyID, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: wrapped key %q: %w", keyID, err))
	}
	return wrapped, nil
}

// PutWrappedKey stores wrapped under keyID unless a key is already stored
// there, and returns the key stored afterwards.
func (s *Store) PutWrappedKey(ctx context.Context, keyID string, wrapped []byte) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: put wrapped key %q: begin: %w", keyID, err))
	}
	defer tx.Rollback()

	_, err = tx.ExecContext(ctx, `INSERT INTO keys (key_id, wrapped) VALUES (?, ?)
		ON CONFLICT (key_id) DO NOTHING`, keyID, wrapped)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: put wrapped key %q: %w", keyID, err))
	}
	var stored []byte
	err = tx.QueryRowContext(ctx, `SELECT wrapped FROM keys WHERE key_id = ?`, keyID).
		Scan(&stored)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: put wrapped key %q: %w", keyID, err))
	}
	if err := tx.Commit(); err != nil {
		return nil, s.wrap(fmt.Errorf("sqlite: put wrapped key %q: commit: %w", keyID, err))
	}
	return stored, nil
}

// ClaimLease gives the named lease to owner until now+ttl when it is free,
// expired or already owner's, and reports whether owner holds it. Expiry
// is judged by this process's clock.
func (s *Store) ClaimLease(
	ctx context.Context, name, owner string, ttl time.Duration,
) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	now := time.Now()
	res, err := s.write.ExecContext(ctx, `INSERT INTO leases (name, owner, expires)
		VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE leases.owner = excluded.owner OR leases.expires <= ?`,
		name, owner, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, s.wrap(fmt.Errorf("sqlite: claim lease %q: %w", name, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.wrap(fmt.Errorf("sqlite: claim lease %q: %w", name, err))
	}
	return n == 1, nil
}
