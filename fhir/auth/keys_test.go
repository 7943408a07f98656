package auth

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rotationVerifier(t *testing.T, jwks *jwksServer, clock *testClock) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{
		Audience:           testAudience,
		Issuers:            []Issuer{{URL: issuerA, JWKSURL: jwks.URL}},
		Now:                clock.Now,
		MinRefreshInterval: 30 * time.Second,
		MaxKeyAge:          time.Hour,
	})
	require.NoError(t, err)
	return v
}

func TestJWKSRotation(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	k1 := newECKey(t, "k1", elliptic.P256(), jwa.ES256())
	k2 := newECKey(t, "k2", elliptic.P256(), jwa.ES256())
	k3 := newECKey(t, "k3", elliptic.P256(), jwa.ES256())
	jwks := newJWKSServer(t, publicSet(t, k1))
	v := rotationVerifier(t, jwks, clock)
	tokenOf := func(k signingKey) string { return sign(t, k, validClaims(issuerA, clock.Now())) }

	_, err := v.Verify(ctx, tokenOf(k1))
	require.NoError(t, err)
	assert.Equal(t, int64(1), jwks.hits.Load(), "first token fetches the JWKS")

	jwks.replace(publicSet(t, k2))
	_, err = v.Verify(ctx, tokenOf(k2))
	require.ErrorIs(t, err, ErrUnknownKey, "refresh within the minimum interval")
	assert.Equal(t, int64(1), jwks.hits.Load())

	clock.advance(31 * time.Second)
	_, err = v.Verify(ctx, tokenOf(k2))
	require.NoError(t, err, "unknown kid refreshes once the interval passed")
	assert.Equal(t, int64(2), jwks.hits.Load())

	_, err = v.Verify(ctx, tokenOf(k1))
	require.ErrorIs(t, err, ErrUnknownKey, "a key removed from the JWKS is gone")

	clock.advance(31 * time.Second)
	_, err = v.Verify(ctx, tokenOf(k3))
	require.ErrorIs(t, err, ErrUnknownKey, "kid still unknown after a refresh")
	assert.Equal(t, int64(3), jwks.hits.Load())

	for i := range 20 {
		stranger := newECKey(t, fmt.Sprintf("made-up-%d", i), elliptic.P256(), jwa.ES256())
		_, err = v.Verify(ctx, tokenOf(stranger))
		require.ErrorIs(t, err, ErrUnknownKey)
	}
	assert.Equal(t, int64(3), jwks.hits.Load(), "made-up kids cause no fetch")

	_, err = v.Verify(ctx, tokenOf(k2))
	require.NoError(t, err, "known keys keep working while refreshes are limited")
}

func TestJWKSStaleKeys(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	k1 := newECKey(t, "k1", elliptic.P256(), jwa.ES256())
	jwks := newJWKSServer(t, publicSet(t, k1))
	v := rotationVerifier(t, jwks, clock)
	tokenOf := func() string { return sign(t, k1, validClaims(issuerA, clock.Now())) }

	_, err := v.Verify(ctx, tokenOf())
	require.NoError(t, err)

	clock.advance(2 * time.Hour)
	_, err = v.Verify(ctx, tokenOf())
	require.NoError(t, err)
	assert.Equal(t, int64(2), jwks.hits.Load(), "keys older than MaxKeyAge are refetched")

	jwks.fail.Store(true)
	clock.advance(2 * time.Hour)
	_, err = v.Verify(ctx, tokenOf())
	require.NoError(t, err, "stale keys stay in use while the issuer is down")
	assert.Equal(t, int64(3), jwks.hits.Load())

	jwks.fail.Store(false)
	jwks.replace(publicSet(t, newECKey(t, "k9", elliptic.P256(), jwa.ES256())))
	clock.advance(2 * time.Hour)
	_, err = v.Verify(ctx, tokenOf())
	require.ErrorIs(t, err, ErrUnknownKey, "a revoked key stops working at the refetch")
}

func TestJWKSFirstFetchFails(t *testing.T) {
	clock := newTestClock()
	k1 := newECKey(t, "k1", elliptic.P256(), jwa.ES256())
	jwks := newJWKSServer(t, publicSet(t, k1))
	jwks.fail.Store(true)
	v := rotationVerifier(t, jwks, clock)

	_, err := v.Verify(context.Background(), sign(t, k1, validClaims(issuerA, clock.Now())))
	require.ErrorIs(t, err, ErrKeysUnavailable)
}

func TestJWKSConcurrentUnknownKid(t *testing.T) {
	clock := newTestClock()
	k1 := newECKey(t, "k1", elliptic.P256(), jwa.ES256())
	jwks := newJWKSServer(t, publicSet(t, k1))
	v := rotationVerifier(t, jwks, clock)
	stranger := sign(t, newECKey(t, "nobody", elliptic.P256(), jwa.ES256()),
		validClaims(issuerA, clock.Now()))
	good := sign(t, k1, validClaims(issuerA, clock.Now()))

	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := stranger
			if i%2 == 0 {
				token = good
			}
			_, errs[i] = v.Verify(context.Background(), token)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, ErrUnknownKey)
		}
	}
	assert.Equal(t, int64(1), jwks.hits.Load())
}

func TestStaticJWKSFile(t *testing.T) {
	k1 := newRSAKey(t, "file-key", jwa.RS256())
	path := filepath.Join(t.TempDir(), "issuer.jwks")
	data, err := json.Marshal(publicSet(t, k1))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o600))

	v, err := NewVerifier(Config{Audience: testAudience,
		Issuers: []Issuer{{URL: issuerA, JWKSFile: path}}})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), sign(t, k1, validClaims(issuerA, time.Now())))
	require.NoError(t, err)
}

func TestKeyTableSkipsUnusableKeys(t *testing.T) {
	secret, err := jwk.Import([]byte("a shared secret of thirty-two bytes"))
	require.NoError(t, err)
	require.NoError(t, secret.Set(jwk.KeyIDKey, "oct"))
	encryption := newRSAKey(t, "enc", jwa.RS256()).publicJWK(t)
	require.NoError(t, encryption.Set(jwk.KeyUsageKey, "enc"))
	noKid := newRSAKey(t, "", jwa.RS256()).publicJWK(t)
	require.NoError(t, noKid.Remove(jwk.KeyIDKey))
	private := newECKey(t, "private", elliptic.P256(), jwa.ES256())

	set := jwk.NewSet()
	for _, k := range []jwk.Key{secret, encryption, noKid, private.private} {
		require.NoError(t, set.AddKey(k))
	}
	table, err := newKeyTable(set, time.Now())
	require.NoError(t, err)
	assert.Len(t, table.byKeyID, 1)
	_, ok := table.find("private")
	assert.True(t, ok, "a private key is reduced to its public part")

	onlySecret := jwk.NewSet()
	require.NoError(t, onlySecret.AddKey(secret))
	_, err = newKeyTable(onlySecret, time.Now())
	require.Error(t, err)
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	set := publicSet(t, newRSAKey(t, "k", jwa.RS256()))
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no audience", Config{Issuers: []Issuer{{URL: issuerA, KeySet: set}}}},
		{"no issuers", Config{Audience: testAudience}},
		{"issuer without URL", Config{Audience: testAudience,
			Issuers: []Issuer{{KeySet: set}}}},
		{"issuer without keys", Config{Audience: testAudience,
			Issuers: []Issuer{{URL: issuerA}}}},
		{"issuer with two key sources", Config{Audience: testAudience,
			Issuers: []Issuer{{URL: issuerA, KeySet: set, JWKSURL: "http://127.0.0.1:1"}}}},
		{"duplicate issuer", Config{Audience: testAudience,
			Issuers: []Issuer{{URL: issuerA, KeySet: set}, {URL: issuerA, KeySet: set}}}},
		{"missing JWKS file", Config{Audience: testAudience,
			Issuers: []Issuer{{URL: issuerA, JWKSFile: "/nonexistent/jwks.json"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.cfg)
			require.Error(t, err)
		})
	}
}

func TestCustomClaimNames(t *testing.T) {
	k := newRSAKey(t, "k", jwa.RS256())
	v, err := NewVerifier(Config{Audience: testAudience, Issuers: []Issuer{{
		URL: issuerA, KeySet: publicSet(t, k),
		Claims: ClaimNames{Scope: "scp", PurposeOfUse: "pou", Patient: "ctx_patient",
			FHIRUser: "profile", ClientID: "cid"},
	}}})
	require.NoError(t, err)

	c := validClaims(issuerA, time.Now())
	c.scope = ""
	c.extra = map[string]any{
		"scp":         []string{"patient/Patient.rs", "openid"},
		"pou":         "HPAYMT",
		"ctx_patient": "p9",
		"profile":     "Practitioner/3",
		"cid":         "app-1",
		"scope":       "user/*.cruds", // ignored: not the configured name
	}
	p, err := v.Verify(context.Background(), sign(t, k, c))
	require.NoError(t, err)
	assert.Equal(t, "p9", p.Patient)
	assert.Equal(t, "Practitioner/3", p.FHIRUser)
	assert.Equal(t, "app-1", p.ClientID)
	assert.Equal(t, []string{"HPAYMT"}, p.Purposes)
	assert.Equal(t, []string{"openid"}, p.OtherScopes)
	require.Len(t, p.Scopes, 1)
	assert.Equal(t, "patient/Patient.rs", p.Scopes[0].Raw)
	assert.False(t, p.Allows(Delete, "Patient"))
}

func TestClientIDFallsBackToAzp(t *testing.T) {
	k := newRSAKey(t, "k", jwa.RS256())
	v, err := NewVerifier(Config{Audience: testAudience,
		Issuers: []Issuer{{URL: issuerA, KeySet: publicSet(t, k)}}})
	require.NoError(t, err)
	c := validClaims(issuerA, time.Now())
	c.extra = map[string]any{"azp": "web-app"}
	p, err := v.Verify(context.Background(), sign(t, k, c))
	require.NoError(t, err)
	assert.Equal(t, "web-app", p.ClientID)
	assert.Equal(t, "jti-1", p.TokenID)
}
