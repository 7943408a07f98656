package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/custos/custos/store"
)

// versionDoc is a document of the versions collection.
type versionDoc struct {
	ID          string        `bson:"_id"`
	Type        string        `bson:"type"`
	ResourceID  string        `bson:"id"`
	VersionID   int64         `bson:"version_id"`
	LastUpdated bson.DateTime `bson:"last_updated"`
	Deleted     bool          `bson:"deleted"`
	KeyID       string        `bson:"key_id"`
	Body        []byte        `bson:"body,omitempty"`
	Hash        []byte        `bson:"hash,omitempty"`
}

func (d versionDoc) version() store.Version {
	return store.Version{
		Type:        d.Type,
		ID:          d.ResourceID,
		VersionID:   d.VersionID,
		LastUpdated: d.LastUpdated.Time().UTC(),
		Deleted:     d.Deleted,
		KeyID:       d.KeyID,
		Body:        d.Body,
		Hash:        d.Hash,
	}
}

// resourceKey returns the _id of a resource's current document. Neither
// part may contain '/', which Put checks, so keys never collide.
func resourceKey(typ, id string) string { return typ + "/" + id }

// versionKey returns the _id of a version document. The version is
// zero-padded to 20 digits, the width of the largest int64, so that the
// _ids of one resource sort in version order.
func versionKey(typ, id string, versionID int64) string {
	return fmt.Sprintf("%s/%s/%020d", typ, id, versionID)
}

// validate checks what Put needs of a write's type and id.
func validate(v store.Version) error {
	if v.Type == "" || v.ID == "" {
		return fmt.Errorf("mongo: put: invalid write: type and id must not be empty")
	}
	if strings.Contains(v.Type, "/") || strings.Contains(v.ID, "/") {
		return fmt.Errorf("mongo: put: invalid write %q/%q: type and id must not contain '/'",
			v.Type, v.ID)
	}
	return nil
}

// Put stores each write as the next version of its resource. It checks
// every write's version first, inserts the version documents in one
// ordered InsertMany, whose unique _ids reject a second writer of a
// version, then updates the current document of each resource written.
//
// On a replica set or sharded cluster, all of this runs in one
// transaction: all the writes are stored or none.
//
// A deployment without transactions (a standalone mongod, FerretDB v1)
// runs the same steps without one, and loses atomicity in two ways. When
// a writer races in after the check, the InsertMany stops at the first
// version it rejects, Put returns ErrConflict, and the versions before it
// stay stored. And when the current documents are not updated (an error,
// or the process stops), Current, Read and History already return the new
// versions, because they read the versions collection. Match then still
// matches the previous tokens until the resource is written again.
func (s *Store) Put(ctx context.Context, writes ...store.Write) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(writes) == 0 {
		return nil
	}
	for _, w := range writes {
		if err := validate(w.Version); err != nil {
			return err
		}
	}

	if !s.transactions {
		return s.wrap(s.put(ctx, writes))
	}

	// NOTE: only TestContractMongoDB, with CUSTOS_TEST_MONGODB_URI set to
	// a replica set, runs this transaction path. FerretDB cannot run it.
	sess, err := s.client.StartSession()
	if err != nil {
		return s.wrap(fmt.Errorf("mongo: put: start session: %w", err))
	}
	defer sess.EndSession(context.Background())
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		return nil, s.put(ctx, writes)
	})
	return s.wrap(err)
}

// put runs the steps of Put, inside a transaction or not.
func (s *Store) put(ctx context.Context, writes []store.Write) error {
	at, err := s.currentVersions(ctx, writes)
	if err != nil {
		return err
	}
	docs := make([]any, len(writes))
	for i, w := range writes {
		v := w.Version
		key := resourceKey(v.Type, v.ID)
		if v.VersionID != at[key]+1 {
			return conflict(v, at[key])
		}
		at[key] = v.VersionID
		docs[i] = newVersionDoc(v)
	}

	_, insertErr := s.versions.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	stored := len(writes)
	if insertErr != nil {
		stored = insertedBefore(insertErr)
	}

	// Only the last stored write of each resource sets its current
	// document. Without a transaction, the writes that were stored before
	// a rejected one get their current documents too.
	if insertErr == nil || !s.transactions {
		if err := s.setCurrents(ctx, writes[:stored]); err != nil {
			return errors.Join(err, insertErr)
		}
	}

	if mongo.IsDuplicateKeyError(insertErr) {
		return fmt.Errorf("%w: another writer stored one of the versions first: %w",
			store.ErrConflict, insertErr)
	}
	if insertErr != nil {
		return fmt.Errorf("mongo: put: insert versions: %w", insertErr)
	}
	return nil
}

// insertedBefore returns how many documents an ordered InsertMany stored
// before it failed with err: the index of the first write error, or 0 when
// the error carries no write errors.
func insertedBefore(err error) int {
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
		return bwe.WriteErrors[0].Index
	}
	return 0
}

func newVersionDoc(v store.Version) versionDoc {
	doc := versionDoc{
		ID:          versionKey(v.Type, v.ID, v.VersionID),
		Type:        v.Type,
		ResourceID:  v.ID,
		VersionID:   v.VersionID,
		LastUpdated: bson.NewDateTimeFromTime(v.LastUpdated),
		Deleted:     v.Deleted,
		KeyID:       v.KeyID,
	}
	if !v.Deleted {
		doc.Body, doc.Hash = v.Body, v.Hash
	}
	return doc
}

// setCurrents makes the last of writes for each resource its current
// document. Resources created by writes get theirs in one InsertMany,
// the others one guarded update each.
func (s *Store) setCurrents(ctx context.Context, writes []store.Write) error {
	last := map[string]int{} // resource key -> index of its last write
	for i, w := range writes {
		last[resourceKey(w.Version.Type, w.Version.ID)] = i
	}
	var created []any
	for i, w := range writes {
		if last[resourceKey(w.Version.Type, w.Version.ID)] != i {
			continue
		}
		if w.Version.VersionID == 1 {
			created = append(created, newCurrentDoc(w))
			continue
		}
		if err := s.setCurrent(ctx, w); err != nil {
			return err
		}
	}
	if len(created) == 0 {
		return nil
	}

	// A duplicate _id means that a writer of version 2, which saw version
	// 1 as soon as it was inserted, has already stored its newer current
	// document.
	_, err := s.current.InsertMany(ctx, created, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicateKeys(err) {
		return fmt.Errorf("mongo: put: insert current documents: %w", err)
	}
	return nil
}

// onlyDuplicateKeys reports whether every write error of a bulk write is
// a duplicate key.
func onlyDuplicateKeys(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we.WriteError) {
			return false
		}
	}
	return true
}

// currentDoc is a document of the current collection.
type currentDoc struct {
	ID          string        `bson:"_id"`
	Type        string        `bson:"type"`
	ResourceID  string        `bson:"id"`
	VersionID   int64         `bson:"version_id"`
	LastUpdated bson.DateTime `bson:"last_updated"`
	Deleted     bool          `bson:"deleted"`
	Tokens      [][]byte      `bson:"tokens"`
}

// newCurrentDoc returns the current document of w's resource. Tombstones
// keep no tokens.
func newCurrentDoc(w store.Write) currentDoc {
	v := w.Version
	doc := currentDoc{
		ID:          resourceKey(v.Type, v.ID),
		Type:        v.Type,
		ResourceID:  v.ID,
		VersionID:   v.VersionID,
		LastUpdated: bson.NewDateTimeFromTime(v.LastUpdated),
		Deleted:     v.Deleted,
		Tokens:      [][]byte{},
	}
	if !v.Deleted && w.Tokens != nil {
		doc.Tokens = w.Tokens
	}
	return doc
}

// setCurrent makes w the current document of its resource unless a newer
// version is already there. The filter on version_id keeps a slower writer
// of an older version from overwriting a newer document. When a newer one
// is there, the upsert collides with its _id, and that error is expected.
// Inside a transaction that error would abort it, but there no newer
// current document can exist, because the versions and current documents
// of a resource are written together.
func (s *Store) setCurrent(ctx context.Context, w store.Write) error {
	v := w.Version
	doc := newCurrentDoc(w)
	_, err := s.current.UpdateOne(ctx,
		bson.D{
			{Key: "_id", Value: doc.ID},
			{Key: "version_id", Value: bson.D{{Key: "$lt", Value: v.VersionID}}},
		},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "type", Value: doc.Type},
			{Key: "id", Value: doc.ResourceID},
			{Key: "version_id", Value: doc.VersionID},
			{Key: "last_updated", Value: doc.LastUpdated},
			{Key: "deleted", Value: doc.Deleted},
			{Key: "tokens", Value: doc.Tokens},
		}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: put %s/%s: update current: %w", v.Type, v.ID, err)
	}
	return nil
}

// currentVersions returns the newest stored version number of each
// resource that writes name. A resource without versions is missing from
// the map, so its number reads as 0. For several resources, one query
// reads the numbers of all their versions, and the index on
// (type, id, version_id) covers it.
func (s *Store) currentVersions(
	ctx context.Context, writes []store.Write,
) (map[string]int64, error) {
	at := map[string]int64{}
	if len(writes) == 1 {
		v := writes[0].Version
		n, err := s.currentVersion(ctx, v.Type, v.ID)
		if err != nil {
			return nil, err
		}
		at[resourceKey(v.Type, v.ID)] = n
		return at, nil
	}

	var or bson.A
	seen := map[string]bool{}
	for _, w := range writes {
		key := resourceKey(w.Version.Type, w.Version.ID)
		if !seen[key] {
			seen[key] = true
			or = append(or, bson.D{{Key: "type", Value: w.Version.Type},
				{Key: "id", Value: w.Version.ID}})
		}
	}
	cur, err := s.versions.Find(ctx, bson.D{{Key: "$or", Value: or}},
		options.Find().SetProjection(bson.D{
			{Key: "_id", Value: 0}, {Key: "type", Value: 1},
			{Key: "id", Value: 1}, {Key: "version_id", Value: 1},
		}))
	if err != nil {
		return nil, fmt.Errorf("mongo: put: read current versions: %w", err)
	}
	var docs []struct {
		Type      string `bson:"type"`
		ID        string `bson:"id"`
		VersionID int64  `bson:"version_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: put: read current versions: %w", err)
	}
	for _, d := range docs {
		key := resourceKey(d.Type, d.ID)
		at[key] = max(at[key], d.VersionID)
	}
	return at, nil
}

func conflict(v store.Version, at int64) error {
	return fmt.Errorf("%w: %s/%s is at version %d, write is version %d",
		store.ErrConflict, v.Type, v.ID, at, v.VersionID)
}

// currentVersion returns the newest stored version number of a resource,
// or 0 when it has none.
func (s *Store) currentVersion(ctx context.Context, typ, id string) (int64, error) {
	var doc struct {
		VersionID int64 `bson:"version_id"`
	}
	err := s.versions.FindOne(ctx,
		bson.D{{Key: "type", Value: typ}, {Key: "id", Value: id}},
		options.FindOne().
			SetSort(bson.D{{Key: "version_id", Value: -1}}).
			SetProjection(bson.D{{Key: "version_id", Value: 1}}),
	).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mongo: read current version of %s/%s: %w", typ, id, err)
	}
	return doc.VersionID, nil
}

// Current returns the newest version of a resource, tombstone included.
// It reads the versions collection, so it returns a version as soon as
// its document is stored.
func (s *Store) Current(ctx context.Context, typ, id string) (store.Version, error) {
	if err := s.checkOpen(); err != nil {
		return store.Version{}, err
	}
	var doc versionDoc
	err := s.versions.FindOne(ctx,
		bson.D{{Key: "type", Value: typ}, {Key: "id", Value: id}},
		options.FindOne().SetSort(bson.D{{Key: "version_id", Value: -1}}),
	).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.Version{}, fmt.Errorf("mongo: current %s/%s: %w", typ, id, store.ErrNotFound)
	}
	if err != nil {
		return store.Version{}, s.wrap(fmt.Errorf("mongo: current %s/%s: %w", typ, id, err))
	}
	return doc.version(), nil
}

// Read returns one version of a resource.
func (s *Store) Read(ctx context.Context, typ, id string, versionID int64) (store.Version, error) {
	if err := s.checkOpen(); err != nil {
		return store.Version{}, err
	}
	if strings.Contains(typ, "/") || strings.Contains(id, "/") {
		// Put stores no such resource, and the _id would be ambiguous.
		return store.Version{}, fmt.Errorf("mongo: read %q/%q: %w", typ, id, store.ErrNotFound)
	}
	// A lookup by _id alone is the one query that FerretDB v1 runs
	// without scanning the collection.
	var doc versionDoc
	err := s.versions.FindOne(ctx,
		bson.D{{Key: "_id", Value: versionKey(typ, id, versionID)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.Version{}, fmt.Errorf("mongo: read %s/%s/%d: %w",
			typ, id, versionID, store.ErrNotFound)
	}
	if err != nil {
		return store.Version{}, s.wrap(fmt.Errorf("mongo: read %s/%s/%d: %w",
			typ, id, versionID, err))
	}
	return doc.version(), nil
}

// History lists the versions that f selects, newest first.
func (s *Store) History(ctx context.Context, f store.HistoryFilter) ([]store.Version, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	opts := options.Find().SetSort(bson.D{
		{Key: "last_updated", Value: -1}, {Key: "type", Value: -1},
		{Key: "id", Value: -1}, {Key: "version_id", Value: -1},
	})
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	cur, err := s.versions.Find(ctx, historyFilter(f, true), opts)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("mongo: history: %w", err))
	}
	var docs []versionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap(fmt.Errorf("mongo: history: %w", err))
	}
	out := make([]store.Version, len(docs))
	for i, d := range docs {
		out[i] = d.version()
	}
	return out, nil
}

// CountHistory counts the versions that f selects, ignoring Before and
// Limit.
func (s *Store) CountHistory(ctx context.Context, f store.HistoryFilter) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	n, err := s.versions.CountDocuments(ctx, historyFilter(f, false))
	if err != nil {
		return 0, s.wrap(fmt.Errorf("mongo: count history: %w", err))
	}
	return int(n), nil
}

// historyFilter returns the query for f. withBefore adds the condition of
// f.Before: versions that sort after it in the order of History.
func historyFilter(f store.HistoryFilter, withBefore bool) bson.D {
	filter := bson.D{}
	if f.Type != "" {
		filter = append(filter, bson.E{Key: "type", Value: f.Type})
	}
	if f.ID != "" {
		filter = append(filter, bson.E{Key: "id", Value: f.ID})
	}
	if !f.Since.IsZero() {
		filter = append(filter, bson.E{Key: "last_updated",
			Value: bson.D{{Key: "$gte", Value: bson.DateTime(ceilMilli(f.Since))}}})
	}
	if b := f.Before; withBefore && b != nil {
		lu := bson.NewDateTimeFromTime(b.LastUpdated)
		lt := func(v any) bson.D { return bson.D{{Key: "$lt", Value: v}} }
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "last_updated", Value: lt(lu)}},
			bson.D{{Key: "last_updated", Value: lu}, {Key: "type", Value: lt(b.Type)}},
			bson.D{{Key: "last_updated", Value: lu}, {Key: "type", Value: b.Type},
				{Key: "id", Value: lt(b.ID)}},
			bson.D{{Key: "last_updated", Value: lu}, {Key: "type", Value: b.Type},
				{Key: "id", Value: b.ID}, {Key: "version_id", Value: lt(b.VersionID)}},
		}})
	}
	return filter
}

// ceilMilli returns t in Unix milliseconds, rounded up, so that a stored
// millisecond is >= the result exactly when it is not before t.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
