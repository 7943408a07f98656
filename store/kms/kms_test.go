package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

func TestLocalKeyringCreatedPrivate(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("keyring mode %v, want 0600", perm)
	}
	if !strings.HasPrefix(l.Name(), "local:") {
		t.Errorf("name %q", l.Name())
	}
}

func TestLocalWrapRoundTrip(t *testing.T) {
	dir := t.TempDir()
	first, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	wrapped, err := first.Wrap(context.Background(), "patient/p1", key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, key) {
		t.Fatal("wrapped key contains the data key")
	}

	// A second open reads the same keyring, as a restarted server does.
	second, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := second.Unwrap(context.Background(), "patient/p1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Fatal("unwrapped key differs")
	}
	if _, err := second.Unwrap(context.Background(), "patient/p2", wrapped); err == nil {
		t.Fatal("a key wrapped for p1 unwrapped as p2")
	}
	tampered := append([]byte(nil), wrapped...)
	tampered[len(tampered)-1] ^= 1
	if _, err := second.Unwrap(context.Background(), "patient/p1", tampered); err == nil {
		t.Fatal("a tampered wrapped key unwrapped")
	}
}

func TestLocalRejectsReadableKeyring(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenLocal(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, KeyringFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLocal(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable keyring: err %v, want a chmod hint", err)
	}
}

func TestLocalConcurrentCreateAgrees(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	managers := make([]*Local, 8)
	for i := range managers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l, err := OpenLocal(dir)
			if err != nil {
				t.Error(err)
				return
			}
			managers[i] = l
		}(i)
	}
	wg.Wait()
	wrapped, err := managers[0].Wrap(context.Background(), "k", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range managers {
		if _, err := m.Unwrap(context.Background(), "k", wrapped); err != nil {
			t.Fatalf("manager %d has another key-encryption key: %v", i, err)
		}
	}
}

// fakeTransitServer replaces HashiCorp Vault's Transit engine, which
// cannot run here: it serves encrypt and decrypt for one key with
// AES-256-GCM and the "vault:v1:" ciphertext prefix, and checks the token.
func fakeTransitServer(t *testing.T, token, key string) *httptest.Server {
	t.Helper()
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(kek)
	aead, _ := cipher.NewGCM(block)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != token {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		var req map[string]string
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"errors":["bad json"]}`, http.StatusBadRequest)
			return
		}
		var data map[string]string
		switch r.URL.Path {
		case "/v1/transit/encrypt/" + key:
			plain, err := base64.StdEncoding.DecodeString(req["plaintext"])
			if err != nil {
				http.Error(w, `{"errors":["bad base64"]}`, http.StatusBadRequest)
				return
			}
			nonce := make([]byte, aead.NonceSize())
			_, _ = rand.Read(nonce)
			ct := aead.Seal(nonce, nonce, plain, nil)
			data = map[string]string{"ciphertext": "vault:v1:" +
				base64.StdEncoding.EncodeToString(ct)}
		case "/v1/transit/decrypt/" + key:
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(req["ciphertext"],
				"vault:v1:"))
			if err != nil || len(raw) < aead.NonceSize() {
				http.Error(w, `{"errors":["invalid ciphertext"]}`, http.StatusBadRequest)
				return
			}
			plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
			if err != nil {
				http.Error(w, `{"errors":["cipher: message authentication failed"]}`,
					http.StatusBadRequest)
				return
			}
			data = map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plain)}
		default:
			http.Error(w, `{"errors":["no handler for route"]}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
}

func newVaultForTest(t *testing.T, srv *httptest.Server, token string) *Vault {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = srv.URL
	cfg.MaxRetries = 0
	client, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(token)
	return NewVault(client, "transit", "custos")
}

func TestVaultWrapRoundTrip(t *testing.T) {
	srv := fakeTransitServer(t, "s.token", "custos")
	defer srv.Close()
	v := newVaultForTest(t, srv, "s.token")
	key := bytes.Repeat([]byte{9}, 32)
	wrapped, err := v.Wrap(context.Background(), "patient/p1", key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(wrapped, []byte("vault:v1:")) {
		t.Fatalf("wrapped key %q is not a Transit ciphertext", wrapped)
	}
	got, err := v.Unwrap(context.Background(), "patient/p1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Fatal("unwrapped key differs")
	}
	if _, err := v.Unwrap(context.Background(), "patient/p2", wrapped); err == nil {
		t.Fatal("a key wrapped for p1 unwrapped as p2")
	}
	if !strings.Contains(v.Name(), "transit/keys/custos") || strings.Contains(v.Name(), "s.token") {
		t.Errorf("name %q: want the key path and no token", v.Name())
	}
}

func TestVaultBadTokenFails(t *testing.T) {
	srv := fakeTransitServer(t, "s.token", "custos")
	defer srv.Close()
	v := newVaultForTest(t, srv, "s.wrong")
	if _, err := v.Wrap(context.Background(), "k", []byte("key")); err == nil {
		t.Fatal("wrap with a wrong token succeeded")
	}
}

func TestOpenVaultNeedsKey(t *testing.T) {
	if _, err := OpenVault("transit", ""); err == nil {
		t.Fatal("OpenVault without a key name succeeded")
	}
}
