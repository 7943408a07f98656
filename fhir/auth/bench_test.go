package auth

import (
	"context"
	"crypto/elliptic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/stretchr/testify/require"
)

func benchmarkVerify(b *testing.B, key signingKey) {
	v, err := NewVerifier(Config{Audience: testAudience,
		Issuers: []Issuer{{URL: issuerA, KeySet: publicSet(b, key)}}})
	require.NoError(b, err)
	c := validClaims(issuerA, time.Now())
	c.scope = "launch/patient patient/Patient.rs patient/DocumentReference.rs"
	c.patient = "p-1"
	token := sign(b, key, c)
	ctx := context.Background()

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyES256 and BenchmarkVerifyRS256 verify one token with the
// keys already cached, the per-request cost of authentication.
func BenchmarkVerifyES256(b *testing.B) {
	benchmarkVerify(b, newECKey(b, "k", elliptic.P256(), jwa.ES256()))
}

func BenchmarkVerifyRS256(b *testing.B) {
	benchmarkVerify(b, newRSAKey(b, "k", jwa.RS256()))
}

// BenchmarkHMACSameBytes is the baseline for the two above: an HMAC-SHA256
// over a token of the same size.
func BenchmarkHMACSameBytes(b *testing.B) {
	key := newECKey(b, "k", elliptic.P256(), jwa.ES256())
	token := []byte(sign(b, key, validClaims(issuerA, time.Now())))
	mac := hmacSHA256([]byte("a baseline key of thirty-two byte"))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		mac(token)
	}
}
