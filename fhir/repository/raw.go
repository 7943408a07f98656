package repository

import (
	"context"
	"fmt"
	"time"

	"github.com/custos/custos/store"
	"github.com/custos/custos/store/seal"
)

// RawDoc is a resource the server itself wrote as canonical JSON, with its
// id, meta.versionId "1" and meta.lastUpdated already in Body. It skips
// parsing, which would cost more than everything else on the audit path.
type RawDoc struct {
	ID          string
	LastUpdated time.Time
	Body        []byte
}

// AppendRaw stores docs as the first versions of new resources of typ, in
// one store write, sealed under the audit key when typ is AuditEvent and
// the shared key otherwise. It fails with store.ErrConflict (and stores
// nothing) when any id exists.
func (r *Repository) AppendRaw(ctx context.Context, typ string, docs []RawDoc) error {
	keyID := seal.SharedKeyID
	if typ == "AuditEvent" {
		keyID = seal.AuditKeyID
	}
	writes := make([]store.Write, 0, len(docs))
	for _, d := range docs {
		sealed, err := r.sealer.Seal(ctx, keyID, typ, d.ID, 1, d.Body)
		if err != nil {
			return fmt.Errorf("seal %s/%s: %w", typ, d.ID, err)
		}
		var tokens [][]byte
		if r.indexer != nil {
			if tokens, err = r.indexer.Tokens(typ, d.Body); err != nil {
				return fmt.Errorf("index %s/%s: %w", typ, d.ID, err)
			}
		}
		writes = append(writes, store.Write{
			Version: store.Version{Type: typ, ID: d.ID, VersionID: 1,
				LastUpdated: d.LastUpdated.UTC().Truncate(time.Millisecond),
				KeyID:       keyID, Body: sealed, Hash: r.hash(d.Body)},
			Tokens: tokens,
		})
	}
	if err := r.store.Put(ctx, writes...); err != nil {
		return storeError(err)
	}
	return nil
}

// NewID returns a new random logical id (a UUID).
func NewID() (string, error) { return newID() }
