package auth

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDevIssuerCreatesPrivateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dev, err := LoadOrCreateDevIssuer(dir)
	require.NoError(t, err)

	info, err := os.Stat(filepath.Join(dir, "dev-issuer.jwk"))
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	}
	assert.Equal(t, filepath.Join(dir, "dev-issuer.jwk"), dev.KeyPath())
	assert.Equal(t, 1, dev.JWKS().Len())

	public, _ := dev.JWKS().Key(0)
	assert.False(t, hasPrivateD(t, public), "the published set holds no private part")
	leftovers, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers)
}

func hasPrivateD(t *testing.T, key interface{ Has(string) bool }) bool {
	t.Helper()
	return key.Has("d")
}

func TestDevIssuerReloadsSameKey(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateDevIssuer(dir)
	require.NoError(t, err)
	token, err := first.Mint(MintOptions{Scope: "user/*.rs", Audience: testAudience})
	require.NoError(t, err)

	second, err := LoadOrCreateDevIssuer(dir)
	require.NoError(t, err)
	v, err := NewVerifier(Config{Audience: testAudience, Issuers: []Issuer{second.Issuer()}})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), token)
	require.NoError(t, err, "a token minted before a restart still verifies")
}

func TestDevIssuerConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	issuers := make([]*DevIssuer, 8)
	var wg sync.WaitGroup
	for i := range issuers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev, err := LoadOrCreateDevIssuer(dir)
			assert.NoError(t, err)
			issuers[i] = dev
		}()
	}
	wg.Wait()
	want, _ := issuers[0].JWKS().Key(0)
	wantKid, _ := want.KeyID()
	for _, dev := range issuers[1:] {
		got, _ := dev.JWKS().Key(0)
		kid, _ := got.KeyID()
		assert.Equal(t, wantKid, kid, "every process ends up with one key")
	}
}

func TestDevIssuerRejectsReadableKeyFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX mode bits")
	}
	dir := t.TempDir()
	_, err := LoadOrCreateDevIssuer(dir)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(filepath.Join(dir, DevIssuerKeyFile), 0o644))

	_, err = LoadOrCreateDevIssuer(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chmod 600")
}

func TestDevIssuerRejectsCorruptKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DevIssuerKeyFile)
	require.NoError(t, os.WriteFile(path, []byte(`{"kty":"oct","k":"c2VjcmV0"}`), 0o600))
	_, err := LoadOrCreateDevIssuer(dir)
	require.Error(t, err)
}

func TestDevIssuerMintRoundTrip(t *testing.T) {
	dev, err := LoadOrCreateDevIssuer(t.TempDir())
	require.NoError(t, err)
	v, err := NewVerifier(Config{Audience: testAudience, Issuers: []Issuer{dev.Issuer()}})
	require.NoError(t, err)

	token, err := dev.Mint(MintOptions{
		Scope:    "launch/patient  patient/Patient.rs patient/DocumentReference.rs",
		Patient:  "p-1",
		FHIRUser: "Practitioner/9",
		Purposes: []string{"TREAT"},
		Audience: testAudience,
		TTL:      5 * time.Minute,
	})
	require.NoError(t, err)

	p, err := v.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Equal(t, DevIssuerURL, p.Issuer)
	assert.Equal(t, "Practitioner/9", p.Subject)
	assert.Equal(t, "Practitioner/9", p.FHIRUser)
	assert.Equal(t, "p-1", p.Patient)
	assert.Equal(t, DefaultDevClientID, p.ClientID)
	assert.Equal(t, []string{"TREAT"}, p.Purposes)
	assert.Equal(t, []string{"launch/patient"}, p.OtherScopes)
	assert.Len(t, p.TokenID, 32)
	assert.Equal(t, 5*time.Minute, p.ExpiresAt.Sub(p.IssuedAt))
	assert.True(t, p.Allows(Read, "DocumentReference"))
	assert.False(t, p.Allows(Create, "DocumentReference"))
	id, ok := p.PatientScoped("DocumentReference")
	assert.True(t, ok)
	assert.Equal(t, "p-1", id)
}

func TestDevIssuerMintRejected(t *testing.T) {
	dev, err := LoadOrCreateDevIssuer(t.TempDir())
	require.NoError(t, err)
	v, err := NewVerifier(Config{Audience: testAudience, Issuers: []Issuer{dev.Issuer()}})
	require.NoError(t, err)

	otherBase, err := dev.Mint(MintOptions{Scope: "user/*.rs",
		Audience: "http://127.0.0.1:9/fhir"})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), otherBase)
	require.ErrorIs(t, err, ErrWrongAudience)

	old, err := dev.Mint(MintOptions{Scope: "user/*.rs", Audience: testAudience,
		IssuedAt: time.Now().Add(-2 * time.Hour), TTL: time.Hour})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), old)
	require.ErrorIs(t, err, ErrExpired)

	other, err := LoadOrCreateDevIssuer(t.TempDir())
	require.NoError(t, err)
	foreign, err := other.Mint(MintOptions{Scope: "user/*.rs", Audience: testAudience})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), foreign)
	require.ErrorIs(t, err, ErrUnknownKey, "another data directory's key is not trusted")

	_, err = dev.Mint(MintOptions{Scope: "user/*.rs"})
	require.Error(t, err, "audience is required")
	_, err = dev.Mint(MintOptions{Scope: "user/*.rs", Audience: testAudience, TTL: -1})
	require.Error(t, err)
}
