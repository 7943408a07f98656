package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos/custos/store"
)

const (
	// BatchSize is the number of writes in one Put of BenchmarkPut, the
	// size of an import batch.
	BatchSize = 100
	// TokensPerWrite is the number of blind-index tokens of each write, about
	// what a Synthea Patient posts.
	TokensPerWrite = 60
	// benchBodySize is the size of a sealed body, about that of a sealed
	// Synthea Patient.
	benchBodySize = 3000
	// sharedTokens is the number of tokens that each 1/sharedTokens of the
	// seeded resources have in common.
	sharedTokens = 10
)

// benchWrite returns version 1 of Patient/id with TokensPerWrite tokens:
// one that only this resource has (a unique identifier), one of
// sharedTokens common tokens, and random ones.
func benchWrite(n int, id string) store.Write {
	w := store.Write{Version: store.Version{
		Type: "Patient", ID: id, VersionID: 1,
		LastUpdated: time.Now(), KeyID: "bench-key",
		Body: make([]byte, benchBodySize), Hash: make([]byte, 32),
	}}
	rand.Read(w.Version.Body)
	rand.Read(w.Version.Hash)
	w.Tokens = append(w.Tokens, uniqueToken(id), sharedToken(n%sharedTokens))
	for len(w.Tokens) < TokensPerWrite {
		tok := make([]byte, 16)
		rand.Read(tok)
		w.Tokens = append(w.Tokens, tok)
	}
	return w
}

func uniqueToken(id string) []byte { return []byte("identifier|" + id) }
func sharedToken(n int) []byte     { return fmt.Appendf(nil, "gender|%d", n) }
func benchID(n int) string         { return fmt.Sprintf("bench-%08d", n) }

// Seed stores n resources as BenchmarkCurrent and the Match benchmarks expect
// them, in Puts of BatchSize writes.
func Seed(tb testing.TB, s store.Store, n int) {
	tb.Helper()
	var batch []store.Write
	for i := range n {
		batch = append(batch, benchWrite(i, benchID(i)))
		if len(batch) == BatchSize || i == n-1 {
			if err := s.Put(context.Background(), batch...); err != nil {
				tb.Fatalf("seed %d resources: %v", n, err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkPut measures a Put of BatchSize new resources with
// TokensPerWrite tokens each, and reports writes per second.
func BenchmarkPut(b *testing.B, s store.Store) {
	var next int
	batch := make([]store.Write, BatchSize)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			batch[i] = benchWrite(next, fmt.Sprintf("put-%08d", next))
			next++
		}
		b.StartTimer()
		if err := s.Put(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkCurrent measures Current by id from 16 goroutines on a store
// that Seed filled with n resources.
func BenchmarkCurrent(b *testing.B, s store.Store, n int) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((16 + procs - 1) / procs)
	var counter atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(counter.Add(7919)) % n // a prime stride spreads the ids
			v, err := s.Current(context.Background(), "Patient", benchID(i))
			if err != nil {
				b.Error(err)
				return
			}
			if len(v.Body) != benchBodySize {
				b.Errorf("body of %s has %d bytes", v.ID, len(v.Body))
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkMatchUnique measures a Match of one token that one resource of
// the n that Seed stored has, as in a search by identifier.
func BenchmarkMatchUnique(b *testing.B, s store.Store, n int) {
	var i int
	for b.Loop() {
		id := benchID(i % n)
		i += 7919
		q := store.MatchQuery{Type: "Patient", Clauses: []store.Clause{{uniqueToken(id)}}}
		ids, err := s.Match(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		if len(ids) != 1 || ids[0] != id {
			b.Fatalf("match of %s returned %v", id, ids)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "matches/s")
}

// BenchmarkMatchPage measures a Match of one token that a tenth of the n
// resources that Seed stored have, one page of 20 ids at a time, as in a
// search by gender.
func BenchmarkMatchPage(b *testing.B, s store.Store, n int) {
	const page = 20
	var i int
	for b.Loop() {
		q := store.MatchQuery{Type: "Patient", Limit: page,
			Clauses: []store.Clause{{sharedToken(i % sharedTokens)}}}
		i++
		ids, err := s.Match(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		if want := min(page, n/sharedTokens); len(ids) != want {
			b.Fatalf("match returned %d ids, want %d", len(ids), want)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "matches/s")
}
