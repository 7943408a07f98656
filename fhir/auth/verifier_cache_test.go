package auth

import (
	"testing"
	"time"
)

func TestTokenCacheHonoursExpiry(t *testing.T) {
	c := newTokenCache(2, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.put("a", Principal{Subject: "a", ExpiresAt: now.Add(10 * time.Second)}, now)
	if p, ok := c.get("a", now.Add(5*time.Second)); !ok || p.Subject != "a" {
		t.Fatal("fresh entry missed")
	}
	if _, ok := c.get("a", now.Add(11*time.Second)); ok {
		t.Fatal("entry served after the token expired")
	}
	c.put("b", Principal{Subject: "b", ExpiresAt: now.Add(time.Hour)}, now)
	if _, ok := c.get("b", now.Add(61*time.Second)); ok {
		t.Fatal("entry served after the cache TTL")
	}
	c.put("c", Principal{Subject: "c"}, now)
	c.put("d", Principal{Subject: "d"}, now)
	if len(c.entries) > 2 {
		t.Fatalf("cache holds %d entries, max 2", len(c.entries))
	}
	if _, ok := c.get("never", now); ok {
		t.Fatal("unknown token hit")
	}
}
