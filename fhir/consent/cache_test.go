package consent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeStore is an in-memory Consent source with a per-patient stamp.
type fakeStore struct {
	mu       sync.Mutex
	consents map[string][]map[string]any
	stamps   map[string]int
	loads    atomic.Int64
	fail     error
	gate     chan struct{} // when set, Load waits for it
}

func newFakeStore() *fakeStore {
	return &fakeStore{consents: map[string][]map[string]any{}, stamps: map[string]int{}}
}

func (s *fakeStore) put(patientID string, consents ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consents[patientID] = consents
	s.stamps[patientID]++
}

func (s *fakeStore) stamp(patientID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.stamps[patientID])
}

func (s *fakeStore) load(ctx context.Context, patientID string) ([]map[string]any, string, error) {
	s.loads.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, "", s.fail
	}
	return s.consents[patientID], fmt.Sprint(s.stamps[patientID]), nil
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestCache(t *testing.T, store *fakeStore, clock *fakeClock) *Cache {
	t.Helper()
	cfg := CacheConfig{Load: store.load, TTL: time.Minute}
	if clock != nil {
		cfg.Now = clock.Now
	}
	c, err := NewCache(cfg)
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	return c
}

func TestNewCacheRejectsBadConfig(t *testing.T) {
	store := newFakeStore()
	for name, cfg := range map[string]CacheConfig{
		"no loader":        {TTL: time.Minute},
		"zero TTL":         {Load: store.load},
		"negative maximum": {Load: store.load, TTL: time.Minute, MaxPatients: -1},
	} {
		if _, err := NewCache(cfg); err == nil {
			t.Errorf("%s: NewCache succeeded, want an error", name)
		}
	}
}

func TestCacheMatchesDecide(t *testing.T) {
	patients := examplePatients(t)
	store := newFakeStore()
	for _, name := range exampleNames {
		store.put(patients[name], loadExample(t, name, patients[name]))
	}
	cache := newTestCache(t, store, nil)

	// Run the table twice: the Cache decides the second pass from memory.
	for pass := range 2 {
		for _, row := range exampleRows(t) {
			req := row.req
			req.PatientID = patients[row.example]
			got, err := cache.Decide(context.Background(), req, row.policy)
			if err != nil {
				t.Fatalf("%s: Decide: %v", row.name, err)
			}
			wantDecision := Decide(store.consents[req.PatientID], req, row.policy)
			if got != wantDecision {
				t.Errorf("pass %d, %s: cache = %+v, Decide = %+v",
					pass, row.name, got, wantDecision)
			}
		}
	}
	if n := store.loads.Load(); n != int64(len(exampleNames)) {
		t.Errorf("Load called %d times, want once per patient (%d)", n, len(exampleNames))
	}
}

// TestCacheTimeBoundaries checks that a remembered decision is not reused
// across a period bound: the same request before and after the end of
// the smartonfhir window decides differently.
func TestCacheTimeBoundaries(t *testing.T) {
	patientID := syntheaPatientIDs(t)[11]
	store := newFakeStore()
	store.put(patientID, loadExample(t, "consent-example-smartonfhir", patientID))
	cache := newTestCache(t, store, nil)

	req := Request{PatientID: patientID, Actors: []Actor{actor("Practitioner/app", "PRCP")},
		Action: ActionAccess, Resource: Resource{Type: "MedicationRequest", ID: "mr-1"}}
	steps := []struct {
		at     string
		permit bool
	}{
		{"2016-06-23T07:10:00Z", true},
		{"2016-06-23T07:20:00Z", true},
		{"2016-06-23T07:32:34Z", false},
		{"2016-06-23T07:15:00Z", true},
		{"2016-06-23T07:02:32Z", false}, // before signing: opt-in default
	}
	for _, s := range steps {
		req.Time = mustTime(t, s.at)
		d, err := cache.Decide(context.Background(), req, Policy{})
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if d.Permit != s.permit {
			t.Errorf("at %s: Permit = %v, want %v (%s)", s.at, d.Permit, s.permit, d.Reason)
		}
	}
}

func TestCacheInvalidate(t *testing.T) {
	store := newFakeStore()
	permit := decodeJSON(t, consentJSON("v1", "active", "2020-01-01", "OPTIN",
		`{"actor":[`+actorA+`]}`))
	revoked := decodeJSON(t, consentJSON("v1", "inactive", "2020-01-01", "OPTIN",
		`{"actor":[`+actorA+`]}`))
	store.put(testPatient, permit)
	cache := newTestCache(t, store, nil)
	ctx := context.Background()

	decide := func() Decision {
		t.Helper()
		d, err := cache.Decide(ctx, ruleRequest(), Policy{})
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		return d
	}
	if !decide().Permit {
		t.Fatalf("first decision denied, want permit")
	}

	store.put(testPatient, revoked)
	if !decide().Permit {
		t.Errorf("before invalidation the cached permit should still be used")
	}
	cache.Invalidate(testPatient)
	if decide().Permit {
		t.Errorf("after Invalidate the revoked Consent should deny")
	}
	if n := store.loads.Load(); n != 2 {
		t.Errorf("Load called %d times, want 2", n)
	}
}

func TestCacheInvalidateStale(t *testing.T) {
	store := newFakeStore()
	store.put(testPatient, decodeJSON(t, consentJSON("c", "active", "2020-01-01", "OPTIN", "")))
	cache := newTestCache(t, store, nil)
	if _, err := cache.Decide(context.Background(), ruleRequest(), Policy{}); err != nil {
		t.Fatalf("Decide: %v", err)
	}

	stamp, ok := cache.Stamp(testPatient)
	if !ok || stamp != store.stamp(testPatient) {
		t.Fatalf("Stamp = %q, %v; want %q, true", stamp, ok, store.stamp(testPatient))
	}
	if cache.InvalidateStale(testPatient, store.stamp(testPatient)) {
		t.Errorf("InvalidateStale dropped an entry whose stamp is current")
	}

	// Another instance writes a Consent: the stamp in the store moves on.
	store.put(testPatient, decodeJSON(t, consentJSON("c", "active", "2020-01-01", "OPTOUT", "")))
	if !cache.InvalidateStale(testPatient, store.stamp(testPatient)) {
		t.Errorf("InvalidateStale kept an entry whose stamp is old")
	}
	if _, ok := cache.Stamp(testPatient); ok {
		t.Errorf("Stamp still reports an entry after InvalidateStale")
	}
	d, err := cache.Decide(context.Background(), ruleRequest(), Policy{})
	if err != nil || !d.Permit {
		t.Errorf("after reload: %+v, %v; want the OPTOUT base to permit", d, err)
	}
}

func TestCacheTTL(t *testing.T) {
	store := newFakeStore()
	store.put(testPatient)
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	cache := newTestCache(t, store, clock)
	ctx := context.Background()

	for _, step := range []struct {
		advance time.Duration
		loads   int64
	}{{0, 1}, {59 * time.Second, 1}, {time.Second, 2}, {30 * time.Second, 2}} {
		clock.advance(step.advance)
		if _, err := cache.Decide(ctx, ruleRequest(), Policy{}); err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if n := store.loads.Load(); n != step.loads {
			t.Errorf("after %v more: Load called %d times, want %d", step.advance, n, step.loads)
		}
	}
}

func TestCacheLoadFailureDenies(t *testing.T) {
	store := newFakeStore()
	store.fail = errors.New("store unavailable")
	cache := newTestCache(t, store, nil)
	d, err := cache.Decide(context.Background(), ruleRequest(), Policy{Default: OptOut})
	if !errors.Is(err, store.fail) {
		t.Errorf("error = %v, want it to wrap the load error", err)
	}
	if d.Permit {
		t.Errorf("a failed load permitted access")
	}

	store.fail = nil
	if _, err := cache.Decide(context.Background(), ruleRequest(), Policy{}); err != nil {
		t.Errorf("Decide after recovery: %v", err)
	}
	if n := store.loads.Load(); n != 2 {
		t.Errorf("Load called %d times, want 2: failures must not be cached", n)
	}
}

func TestCacheConcurrentMissesLoadOnce(t *testing.T) {
	store := newFakeStore()
	store.put(testPatient)
	store.gate = make(chan struct{})
	cache := newTestCache(t, store, nil)

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := cache.Decide(context.Background(), ruleRequest(), Policy{}); err != nil {
				t.Errorf("Decide: %v", err)
			}
		})
	}
	// Let the goroutines reach the loader before it returns.
	time.Sleep(50 * time.Millisecond)
	close(store.gate)
	wg.Wait()
	if n := store.loads.Load(); n != 1 {
		t.Errorf("Load called %d times for 16 concurrent misses, want 1", n)
	}
}

// TestCacheInvalidateDuringLoad checks that a load which overlaps an
// invalidation is not kept, since it may hold the Consents from before the
// write.
func TestCacheInvalidateDuringLoad(t *testing.T) {
	store := newFakeStore()
	store.put(testPatient)
	store.gate = make(chan struct{})
	cache := newTestCache(t, store, nil)

	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := cache.Decide(context.Background(), ruleRequest(), Policy{}); err != nil {
			t.Errorf("Decide: %v", err)
		}
	}()
	for store.loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cache.Invalidate(testPatient)
	close(store.gate)
	<-done
	if _, ok := cache.Stamp(testPatient); ok {
		t.Errorf("a load that overlapped Invalidate was stored")
	}
}

func TestCacheConcurrentUse(t *testing.T) {
	patients := examplePatients(t)
	store := newFakeStore()
	for _, name := range exampleNames {
		store.put(patients[name], loadExample(t, name, patients[name]))
	}
	cache, err := NewCache(CacheConfig{Load: store.load, TTL: time.Minute, MaxPatients: 4,
		MaxDecisions: 8})
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	rows := exampleRows(t)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				row := rows[(g*31+i)%len(rows)]
				req := row.req
				req.PatientID = patients[row.example]
				if i%50 == 0 {
					cache.Invalidate(req.PatientID)
				}
				got, err := cache.Decide(context.Background(), req, row.policy)
				if err != nil {
					t.Errorf("Decide: %v", err)
					return
				}
				if got.Permit != row.want.permit || got.ProvisionPath != row.want.path {
					t.Errorf("%s: got %+v", row.name, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
