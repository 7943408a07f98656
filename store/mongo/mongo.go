// Package mongo implements store.Store on MongoDB, the store for
// deployments. Queries are built only from typed values: no input ever
// becomes an operator or a field name.
//
// Collections:
//
//   - versions: one document per resource version. Its _id is built from
//     type, id and the zero-padded version, so the unique _id index is the
//     lock that lets exactly one writer store each version.
//   - current: one document per resource with the newest version's number
//     and its blind-index tokens, under a multikey index on
//     (type, tokens, id) that Match uses.
//   - keys: wrapped data keys by key id.
//   - leases: named leases with their owner and expiry.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/custos/custos/store"
)

// Collection names.
const (
	versionsCollection = "versions"
	currentCollection  = "current"
	keysCollection     = "keys"
	leasesCollection   = "leases"
)

// Store is a store.Store in one MongoDB database.
type Store struct {
	client   *mongo.Client
	versions *mongo.Collection
	current  *mongo.Collection
	keys     *mongo.Collection
	leases   *mongo.Collection

	// transactions is true when the deployment is a replica set or a
	// sharded cluster, which run multi-document transactions.
	transactions bool
	closed       atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open connects to the MongoDB deployment at uri, uses the named database,
// and creates the indexes that are missing.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	db := client.Database(database)
	s := &Store{
		client:   client,
		versions: db.Collection(versionsCollection),
		current:  db.Collection(currentCollection),
		keys:     db.Collection(keysCollection),
		leases:   db.Collection(leasesCollection),
	}

	s.transactions, err = supportsTransactions(ctx, db)
	if err == nil {
		err = s.createIndexes(ctx)
	}
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, s.wrap(fmt.Errorf("mongo: open database %q: %w", database, err))
	}
	return s, nil
}

// supportsTransactions runs the hello command to learn whether the server
// is a replica set member or a mongos router. A standalone mongod and
// FerretDB v1 are neither, and run no multi-document transactions.
func supportsTransactions(ctx context.Context, db *mongo.Database) (bool, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello)
	if err != nil {
		return false, fmt.Errorf("hello: %w", err)
	}
	return hello.SetName != "" || hello.Msg == "isdbgrid", nil
}

func (s *Store) createIndexes(ctx context.Context) error {
	indexes := []struct {
		coll  *mongo.Collection
		model mongo.IndexModel
	}{
		{s.versions, index("type_id_version", "type", 1, "id", 1, "version_id", -1)},
		{s.versions, index("history", "last_updated", -1, "type", -1, "id", -1, "version_id", -1)},
		{s.versions, index("type_history",
			"type", 1, "last_updated", -1, "id", -1, "version_id", -1)},
		{s.current, index("type_tokens_id", "type", 1, "tokens", 1, "id", 1)},
		{s.current, index("type_id", "type", 1, "id", 1)},
	}
	for _, ix := range indexes {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return fmt.Errorf("create index on %s: %w", ix.coll.Name(), err)
		}
	}
	return nil
}

// index returns a model of the named index on the given field and
// direction pairs.
func index(name string, pairs ...any) mongo.IndexModel {
	var keys bson.D
	for i := 0; i < len(pairs); i += 2 {
		keys = append(keys, bson.E{Key: pairs[i].(string), Value: pairs[i+1]})
	}
	return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name)}
}

// Transactions reports whether Put of several writes runs in one
// multi-document transaction, and so is atomic.
func (s *Store) Transactions() bool { return s.transactions }

// Ping reports whether the deployment replies to a ping.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.wrap(s.client.Ping(ctx, nil))
}

// Close disconnects from the deployment. Every later call returns
// store.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.client.Disconnect(context.Background())
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return store.ErrUnavailable
	}
	return nil
}

// wrap adds store.ErrUnavailable to err when the deployment could not be
// reached or the store was closed, and leaves nil and every other error as
// it is.
func (s *Store) wrap(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var selection topology.ServerSelectionError
	if s.closed.Load() || mongo.IsNetworkError(err) ||
		errors.Is(err, mongo.ErrClientDisconnected) || errors.As(err, &selection) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
