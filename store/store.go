// Package store keeps sealed resource versions, their blind-index postings,
// wrapped data keys and leases. It depends on nothing of HTTP or of FHIR beyond
// resource type, logical id and version; every resource body it sees is
// already sealed.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors that every Store implementation returns, wrapped or bare, so that
// callers can test them with errors.Is.
var (
	// ErrNotFound means no version matches the request.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means the resource's current version is not the one the
	// write expected: another writer got there first.
	ErrConflict = errors.New("store: version conflict")
	// ErrUnavailable means the store cannot be reached or is closed.
	ErrUnavailable = errors.New("store: unavailable")
)

// Version is one version of one resource as the store keeps it.
type Version struct {
	Type        string    // resource type, for example "Patient"
	ID          string    // logical id
	VersionID   int64     // 1, 2, 3, ... per resource
	LastUpdated time.Time // UTC, millisecond precision
	Deleted     bool      // a tombstone: Body is empty
	KeyID       string    // the data key that sealed Body
	Body        []byte    // sealed canonical JSON
	// Hash is a keyed hash of the resource content without server-managed
	// meta, so that an import can tell an unchanged resource from a changed
	// one without opening it. Empty for tombstones.
	Hash []byte
}

// Write is one version to store together with the blind-index tokens of
// the resource at that version. The tokens replace those of the previous
// version; a tombstone has none.
type Write struct {
	Version Version
	Tokens  [][]byte
}

// TokenEntry is the tokens of one version, for AddTokens.
type TokenEntry struct {
	ID        string
	VersionID int64
	Tokens    [][]byte
}

// HistoryFilter selects versions for a history listing. Results come newest
// first, ordered by (LastUpdated, Type, ID, VersionID) descending.
type HistoryFilter struct {
	Type  string    // empty: every type
	ID    string    // empty: every resource of Type
	Since time.Time // zero: no lower bound; otherwise LastUpdated >= Since
	// Before, when not nil, continues a listing: only versions that sort
	// strictly after this position (that is, older) are returned.
	Before *Position
	Limit  int // at most this many; 0 means no limit
}

// Position is a place in a history listing.
type Position struct {
	LastUpdated time.Time
	Type        string
	ID          string
	VersionID   int64
}

// Clause is a set of tokens of which a resource must have at least one.
type Clause [][]byte

// MatchQuery selects current, non-deleted resources of one type by their
// blind-index tokens: a resource matches when, for every clause, it has at
// least one of the clause's tokens. No clauses match every resource of the
// type.
type MatchQuery struct {
	Type    string
	Clauses []Clause
	AfterID string // only ids that sort after this one (byte order)
	Limit   int    // at most this many ids; 0 means no limit
}

// Store is the persistence contract. Implementations are safe for
// concurrent use.
type Store interface {
	// Put stores each write as the next version of its resource, all of
	// them or none. A write whose VersionID is not one more than the
	// current version of its resource (0 when the resource does not
	// exist) fails the whole call with ErrConflict.
	Put(ctx context.Context, writes ...Write) error

	// Current returns the newest version of a resource, tombstone
	// included, or ErrNotFound.
	Current(ctx context.Context, typ, id string) (Version, error)

	// Read returns one version of a resource or ErrNotFound.
	Read(ctx context.Context, typ, id string, versionID int64) (Version, error)

	// History lists versions, newest first.
	History(ctx context.Context, f HistoryFilter) ([]Version, error)

	// CountHistory counts the versions that f selects, ignoring Before
	// and Limit.
	CountHistory(ctx context.Context, f HistoryFilter) (int, error)

	// Match returns the ids of current resources that q selects, in
	// ascending byte order of id.
	Match(ctx context.Context, q MatchQuery) ([]string, error)

	// CountMatch counts what q selects, ignoring AfterID and Limit.
	CountMatch(ctx context.Context, q MatchQuery) (int, error)

	// WrappedKey returns the wrapped data key stored under keyID, or
	// ErrNotFound.
	WrappedKey(ctx context.Context, keyID string) ([]byte, error)

	// PutWrappedKey stores a wrapped data key under keyID unless one is
	// already there, and returns the one that is stored afterwards: the
	// caller's when it was first, the earlier one otherwise.
	PutWrappedKey(ctx context.Context, keyID string, wrapped []byte) ([]byte, error)

	// ClaimLease gives the named lease to owner until now+ttl when it is
	// free, expired or already owner's, and reports whether owner holds it.
	ClaimLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)

	// AddTokens adds blind-index tokens to current resources of typ whose
	// current version is the one given, all entries or none, and skips
	// the others. It indexes records that were stored first and indexed
	// later, off the path of the request that wrote them.
	AddTokens(ctx context.Context, typ string, entries []TokenEntry) error

	// Unindexed returns the ids of current, non-deleted resources of typ
	// that have no token at all, in ascending order after afterID, at most
	// limit: the records a deferred indexing has not reached yet.
	Unindexed(ctx context.Context, typ, afterID string, limit int) ([]string, error)

	// Purge removes every version, the current row and the postings of
	// the named resources of typ, for good: it serves retention of the
	// audit trail, not the FHIR delete interaction. Missing ids are not
	// an error.
	Purge(ctx context.Context, typ string, ids []string) error

	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}
