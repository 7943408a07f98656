package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/custos/custos/store"
)

// WrappedKey returns the wrapped data key stored under keyID.
func (s *Store) WrappedKey(ctx context.Context, keyID string) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var doc struct {
		Wrapped []byte `bson:"wrapped"`
	}
	err := s.keys.FindOne(ctx, bson.D{{Key: "_id", Value: keyID}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: wrapped key %q: %w", keyID, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(fmt.Errorf("mongo: wrapped key %q: %w", keyID, err))
	}
	return doc.Wrapped, nil
}

// PutWrappedKey stores wrapped under keyID unless a key is already stored
// there, and returns the key stored afterwards. The unique _id decides
// between racing writers.
func (s *Store) PutWrappedKey(ctx context.Context, keyID string, wrapped []byte) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	_, err := s.keys.InsertOne(ctx, bson.D{
		{Key: "_id", Value: keyID},
		{Key: "wrapped", Value: wrapped},
	})
	if err == nil {
		return wrapped, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return nil, s.wrap(fmt.Errorf("mongo: put wrapped key %q: %w", keyID, err))
	}
	return s.WrappedKey(ctx, keyID)
}

// ClaimLease gives the named lease to owner until now+ttl when it is free,
// expired or already owner's, and reports whether owner holds it. Expiry
// is judged by this process's clock.
//
// When the lease is held by another owner, the filter matches nothing and
// the upsert collides with the existing _id: that duplicate-key error
// means the claim was rejected.
func (s *Store) ClaimLease(
	ctx context.Context, name, owner string, ttl time.Duration,
) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	now := time.Now()
	res, err := s.leases.UpdateOne(ctx,
		bson.D{
			{Key: "_id", Value: name},
			{Key: "$or", Value: bson.A{
				bson.D{{Key: "owner", Value: owner}},
				bson.D{{Key: "expires", Value: bson.D{
					{Key: "$lte", Value: bson.NewDateTimeFromTime(now)},
				}}},
			}},
		},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "owner", Value: owner},
			{Key: "expires", Value: bson.NewDateTimeFromTime(now.Add(ttl))},
		}}},
		options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap(fmt.Errorf("mongo: claim lease %q: %w", name, err))
	}
	return res.MatchedCount+res.UpsertedCount > 0, nil
}
