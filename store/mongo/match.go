package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/custos/custos/store"
)

// Match returns the ids of current, non-deleted resources that q selects,
// in ascending byte order.
func (s *Store) Match(ctx context.Context, q store.MatchQuery) ([]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if hasEmptyClause(q.Clauses) {
		return nil, nil
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "id", Value: 1}}).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "id", Value: 1}})
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	cur, err := s.current.Find(ctx, matchFilter(q, true), opts)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("mongo: match %s: %w", q.Type, err))
	}
	var docs []struct {
		ID string `bson:"id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap(fmt.Errorf("mongo: match %s: %w", q.Type, err))
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// CountMatch counts the resources that q selects, ignoring AfterID and
// Limit.
func (s *Store) CountMatch(ctx context.Context, q store.MatchQuery) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if hasEmptyClause(q.Clauses) {
		return 0, nil
	}
	n, err := s.current.CountDocuments(ctx, matchFilter(q, false))
	if err != nil {
		return 0, s.wrap(fmt.Errorf("mongo: count match %s: %w", q.Type, err))
	}
	return int(n), nil
}

// hasEmptyClause reports whether a clause has no tokens, which no
// resource can satisfy.
func hasEmptyClause(clauses []store.Clause) bool {
	for _, c := range clauses {
		if len(c) == 0 {
			return true
		}
	}
	return false
}

// matchFilter returns the query of current documents for q: one $in on
// the tokens array per clause, all of them under $and.
func matchFilter(q store.MatchQuery, withAfter bool) bson.D {
	filter := bson.D{
		{Key: "type", Value: q.Type},
		{Key: "deleted", Value: false},
	}
	if withAfter && q.AfterID != "" {
		filter = append(filter, bson.E{Key: "id", Value: bson.D{{Key: "$gt", Value: q.AfterID}}})
	}
	if len(q.Clauses) == 0 {
		return filter
	}
	clauses := make(bson.A, len(q.Clauses))
	for i, c := range q.Clauses {
		tokens := make(bson.A, len(c))
		for j, tok := range c {
			tokens[j] = bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: tok}
		}
		clauses[i] = bson.D{{Key: "tokens", Value: bson.D{{Key: "$in", Value: tokens}}}}
	}
	return append(filter, bson.E{Key: "$and", Value: clauses})
}
