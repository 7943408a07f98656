// Package repository stores FHIR resources and reads them back. A write
// gets its id, version and lastUpdated, is encoded as canonical JSON,
// sealed under the data key of its patient compartment, indexed with
// blind-index tokens and stored. A read opens the stored version and
// returns its bytes without parsing them.
package repository

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/store"
	"github.com/custos/custos/store/seal"
)

// Indexer computes the blind-index tokens of a resource from its canonical
// JSON.
type Indexer interface {
	Tokens(resourceType string, resource []byte) ([][]byte, error)
}

// Entry is one version of a resource, opened.
type Entry struct {
	Type        string
	ID          string
	VersionID   int64
	LastUpdated time.Time
	Deleted     bool
	// Compartment is the id of the patient whose compartment the version
	// is sealed in, or "" for none. It comes from the data key id, so no
	// body is parsed to learn it.
	Compartment string
	// Body is the canonical JSON with meta.versionId and meta.lastUpdated;
	// empty for a tombstone.
	Body []byte
}

// Repository stores and reads resources. It is safe for concurrent use.
type Repository struct {
	codec   *model.Codec
	store   store.Store
	sealer  *seal.Sealer
	indexer Indexer
	hashKey []byte
	now     func() time.Time
	onWrite func(typ, id string, compartments ...string)
}

// OnWrite sets a function called after each stored write with the type,
// id and the compartments of the previous and the new version, for caches
// that depend on the data (such as decisions from Consents). Call it
// before serving requests.
func (r *Repository) OnWrite(f func(typ, id string, compartments ...string)) { r.onWrite = f }

func (r *Repository) wrote(typ, id string, keyIDs ...string) {
	if r.onWrite == nil {
		return
	}
	compartments := make([]string, 0, len(keyIDs))
	for _, k := range keyIDs {
		if c := CompartmentOf(k); c != "" {
			compartments = append(compartments, c)
		}
	}
	r.onWrite(typ, id, compartments...)
}

// New returns a Repository. The indexer may be nil, in which case no
// search tokens are stored.
func New(ctx context.Context, codec *model.Codec, st store.Store, sealer *seal.Sealer,
	indexer Indexer) (*Repository, error) {
	hashKey, err := sealer.RawKey(ctx, seal.IndexKeyID)
	if err != nil {
		return nil, fmt.Errorf("load index key: %w", err)
	}
	return &Repository{codec: codec, store: st, sealer: sealer, indexer: indexer,
		hashKey: hashKey, now: time.Now}, nil
}

// SetIndexer replaces the indexer; call it before serving requests.
func (r *Repository) SetIndexer(ix Indexer) { r.indexer = ix }

// Codec returns the codec the repository parses and encodes with.
func (r *Repository) Codec() *model.Codec { return r.codec }

// Store returns the underlying store.
func (r *Repository) Store() store.Store { return r.store }

// MaxTokens bounds the blind-index tokens of one resource version. A
// Synthea patient has about 400; a resource with far more repeats an
// element thousands of times, and would cost the index as much as
// thousands of patients.
const MaxTokens = 20000

// maxAttempts bounds how often an unconditional write retries after losing
// a race for the next version number to a concurrent writer.
const maxAttempts = 200

// Create stores res as a new resource with a new server-assigned id.
func (r *Repository) Create(ctx context.Context, res *model.Resource) (Entry, error) {
	id, err := newID()
	if err != nil {
		return Entry{}, err
	}
	res.SetID(id)
	w, entry, err := r.prepare(ctx, res, id, 1, time.Time{})
	if err != nil {
		return Entry{}, err
	}
	if err := r.store.Put(ctx, w); err != nil {
		return Entry{}, storeError(err)
	}
	r.wrote(res.Type, id, w.Version.KeyID)
	return entry, nil
}

// Update stores res as the next version of typ/id, creating the resource
// when it does not exist. When ifMatch is not 0 the current version must
// be ifMatch, or the update fails with 412. created reports whether the
// resource did not exist (or was deleted) before.
func (r *Repository) Update(ctx context.Context, res *model.Resource, id string,
	ifMatch int64) (entry Entry, created bool, err error) {
	res.SetID(id)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur, err := r.store.Current(ctx, res.Type, id)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Entry{}, false, storeError(err)
		}
		if ifMatch != 0 && (!exists || cur.VersionID != ifMatch) {
			return Entry{}, false, preconditionFailed(res.Type, id, ifMatch, cur.VersionID)
		}
		w, entry, err := r.prepare(ctx, res, id, cur.VersionID+1, cur.LastUpdated)
		if err != nil {
			return Entry{}, false, err
		}
		err = r.store.Put(ctx, w)
		if errors.Is(err, store.ErrConflict) {
			if ifMatch != 0 {
				return Entry{}, false, preconditionFailed(res.Type, id, ifMatch, 0)
			}
			backoff(attempt)
			continue
		}
		if err != nil {
			return Entry{}, false, storeError(err)
		}
		r.wrote(res.Type, id, cur.KeyID, w.Version.KeyID)
		return entry, !exists || cur.Deleted, nil
	}
	return Entry{}, false, outcome.New(http.StatusConflict, "conflict",
		"%s/%s is being changed by many writers at once; retry the update", res.Type, id)
}

// Delete writes a tombstone as the next version of typ/id. Deleting a
// resource that does not exist or is already deleted changes nothing and
// reports deleted false.
func (r *Repository) Delete(ctx context.Context, typ, id string, ifMatch int64) (
	deleted bool, err error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		cur, err := r.store.Current(ctx, typ, id)
		if errors.Is(err, store.ErrNotFound) {
			if ifMatch != 0 {
				return false, preconditionFailed(typ, id, ifMatch, 0)
			}
			return false, nil
		}
		if err != nil {
			return false, storeError(err)
		}
		if ifMatch != 0 && cur.VersionID != ifMatch {
			return false, preconditionFailed(typ, id, ifMatch, cur.VersionID)
		}
		if cur.Deleted {
			return false, nil
		}
		// The tombstone keeps the key id, so that its compartment is known.
		tomb := store.Version{Type: typ, ID: id, VersionID: cur.VersionID + 1,
			LastUpdated: r.stamp(cur.LastUpdated), Deleted: true, KeyID: cur.KeyID}
		err = r.store.Put(ctx, store.Write{Version: tomb})
		if errors.Is(err, store.ErrConflict) {
			if ifMatch != 0 {
				return false, preconditionFailed(typ, id, ifMatch, 0)
			}
			backoff(attempt)
			continue
		}
		if err != nil {
			return false, storeError(err)
		}
		r.wrote(typ, id, cur.KeyID)
		return true, nil
	}
	return false, outcome.New(http.StatusConflict, "conflict",
		"%s/%s is being changed by many writers at once; retry the delete", typ, id)
}

// Read returns the current version of typ/id; a deleted resource comes
// back with Deleted set. A resource that never existed is a 404.
func (r *Repository) Read(ctx context.Context, typ, id string) (Entry, error) {
	v, err := r.store.Current(ctx, typ, id)
	if err != nil {
		return Entry{}, notFound(err, typ, id)
	}
	return r.open(ctx, v)
}

// VRead returns one version of typ/id.
func (r *Repository) VRead(ctx context.Context, typ, id string, versionID int64) (Entry, error) {
	v, err := r.store.Read(ctx, typ, id, versionID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Entry{}, outcome.New(http.StatusNotFound, "not-found",
				"%s/%s has no version %d", typ, id, versionID)
		}
		return Entry{}, storeError(err)
	}
	return r.open(ctx, v)
}

// Load returns the current canonical JSON of typ/id, or store.ErrNotFound
// when it does not exist or is deleted. It serves the search engine.
func (r *Repository) Load(ctx context.Context, typ, id string) ([]byte, error) {
	e, err := r.Read(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if e.Deleted {
		return nil, store.ErrNotFound
	}
	return e.Body, nil
}

// History lists versions newest first.
func (r *Repository) History(ctx context.Context, f store.HistoryFilter) ([]Entry, error) {
	versions, err := r.store.History(ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]Entry, 0, len(versions))
	for _, v := range versions {
		e, err := r.open(ctx, v)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// open decrypts a stored version.
func (r *Repository) open(ctx context.Context, v store.Version) (Entry, error) {
	e := Entry{Type: v.Type, ID: v.ID, VersionID: v.VersionID,
		LastUpdated: v.LastUpdated, Deleted: v.Deleted, Compartment: CompartmentOf(v.KeyID)}
	if v.Deleted {
		return e, nil
	}
	body, err := r.sealer.Open(ctx, v.KeyID, v.Type, v.ID, v.VersionID, v.Body)
	if err != nil {
		if errors.Is(err, seal.ErrOpen) {
			return Entry{}, &SealError{Type: v.Type, ID: v.ID, VersionID: v.VersionID, Err: err}
		}
		return Entry{}, storeError(err)
	}
	e.Body = body
	return e, nil
}

// SealError means a stored version failed to open: it was altered or moved.
// Clients get a 500 with an OperationOutcome, never the data.
type SealError struct {
	Type      string
	ID        string
	VersionID int64
	Err       error
}

func (e *SealError) Error() string {
	return fmt.Sprintf("%s/%s version %d failed to open: %v", e.Type, e.ID, e.VersionID, e.Err)
}

func (e *SealError) Unwrap() error { return e.Err }

// prepare builds the sealed write of res as version versionID.
func (r *Repository) prepare(ctx context.Context, res *model.Resource, id string,
	versionID int64, previous time.Time) (store.Write, Entry, error) {
	hash, err := r.contentHash(res)
	if err != nil {
		return store.Write{}, Entry{}, fmt.Errorf("encode %s/%s: %w", res.Type, id, err)
	}

	lastUpdated := r.stamp(previous)
	res.SetMeta(versionID, lastUpdated)
	body, err := r.codec.Marshal(res)
	if err != nil {
		return store.Write{}, Entry{}, fmt.Errorf("encode %s/%s: %w", res.Type, id, err)
	}
	return r.seal(ctx, res, id, versionID, lastUpdated, body, hash)
}

func (r *Repository) seal(ctx context.Context, res *model.Resource, id string, versionID int64,
	lastUpdated time.Time, body, hash []byte) (store.Write, Entry, error) {
	keyID := KeyFor(res)
	sealed, err := r.sealer.Seal(ctx, keyID, res.Type, id, versionID, body)
	if err != nil {
		return store.Write{}, Entry{}, fmt.Errorf("seal %s/%s: %w", res.Type, id, err)
	}
	var tokens [][]byte
	if r.indexer != nil {
		if tokens, err = r.indexer.Tokens(res.Type, body); err != nil {
			return store.Write{}, Entry{}, fmt.Errorf("index %s/%s: %w", res.Type, id, err)
		}
		if len(tokens) > MaxTokens {
			return store.Write{}, Entry{}, outcome.New(http.StatusUnprocessableEntity,
				"too-costly", "%s/%s has %d searchable values; the limit is %d: split the "+
					"resource or remove repeated elements", res.Type, id, len(tokens), MaxTokens)
		}
	}
	w := store.Write{
		Version: store.Version{Type: res.Type, ID: id, VersionID: versionID,
			LastUpdated: lastUpdated, KeyID: keyID, Body: sealed, Hash: hash},
		Tokens: tokens,
	}
	return w, Entry{Type: res.Type, ID: id, VersionID: versionID,
		LastUpdated: lastUpdated, Compartment: CompartmentOf(keyID), Body: body}, nil
}

// CompartmentOf returns the patient id in a data key id, or "".
func CompartmentOf(keyID string) string {
	id, _ := strings.CutPrefix(keyID, "patient/")
	if id == keyID {
		return ""
	}
	return id
}

// KeyFor returns the id of the data key that seals res: its patient's
// compartment key, the audit key for AuditEvents, or the shared key.
func KeyFor(res *model.Resource) string {
	if res.Type == "AuditEvent" {
		return seal.AuditKeyID
	}
	if p := res.Compartment(); p != "" {
		return seal.PatientKeyID(p)
	}
	return seal.SharedKeyID
}

// contentHash returns the keyed hash of res without its server-managed
// meta. It hashes the deterministic protobuf encoding, which costs a
// fraction of a JSON encoding and is stable for equal content.
func (r *Repository) contentHash(res *model.Resource) ([]byte, error) {
	res.SetMeta(0, time.Time{})
	wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(res.Message())
	if err != nil {
		return nil, err
	}
	return r.hash(wire), nil
}

// hash returns the keyed hash of b.
func (r *Repository) hash(plain []byte) []byte {
	mac := hmac.New(sha256.New, r.hashKey)
	mac.Write([]byte("content\x00"))
	mac.Write(plain)
	return mac.Sum(nil)[:16]
}

// stamp returns the lastUpdated of a new version: now at millisecond
// precision, and never before the previous version's.
func (r *Repository) stamp(previous time.Time) time.Time {
	t := r.now().UTC().Truncate(time.Millisecond)
	if !t.After(previous) {
		t = previous.Add(time.Millisecond)
	}
	return t
}

func backoff(attempt int) {
	if attempt > 2 {
		time.Sleep(time.Duration(attempt%10+1) * 100 * time.Microsecond)
	}
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

func preconditionFailed(typ, id string, want, have int64) error {
	if have == 0 {
		return outcome.New(http.StatusPreconditionFailed, "conflict",
			"If-Match names version %d of %s/%s, but another write changed it first",
			want, typ, id)
	}
	return outcome.New(http.StatusPreconditionFailed, "conflict",
		"If-Match names version %d of %s/%s, but the current version is %d",
		want, typ, id, have)
}

func notFound(err error, typ, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return outcome.New(http.StatusNotFound, "not-found", "%s/%s is not known", typ, id)
	}
	return storeError(err)
}

// storeError maps a store failure to a 503 when the store is unreachable
// and keeps other errors for the caller to log.
func storeError(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return &outcome.Error{Status: http.StatusServiceUnavailable, Issues: []outcome.Issue{{
			Severity: "error", Code: "transient",
			Diagnostics: "the store is unavailable; retry later"}}}
	}
	return err
}
