package seal_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/custos/custos/store/kms"
	"github.com/custos/custos/store/seal"
	"github.com/custos/custos/store/sqlite"
)

func newSealer(t testing.TB, dir string) *seal.Sealer {
	t.Helper()
	km, err := kms.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return seal.New(km, st)
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, t.TempDir())
	ctx := context.Background()
	plain := []byte(`{"resourceType":"Patient","id":"a"}`)
	sealed, err := s.Seal(ctx, seal.PatientKeyID("a"), "Patient", "a", 1, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("Patient")) {
		t.Fatal("sealed body contains plaintext")
	}
	got, err := s.Open(ctx, seal.PatientKeyID("a"), "Patient", "a", 1, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatal("opened body differs")
	}
}

func TestOpenRejectsMovedOrAltered(t *testing.T) {
	s := newSealer(t, t.TempDir())
	ctx := context.Background()
	key := seal.PatientKeyID("a")
	sealed, err := s.Seal(ctx, key, "Patient", "a", 1, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)/2] ^= 0x40
	cases := []struct {
		name           string
		keyID, typ, id string
		version        int64
		body           []byte
	}{
		{"other id", key, "Patient", "b", 1, sealed},
		{"other type", key, "Consent", "a", 1, sealed},
		{"other version", key, "Patient", "a", 2, sealed},
		{"other key", seal.PatientKeyID("b"), "Patient", "a", 1, sealed},
		{"flipped bit", key, "Patient", "a", 1, flipped},
		{"truncated", key, "Patient", "a", 1, sealed[:10]},
		{"empty", key, "Patient", "a", 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Open(ctx, tc.keyID, tc.typ, tc.id, tc.version, tc.body)
			if !errors.Is(err, seal.ErrOpen) {
				t.Fatalf("err %v, want ErrOpen", err)
			}
		})
	}
}

func TestDataKeysPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first := newSealer(t, dir)
	sealed, err := first.Seal(ctx, seal.SharedKeyID, "Patient", "a", 1, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	index1, err := first.RawKey(ctx, seal.IndexKeyID)
	if err != nil {
		t.Fatal(err)
	}

	second := newSealer(t, dir)
	if _, err := second.Open(ctx, seal.SharedKeyID, "Patient", "a", 1, sealed); err != nil {
		t.Fatalf("a restarted sealer cannot open: %v", err)
	}
	index2, err := second.RawKey(ctx, seal.IndexKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(index1, index2) {
		t.Fatal("index key changed across restart")
	}
}

func TestConcurrentFirstUseAgrees(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Two sealers on one store stand for two server processes.
	a, b := newSealer(t, dir), newSealer(t, dir)
	var wg sync.WaitGroup
	sealed := make([][]byte, 16)
	for i := range sealed {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			var err error
			sealed[i], err = s.Seal(ctx, seal.PatientKeyID("new"), "Patient", "new", 1, []byte("x"))
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	for i, body := range sealed {
		for _, s := range []*seal.Sealer{a, b} {
			if _, err := s.Open(ctx, seal.PatientKeyID("new"), "Patient", "new", 1, body); err != nil {
				t.Fatalf("body %d sealed under another data key: %v", i, err)
			}
		}
	}
}

func BenchmarkSeal3KB(b *testing.B) {
	s := newSealer(b, b.TempDir())
	ctx := context.Background()
	plain := bytes.Repeat([]byte("x"), 3000)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := s.Seal(ctx, seal.SharedKeyID, "Patient", "a", 1, plain); err != nil {
			b.Fatal(err)
		}
	}
}
