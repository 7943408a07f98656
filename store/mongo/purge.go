package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Purge removes every version and the current document of the named
// resources. The versions go first, so that an interrupted purge leaves
// at worst a current document whose Current read returns ErrNotFound, and a
// second purge finishes the work.
func (s *Store) Purge(ctx context.Context, typ string, ids []string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	filter := bson.D{{Key: "type", Value: typ}, {Key: "id", Value: bson.D{{Key: "$in", Value: ids}}}}
	if _, err := s.versions.DeleteMany(ctx, filter); err != nil {
		return s.wrap(fmt.Errorf("mongo: purge versions of %s: %w", typ, err))
	}
	if _, err := s.current.DeleteMany(ctx, filter); err != nil {
		return s.wrap(fmt.Errorf("mongo: purge current of %s: %w", typ, err))
	}
	return nil
}
