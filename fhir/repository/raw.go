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
	return r.appendRaw(ctx, typ, docs, true)
}

// AppendRawUnindexed is AppendRaw without search tokens: the docs are
// stored, sealed, at once, and IndexRaw or IndexPending make them
// searchable later. The audit trail uses it, so that a request waits for
// its record to be stored but not for the record's postings.
func (r *Repository) AppendRawUnindexed(ctx context.Context, typ string, docs []RawDoc) error {
	return r.appendRaw(ctx, typ, docs, false)
}

func (r *Repository) appendRaw(ctx context.Context, typ string, docs []RawDoc, index bool) error {
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
		if index && r.indexer != nil {
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

// IndexRaw adds the search tokens of docs that AppendRawUnindexed stored.
func (r *Repository) IndexRaw(ctx context.Context, typ string, docs []RawDoc) error {
	if r.indexer == nil || len(docs) == 0 {
		return nil
	}
	entries := make([]store.TokenEntry, 0, len(docs))
	for _, d := range docs {
		tokens, err := r.indexer.Tokens(typ, d.Body)
		if err != nil {
			return fmt.Errorf("index %s/%s: %w", typ, d.ID, err)
		}
		entries = append(entries, store.TokenEntry{ID: d.ID, VersionID: 1, Tokens: tokens})
	}
	return storeError(r.store.AddTokens(ctx, typ, entries))
}

// IndexPending indexes every current resource of typ that has no tokens
// yet, such as records stored unindexed before a crash, and returns how
// many it indexed.
func (r *Repository) IndexPending(ctx context.Context, typ string) (int, error) {
	if r.indexer == nil {
		return 0, nil
	}
	done, after := 0, ""
	for {
		ids, err := r.store.Unindexed(ctx, typ, after, 64)
		if err != nil || len(ids) == 0 {
			return done, storeError(err)
		}
		docs := make([]RawDoc, 0, len(ids))
		for _, id := range ids {
			e, err := r.Read(ctx, typ, id)
			if err != nil {
				return done, err
			}
			if e.Deleted || e.VersionID != 1 {
				continue
			}
			docs = append(docs, RawDoc{ID: id, LastUpdated: e.LastUpdated, Body: e.Body})
		}
		if err := r.IndexRaw(ctx, typ, docs); err != nil {
			return done, err
		}
		done += len(docs)
		after = ids[len(ids)-1]
	}
}
