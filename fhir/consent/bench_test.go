package consent

import (
	"context"
	"testing"
)

// benchmarkSetup returns the signature example for one Synthea patient
// and a request that its nested permit decides, the deepest path the
// examples have.
func benchmarkSetup(b *testing.B) ([]map[string]any, Request) {
	patientID := syntheaPatientIDs(b)[10]
	consents := []map[string]any{
		loadExample(b, "consent-example-signature", patientID),
		loadExample(b, "consent-example-pkb", patientID),
		loadExample(b, "consent-example-Out", patientID),
	}
	req := Request{
		PatientID: patientID,
		Actors: []Actor{actor("Practitioner/13", "PRCP"),
			actor("Practitioner/xcda-author", "AUT")},
		Purposes: []Coding{Purpose("TREAT")},
		Action:   ActionAccess,
		Time:     mustTime(b, "2016-06-01T00:00:00Z"),
		Resource: Resource{Type: "DocumentReference", ID: "doc-1",
			Classes: []Coding{{System: "urn:ietf:bcp:13", Code: "application/hl7-cda+xml"}},
			Codes:   []Coding{loinc("34133-9")}},
	}
	return consents, req
}

// BenchmarkDecideCold parses three Consents and decides on every call.
func BenchmarkDecideCold(b *testing.B) {
	consents, req := benchmarkSetup(b)
	if d := Decide(consents, req, Policy{}); !d.Permit {
		b.Fatalf("setup decision denied: %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(consents, req, Policy{})
	}
}

// BenchmarkDecideCached decides the same request from the Cache.
func BenchmarkDecideCached(b *testing.B) {
	consents, req := benchmarkSetup(b)
	cache, err := NewCache(CacheConfig{
		Load: func(context.Context, string) ([]map[string]any, string, error) {
			return consents, "1", nil
		},
		TTL: 1 << 62,
	})
	if err != nil {
		b.Fatalf("NewCache: %v", err)
	}
	ctx := context.Background()
	if d, err := cache.Decide(ctx, req, Policy{}); err != nil || !d.Permit {
		b.Fatalf("setup decision: %+v, %v", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cache.Decide(ctx, req, Policy{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideCachedParallel is BenchmarkDecideCached on all cores.
func BenchmarkDecideCachedParallel(b *testing.B) {
	consents, req := benchmarkSetup(b)
	cache, err := NewCache(CacheConfig{
		Load: func(context.Context, string) ([]map[string]any, string, error) {
			return consents, "1", nil
		},
		TTL: 1 << 62,
	})
	if err != nil {
		b.Fatalf("NewCache: %v", err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cache.Decide(ctx, req, Policy{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecideParsed decides over Consents parsed once, without the
// Cache's memory of decisions: the cost of a cache miss on decisions.
func BenchmarkDecideParsed(b *testing.B) {
	consents, req := benchmarkSetup(b)
	set := compileSet(consents, nil)
	b.ReportAllocs()
	for b.Loop() {
		set.decide(req, Policy{}, nil)
	}
}
