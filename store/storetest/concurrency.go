package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
)

// writers is the number of goroutines that race for the next version of
// one resource.
const writers = 50

// testConcurrentWriters has each writer add one version to the same
// resource, retrying after every conflict. Each version must have exactly
// one winner, and every writer must win once.
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, write("Patient", "race", 1, at(0), "tok-0"))

	var (
		mu        sync.Mutex
		winners   = map[int64][]int{} // version -> writers whose Put succeeded
		conflicts int
		wg        sync.WaitGroup
	)
	start := make(chan struct{})
	errs := make(chan error, writers)
	for n := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for attempt := 0; ; attempt++ {
				if attempt > 20*writers {
					errs <- fmt.Errorf("writer %d: no version after %d attempts", n, attempt)
					return
				}
				cur, err := s.Current(ctx, "Patient", "race")
				if err != nil {
					errs <- fmt.Errorf("writer %d: current: %w", n, err)
					return
				}
				next := cur.VersionID + 1
				w := write("Patient", "race", next, at(int(next)), fmt.Sprintf("tok-%d", n+1))
				w.Version.Body = fmt.Appendf(nil, "writer %d", n)
				err = s.Put(ctx, w)
				if errors.Is(err, store.ErrConflict) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d: put version %d: %w", n, next, err)
					return
				}
				mu.Lock()
				winners[next] = append(winners[next], n)
				mu.Unlock()
				return
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d writers, %d conflicts", writers, conflicts)

	for v := int64(2); v <= writers+1; v++ {
		assert.Len(t, winners[v], 1, "winners of version %d", v)
	}
	assert.Len(t, winners, writers, "versions won")

	hist, err := s.History(ctx, store.HistoryFilter{Type: "Patient", ID: "race"})
	require.NoError(t, err)
	require.Len(t, hist, writers+1, "versions stored")
	seen := map[string]bool{}
	for _, v := range hist[:writers] {
		w := winners[v.VersionID]
		if !assert.Len(t, w, 1) {
			continue
		}
		want := fmt.Sprintf("writer %d", w[0])
		assert.Equal(t, want, string(v.Body), "body of version %d", v.VersionID)
		assert.False(t, seen[want], "%s stored twice", want)
		seen[want] = true
	}

	cur, err := s.Current(ctx, "Patient", "race")
	require.NoError(t, err)
	assert.Equal(t, int64(writers+1), cur.VersionID)

	// Only the tokens of the last version remain.
	last := winners[writers+1]
	require.Len(t, last, 1)
	ids, err := s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte(fmt.Sprintf("tok-%d", last[0]+1))}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"race"}, ids)
	ids, err = s.Match(ctx, store.MatchQuery{Type: "Patient",
		Clauses: []store.Clause{{[]byte("tok-0")}}})
	require.NoError(t, err)
	assert.Empty(t, ids, "tokens of version 1 remain")
}

func testWrappedKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.WrappedKey(ctx, "k1")
	assert.ErrorIs(t, err, store.ErrNotFound)

	got, err := s.PutWrappedKey(ctx, "k1", []byte("first"))
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), got)

	got, err = s.PutWrappedKey(ctx, "k1", []byte("second"))
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), got, "a second writer gets the first key")

	got, err = s.WrappedKey(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), got)

	got, err = s.PutWrappedKey(ctx, "k2", []byte{0, 1, 2, 255})
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 1, 2, 255}, got, "binary keys round-trip")
}

func testWrappedKeysConcurrent(t *testing.T, s store.Store) {
	const racers = 20
	ctx := context.Background()
	results := make([][]byte, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.PutWrappedKey(ctx, "shared", fmt.Appendf(nil, "key %d", i))
		}()
	}
	close(start)
	wg.Wait()

	for i := range racers {
		require.NoError(t, errs[i], "racer %d", i)
	}
	stored, err := s.WrappedKey(ctx, "shared")
	require.NoError(t, err)
	for i := range racers {
		assert.Equal(t, string(stored), string(results[i]), "racer %d got another key", i)
	}
	var isOne bool
	for i := range racers {
		isOne = isOne || string(stored) == fmt.Sprintf("key %d", i)
	}
	assert.True(t, isOne, "stored key %q is none of the racers'", stored)
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	claim := func(name, owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.ClaimLease(ctx, name, owner, ttl)
		require.NoError(t, err)
		return ok
	}

	assert.True(t, claim("export", "a", time.Minute), "a free lease")
	assert.False(t, claim("export", "b", time.Minute), "a lease held by another")
	assert.True(t, claim("export", "a", time.Minute), "renewal by the owner")
	assert.False(t, claim("export", "b", time.Minute), "a renewed lease held by another")
	assert.True(t, claim("retention", "b", time.Minute), "another lease is independent")

	// A short lease expires, and then another owner may take it.
	const short = 150 * time.Millisecond
	assert.True(t, claim("short", "a", short))
	time.Sleep(2 * short)
	assert.True(t, claim("short", "b", time.Minute), "an expired lease")
	assert.False(t, claim("short", "a", time.Minute), "the old owner after expiry")

	// Of several owners racing for a free lease, exactly one gets it.
	const racers = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var holders []int
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := s.ClaimLease(ctx, "race", fmt.Sprintf("owner-%d", i), time.Minute)
			assert.NoError(t, err, "racer %d", i)
			if ok {
				mu.Lock()
				holders = append(holders, i)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Len(t, holders, 1, "owners that got the raced lease")
}
