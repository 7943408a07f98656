package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// A verified token is remembered for at most tokenCacheTTL, so that a
// client sending the same token on every request pays for the signature
// check once. A key removed from its issuer's JWKS therefore stops
// working within this time for tokens already seen.
const (
	tokenCacheTTL  = time.Minute
	tokenCacheSize = 10000
)

// tokenCache maps the SHA-256 of a token to the Principal it verified as.
type tokenCache struct {
	mu      sync.RWMutex
	ttl     time.Duration
	max     int
	entries map[[32]byte]cachedToken
}

type cachedToken struct {
	principal Principal
	until     time.Time
}

func newTokenCache(max int, ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, entries: make(map[[32]byte]cachedToken)}
}

// get returns the Principal of a token verified before, unless the entry
// or the token has expired.
func (c *tokenCache) get(token string, now time.Time) (Principal, bool) {
	key := sha256.Sum256([]byte(token))
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || now.After(e.until) {
		return Principal{}, false
	}
	return e.principal, true
}

// put remembers a verified token until the earlier of its expiry and the
// cache TTL. When the cache is full an arbitrary entry is dropped.
func (c *tokenCache) put(token string, p Principal, now time.Time) {
	until := now.Add(c.ttl)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cachedToken{principal: p, until: until}
}
