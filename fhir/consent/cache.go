package consent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// LoadFunc loads the Consent resources of one patient and a stamp that
// changes whenever that set changes, for example the highest
// meta.versionId or meta.lastUpdated among them, or a per-patient counter
// the store increments on every Consent write.
type LoadFunc func(ctx context.Context, patientID string) (
	consents []map[string]any, stamp string, err error)

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Load fetches a patient's Consents on a miss. Required.
	Load LoadFunc

	// TTL is how long a loaded set of Consents is used before it is
	// loaded again. Required, and greater than zero.
	TTL time.Duration

	// MaxPatients bounds the number of patients held; 0 means 10,000.
	// When full, the entry loaded first is dropped.
	MaxPatients int

	// MaxDecisions bounds the decisions remembered per patient; 0 means
	// 1,024. When full, the patient's remembered decisions are dropped.
	MaxDecisions int

	// Now returns the current time for TTL checks; nil means time.Now.
	Now func() time.Time
}

// Cache holds parsed Consents and remembered decisions per patient. It is
// safe for concurrent use.
//
// Several server instances each keep their own Cache. A Consent written
// through one instance reaches the others only when their TTL runs out,
// unless the caller calls Invalidate on every instance (for example on a
// change-stream event). Alternatively, the caller compares the stamp it
// reads from the store with Stamp and calls InvalidateStale.
type Cache struct {
	cfg CacheConfig

	mu       sync.RWMutex
	entries  map[string]*cacheEntry
	inflight map[string]*loadCall
	// generation counts invalidations. A load that overlaps one is used
	// for its own request but not stored, since it may predate the write
	// that caused the invalidation.
	generation uint64
}

type cacheEntry struct {
	stamp    string
	loadedAt time.Time
	raw      []map[string]any

	mu        sync.RWMutex
	set       *consentSet
	decisions map[string]Decision
}

type loadCall struct {
	done  chan struct{}
	entry *cacheEntry
	err   error
}

// NewCache returns an empty Cache. It fails if Load is nil or TTL is not
// positive.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if cfg.Load == nil {
		return nil, errors.New("consent cache: Load is required")
	}
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("consent cache: TTL must be positive, got %v", cfg.TTL)
	}
	if cfg.MaxPatients < 0 || cfg.MaxDecisions < 0 {
		return nil, errors.New("consent cache: MaxPatients and MaxDecisions must not be negative")
	}
	if cfg.MaxPatients == 0 {
		cfg.MaxPatients = 10000
	}
	if cfg.MaxDecisions == 0 {
		cfg.MaxDecisions = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{
		cfg:      cfg,
		entries:  make(map[string]*cacheEntry),
		inflight: make(map[string]*loadCall),
	}, nil
}

// Decide returns the decision for req, loading the patient's Consents on
// a miss. The result equals Decide over the loaded Consents. When loading
// fails it returns a deny and the error.
func (c *Cache) Decide(ctx context.Context, req Request, policy Policy) (Decision, error) {
	if req.PatientID == "" {
		return Decide(nil, req, policy), nil
	}
	e := c.lookup(req.PatientID)
	if e == nil {
		var err error
		e, err = c.load(ctx, req.PatientID)
		if err != nil {
			return Decision{Reason: "The patient's Consents could not be loaded, " +
				"so access is denied."}, err
		}
	}
	return e.decide(req, policy, c.cfg.MaxDecisions), nil
}

// Invalidate drops what the Cache holds for the patient, so that the next
// decision loads the Consents again.
func (c *Cache) Invalidate(patientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	delete(c.entries, patientID)
	delete(c.inflight, patientID)
}

// InvalidateStale drops the patient's entry when its stamp differs from
// stamp, the one the caller read from the store. It reports whether an
// entry was dropped.
func (c *Cache) InvalidateStale(patientID, stamp string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[patientID]
	if !ok || e.stamp == stamp {
		return false
	}
	c.generation++
	delete(c.entries, patientID)
	delete(c.inflight, patientID)
	return true
}

// Stamp returns the stamp of the patient's cached Consents, if any.
func (c *Cache) Stamp(patientID string) (string, bool) {
	e := c.lookup(patientID)
	if e == nil {
		return "", false
	}
	return e.stamp, true
}

// lookup returns the patient's entry unless it is missing or expired.
func (c *Cache) lookup(patientID string) *cacheEntry {
	c.mu.RLock()
	e := c.entries[patientID]
	c.mu.RUnlock()
	if e == nil || c.cfg.Now().Sub(e.loadedAt) >= c.cfg.TTL {
		return nil
	}
	return e
}

// load calls Load once for concurrent misses on the same patient.
func (c *Cache) load(ctx context.Context, patientID string) (*cacheEntry, error) {
	c.mu.Lock()
	if e := c.entries[patientID]; e != nil && c.cfg.Now().Sub(e.loadedAt) < c.cfg.TTL {
		// Another call stored the entry after this one's lookup missed.
		c.mu.Unlock()
		return e, nil
	}
	if call, ok := c.inflight[patientID]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.entry, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &loadCall{done: make(chan struct{})}
	c.inflight[patientID] = call
	generation := c.generation
	c.mu.Unlock()

	consents, stamp, err := c.cfg.Load(ctx, patientID)
	if err != nil {
		call.err = fmt.Errorf("load consents: %w", err)
	} else {
		call.entry = &cacheEntry{stamp: stamp, loadedAt: c.cfg.Now(), raw: consents}
	}

	c.mu.Lock()
	if c.inflight[patientID] == call {
		delete(c.inflight, patientID)
	}
	if call.err == nil && c.generation == generation {
		c.storeLocked(patientID, call.entry)
	}
	c.mu.Unlock()
	close(call.done)
	return call.entry, call.err
}

// storeLocked adds an entry, first dropping expired entries and, if still
// full, the entry loaded first. The caller holds c.mu.
func (c *Cache) storeLocked(patientID string, e *cacheEntry) {
	if _, ok := c.entries[patientID]; !ok && len(c.entries) >= c.cfg.MaxPatients {
		now := c.cfg.Now()
		var oldestID string
		var oldest time.Time
		for id, other := range c.entries {
			if now.Sub(other.loadedAt) >= c.cfg.TTL {
				delete(c.entries, id)
				continue
			}
			if oldestID == "" || other.loadedAt.Before(oldest) {
				oldestID, oldest = id, other.loadedAt
			}
		}
		if len(c.entries) >= c.cfg.MaxPatients {
			delete(c.entries, oldestID)
		}
	}
	c.entries[patientID] = e
}

// decide returns a remembered decision or computes and remembers it.
func (e *cacheEntry) decide(req Request, policy Policy, maxDecisions int) Decision {
	loc := policy.Location
	if loc == nil {
		loc = time.UTC
	}
	e.mu.RLock()
	set := e.set
	e.mu.RUnlock()
	if set == nil || set.location != loc {
		set = compileSet(e.raw, loc)
		e.mu.Lock()
		e.set, e.decisions = set, make(map[string]Decision)
		e.mu.Unlock()
	}

	key := keyBuffers.Get().(*keyBuilder)
	defer keyBuffers.Put(key)
	key.build(&req, policy, set.interval(req.Time))

	e.mu.RLock()
	d, ok := e.decisions[string(key.b)]
	current := e.set == set
	e.mu.RUnlock()
	if ok && current {
		return d
	}

	d = set.decide(req, policy, nil)
	e.mu.Lock()
	if e.set == set {
		if len(e.decisions) >= maxDecisions {
			e.decisions = make(map[string]Decision)
		}
		e.decisions[string(key.b)] = d
	}
	e.mu.Unlock()
	return d
}

// interval returns how many bounds lie at or before t. Two times with the
// same interval lead to the same decision for the same request.
func (s *consentSet) interval(t time.Time) int {
	return sort.Search(len(s.bounds), func(i int) bool { return s.bounds[i].After(t) })
}

// keyBuffers recycles the buffers that decision keys are built in, so a
// cache hit allocates nothing for its key.
var keyBuffers = sync.Pool{New: func() any { return new(keyBuilder) }}

// keyBuilder encodes every input of a decision except the evaluation
// time, which the interval index stands for. Strings are length-prefixed,
// so no two different requests share a key.
type keyBuilder struct {
	b []byte
}

func (k *keyBuilder) num(n int64) {
	k.b = binary.LittleEndian.AppendUint64(k.b, uint64(n))
}

func (k *keyBuilder) count(n int) {
	k.b = binary.LittleEndian.AppendUint32(k.b, uint32(n))
}

func (k *keyBuilder) flag(v bool) {
	if v {
		k.b = append(k.b, '1')
	} else {
		k.b = append(k.b, '0')
	}
}

func (k *keyBuilder) str(s string) {
	k.count(len(s))
	k.b = append(k.b, s...)
}

func (k *keyBuilder) codings(list []Coding) {
	k.count(len(list))
	for _, c := range list {
		k.str(c.System)
		k.str(c.Code)
	}
}

func (k *keyBuilder) strs(list []string) {
	k.count(len(list))
	for _, s := range list {
		k.str(s)
	}
}

func (k *keyBuilder) build(req *Request, policy Policy, interval int) {
	k.b = k.b[:0]
	k.count(interval)
	k.count(int(policy.Default))
	k.flag(policy.BreakGlass)
	k.flag(req.Time.IsZero())
	k.str(req.PatientID)
	k.count(len(req.Actors))
	for _, a := range req.Actors {
		k.str(a.Reference)
		k.codings(a.Roles)
	}
	k.codings(req.Purposes)
	k.str(req.Action)

	r := &req.Resource
	k.str(r.Type)
	k.str(r.ID)
	k.codings(r.SecurityLabels)
	k.codings(r.Codes)
	k.codings(r.Classes)
	k.flag(r.Date.IsZero())
	if !r.Date.IsZero() {
		k.num(r.Date.Unix())
		k.num(int64(r.Date.Nanosecond()))
	}
	k.strs(r.References)
	k.strs(r.ReferencedBy)
	k.strs(r.Authors)
}
