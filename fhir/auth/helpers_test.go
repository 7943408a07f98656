package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/stretchr/testify/require"
)

const testAudience = "http://127.0.0.1:8080/fhir"

// signingKey is a private key with its kid and algorithm.
type signingKey struct {
	private jwk.Key
	alg     jwa.SignatureAlgorithm
}

func newRSAKey(t testing.TB, kid string, alg jwa.SignatureAlgorithm) signingKey {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return importKey(t, raw, kid, alg)
}

func newECKey(t testing.TB, kid string, curve elliptic.Curve,
	alg jwa.SignatureAlgorithm) signingKey {
	t.Helper()
	raw, err := ecdsa.GenerateKey(curve, rand.Reader)
	require.NoError(t, err)
	return importKey(t, raw, kid, alg)
}

func importKey(t testing.TB, raw any, kid string, alg jwa.SignatureAlgorithm) signingKey {
	t.Helper()
	key, err := jwk.Import(raw)
	require.NoError(t, err)
	require.NoError(t, key.Set(jwk.KeyIDKey, kid))
	return signingKey{private: key, alg: alg}
}

func (k signingKey) publicJWK(t testing.TB) jwk.Key {
	t.Helper()
	public, err := jwk.PublicKeyOf(k.private)
	require.NoError(t, err)
	return public
}

func publicSet(t testing.TB, keys ...signingKey) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		require.NoError(t, set.AddKey(k.publicJWK(t)))
	}
	return set
}

// claims are the claims of a test token; zero times are left out.
type claims struct {
	iss, sub, aud, scope, patient, fhirUser string
	purposes                                []string
	iat, nbf, exp                           time.Time
	extra                                   map[string]any
}

func validClaims(iss string, now time.Time) claims {
	return claims{
		iss: iss, sub: "Practitioner/7", aud: testAudience,
		scope: "user/Patient.rs", iat: now, exp: now.Add(10 * time.Minute),
	}
}

func (c claims) build(t testing.TB) jwt.Token {
	t.Helper()
	b := jwt.NewBuilder().Issuer(c.iss).Subject(c.sub).JwtID("jti-1")
	if c.aud != "" {
		b = b.Audience([]string{c.aud})
	}
	if c.scope != "" {
		b = b.Claim("scope", c.scope)
	}
	if c.patient != "" {
		b = b.Claim("patient", c.patient)
	}
	if c.fhirUser != "" {
		b = b.Claim("fhirUser", c.fhirUser)
	}
	if c.purposes != nil {
		b = b.Claim("purpose_of_use", c.purposes)
	}
	if !c.iat.IsZero() {
		b = b.IssuedAt(c.iat)
	}
	if !c.nbf.IsZero() {
		b = b.NotBefore(c.nbf)
	}
	if !c.exp.IsZero() {
		b = b.Expiration(c.exp)
	}
	for name, value := range c.extra {
		b = b.Claim(name, value)
	}
	tok, err := b.Build()
	require.NoError(t, err)
	return tok
}

func (c claims) json(t testing.TB) []byte {
	t.Helper()
	data, err := json.Marshal(c.build(t))
	require.NoError(t, err)
	return data
}

func sign(t testing.TB, key signingKey, c claims) string {
	t.Helper()
	signed, err := jwt.Sign(c.build(t), jwt.WithKey(key.alg, key.private))
	require.NoError(t, err)
	return string(signed)
}

// handMade builds a compact JWS without jwx, for headers jwx refuses to
// produce: alg none, and HS256 keyed with a public key.
func handMade(t testing.TB, header map[string]any, payload []byte,
	mac func(signingInput []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	input := b64(h) + "." + b64(payload)
	var sig []byte
	if mac != nil {
		sig = mac([]byte(input))
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func hmacSHA256(secret []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil)
	}
}

// jwksServer serves a key set that a test can replace, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	set  jwk.Set
	hits atomic.Int64
	fail atomic.Bool
}

func newJWKSServer(t testing.TB, set jwk.Set) *jwksServer {
	t.Helper()
	s := &jwksServer{set: set}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter,
		r *http.Request) {
		s.hits.Add(1)
		if s.fail.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		data, err := json.Marshal(s.set)
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) replace(set jwk.Set) {
	s.mu.Lock()
	s.set = set
	s.mu.Unlock()
}

// testClock is a clock a test moves forward by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
