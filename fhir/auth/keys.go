package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// verificationKey is one public key of an issuer, exported from its JWK
// once so that verifying a token does not convert it again.
type verificationKey struct {
	public any    // *rsa.PublicKey or *ecdsa.PublicKey
	alg    string // the JWK "alg" member, empty when the JWK has none
}

// minRSABits is the smallest RSA modulus accepted, the minimum that
// RFC 7518 section 3.3 sets for RS256.
const minRSABits = 2048

// keyTable is an immutable snapshot of an issuer's keys by key id.
type keyTable struct {
	byKeyID map[string]verificationKey
	fetched time.Time
}

// keySource holds one issuer's keys: a fixed set, or a JWKS URL fetched on
// first use, again when a token names an unknown kid, and again when the
// last fetch is older than maxAge. Fetches are at least minInterval apart.
type keySource struct {
	jwksURL     string // empty for a fixed set
	client      *http.Client
	minInterval time.Duration
	maxAge      time.Duration
	now         func() time.Time

	table atomic.Pointer[keyTable]

	mu          sync.Mutex // serializes fetches and guards lastAttempt
	lastAttempt time.Time
	fetches     atomic.Int64
}

func newStaticKeySource(set jwk.Set, now func() time.Time) (*keySource, error) {
	table, err := newKeyTable(set, now())
	if err != nil {
		return nil, err
	}
	ks := &keySource{now: now}
	ks.table.Store(table)
	return ks, nil
}

// lookup returns the key with the kid, fetching the JWKS when the kid is
// unknown or the keys are stale and the rate limit allows a fetch.
func (ks *keySource) lookup(ctx context.Context, kid string) (verificationKey, error) {
	table := ks.table.Load()
	key, found := table.find(kid)
	if found && (ks.jwksURL == "" || ks.fresh(table)) {
		return key, nil
	}
	if ks.jwksURL == "" {
		return verificationKey{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}

	ks.mu.Lock()
	defer ks.mu.Unlock()

	// Another request may have fetched while this one waited for the lock.
	if current := ks.table.Load(); current != table {
		if key, ok := current.find(kid); ok {
			return key, nil
		}
		table, key, found = current, verificationKey{}, false
	}

	now := ks.now()
	if !ks.lastAttempt.IsZero() && now.Sub(ks.lastAttempt) < ks.minInterval {
		if found {
			return key, nil // stale, but a fetch was tried moments ago
		}
		return verificationKey{}, fmt.Errorf("%w: kid %q, and the JWKS was "+
			"fetched less than %s ago", ErrUnknownKey, kid, ks.minInterval)
	}
	ks.lastAttempt = now

	fetched, err := ks.fetch(ctx)
	if err != nil {
		if found {
			return key, nil // keep using the stale key while the issuer is down
		}
		return verificationKey{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	ks.table.Store(fetched)

	if key, ok := fetched.find(kid); ok {
		return key, nil
	}
	return verificationKey{}, fmt.Errorf("%w: kid %q, not in the JWKS fetched "+
		"from %s", ErrUnknownKey, kid, ks.jwksURL)
}

func (ks *keySource) fresh(table *keyTable) bool {
	return ks.now().Sub(table.fetched) < ks.maxAge
}

func (ks *keySource) fetch(ctx context.Context) (*keyTable, error) {
	ks.fetches.Add(1)
	set, err := jwk.Fetch(ctx, ks.jwksURL, jwk.WithHTTPClient(ks.client))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", ks.jwksURL, err)
	}
	table, err := newKeyTable(set, ks.now())
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", ks.jwksURL, err)
	}
	return table, nil
}

func (t *keyTable) find(kid string) (verificationKey, bool) {
	if t == nil {
		return verificationKey{}, false
	}
	key, ok := t.byKeyID[kid]
	return key, ok
}

// newKeyTable keeps the RSA and EC signature keys of a set that have a
// kid. Symmetric keys are dropped on purpose: a shared secret published in
// a key set would let anyone sign. Private keys are reduced to their
// public part.
func newKeyTable(set jwk.Set, fetched time.Time) (*keyTable, error) {
	table := &keyTable{byKeyID: map[string]verificationKey{}, fetched: fetched}
	for i := range set.Len() {
		key, _ := set.Key(i)
		kid, ok := key.KeyID()
		if !ok || kid == "" {
			continue
		}
		if use, ok := key.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
			continue
		}
		if kty := key.KeyType(); kty != jwa.RSA() && kty != jwa.EC() {
			continue
		}

		// A key that cannot be exported is skipped like any other unusable
		// key, so one odd entry does not disable the issuer's other keys.
		public, err := jwk.PublicRawKeyOf(key)
		if err != nil {
			continue
		}
		if rsaKey, ok := public.(*rsa.PublicKey); ok && rsaKey.N.BitLen() < minRSABits {
			continue
		}
		vk := verificationKey{public: public}
		if alg, ok := key.Algorithm(); ok {
			vk.alg = alg.String()
		}
		table.byKeyID[kid] = vk
	}
	if len(table.byKeyID) == 0 {
		return nil, fmt.Errorf("no RSA or EC signature key with a kid in a set "+
			"of %d keys", set.Len())
	}
	return table, nil
}

// algorithms are the JWS algorithms a token may use. Symmetric (HS*) and
// "none" are absent, so a token signed with a public key as an HMAC secret
// is rejected before any key is looked up.
var algorithms = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(), "RS384": jwa.RS384(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(),
	"ES256": jwa.ES256(), "ES384": jwa.ES384(),
}

// compatible reports whether the header alg can be verified with the key:
// RS and PS with RSA keys, ES256 with P-256 and ES384 with P-384, and the
// JWK's own "alg" member, if any, must agree.
func (k verificationKey) compatible(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch public := k.public.(type) {
	case *rsa.PublicKey:
		return alg[:2] == "RS" || alg[:2] == "PS"
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return public.Curve == elliptic.P256()
		case "ES384":
			return public.Curve == elliptic.P384()
		}
	}
	return false
}
