package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/store"
)

// ImportResult counts what an import batch did.
type ImportResult struct {
	Created   int
	Updated   int
	Unchanged int
}

// Import stores a batch of resources under their own ids, in one store
// write where possible. A resource whose content equals its current
// version (server-managed meta aside) is left alone, so importing the same
// file twice creates no new versions. Resources without an id get one.
func (r *Repository) Import(ctx context.Context, batch []*model.Resource) (ImportResult, error) {
	var res ImportResult
	writes := make([]store.Write, 0, len(batch))
	kinds := make([]bool, 0, len(batch)) // true: created
	pending := make([]*model.Resource, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	var later []*model.Resource

	for _, rsc := range batch {
		id := rsc.ID()
		if id == "" {
			var err error
			if id, err = newID(); err != nil {
				return res, err
			}
			rsc.SetID(id)
		}
		key := rsc.Type + "/" + id
		if seen[key] {
			// A second copy in the same batch becomes a later version.
			later = append(later, rsc)
			continue
		}
		seen[key] = true

		cur, err := r.store.Current(ctx, rsc.Type, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, storeError(err)
		}
		hash, err := r.contentHash(rsc)
		if err != nil {
			return res, fmt.Errorf("encode %s: %w", key, err)
		}
		if cur.VersionID > 0 && !cur.Deleted && bytes.Equal(cur.Hash, hash) {
			res.Unchanged++
			continue
		}

		lastUpdated := r.stamp(cur.LastUpdated)
		rsc.SetMeta(cur.VersionID+1, lastUpdated)
		body, err := r.codec.Marshal(rsc)
		if err != nil {
			return res, fmt.Errorf("encode %s: %w", key, err)
		}
		w, _, err := r.seal(ctx, rsc, id, cur.VersionID+1, lastUpdated, body, hash)
		if err != nil {
			return res, err
		}
		writes = append(writes, w)
		kinds = append(kinds, cur.VersionID == 0 || cur.Deleted)
		pending = append(pending, rsc)
	}

	err := r.store.Put(ctx, writes...)
	switch {
	case err == nil:
		for _, w := range writes {
			r.wrote(w.Version.Type, w.Version.ID, w.Version.KeyID)
		}
		for _, created := range kinds {
			if created {
				res.Created++
			} else {
				res.Updated++
			}
		}
	case errors.Is(err, store.ErrConflict):
		// A concurrent writer changed one of these resources: store them one
		// by one, each against its then current version.
		later = append(pending, later...)
	default:
		return res, storeError(err)
	}

	for _, rsc := range later {
		_, created, err := r.Update(ctx, rsc, rsc.ID(), 0)
		if err != nil {
			return res, err
		}
		if created {
			res.Created++
		} else {
			res.Updated++
		}
	}
	return res, nil
}
