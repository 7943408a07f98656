package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/custos/custos/store"
)

// AddTokens adds tokens to the current documents whose version is the one
// given. Each document is updated on its own: the update names the
// version, so an entry for a superseded version changes nothing.
func (s *Store) AddTokens(ctx context.Context, typ string, entries []store.TokenEntry) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	for _, e := range entries {
		if len(e.Tokens) == 0 {
			continue
		}
		filter := bson.D{{Key: "_id", Value: resourceKey(typ, e.ID)},
			{Key: "version_id", Value: e.VersionID}, {Key: "deleted", Value: false}}
		update := bson.D{{Key: "$addToSet", Value: bson.D{{Key: "tokens",
			Value: bson.D{{Key: "$each", Value: e.Tokens}}}}}}
		if _, err := s.current.UpdateOne(ctx, filter, update); err != nil {
			return s.wrap(fmt.Errorf("mongo: add tokens %s/%s: %w", typ, e.ID, err))
		}
	}
	return nil
}

// Unindexed returns current documents of typ without tokens.
func (s *Store) Unindexed(ctx context.Context, typ, afterID string, limit int) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "type", Value: typ}, {Key: "deleted", Value: false},
		{Key: "id", Value: bson.D{{Key: "$gt", Value: afterID}}},
		{Key: "tokens.0", Value: bson.D{{Key: "$exists", Value: false}}}}
	opts := options.Find().SetSort(bson.D{{Key: "id", Value: 1}}).
		SetProjection(bson.D{{Key: "id", Value: 1}})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	cur, err := s.current.Find(ctx, filter, opts)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("mongo: unindexed %s: %w", typ, err))
	}
	defer cur.Close(ctx)
	var ids []string
	for cur.Next(ctx) {
		var doc struct {
			ID string `bson:"id"`
		}
		if err := cur.Decode(&doc); err != nil {
			return nil, s.wrap(err)
		}
		ids = append(ids, doc.ID)
	}
	return ids, s.wrap(cur.Err())
}
