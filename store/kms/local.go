package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyringFile is the name of the local keyring in the data directory.
const KeyringFile = "keyring.json"

// Local is a KeyManager whose key-encryption key lives in a file in the
// data directory, readable by its owner only. It suits a laptop, a CI job
// or a single site. Back the key file up apart from the store, because
// losing it loses every record.
type Local struct {
	path string
	aead cipher.AEAD
}

type keyringJSON struct {
	Version int    `json:"version"`
	KEK     string `json:"kek"`
}

// OpenLocal opens the keyring in dir, creating it with a new random
// key-encryption key and mode 0600 when it does not exist. It refuses a
// keyring that others can read.
func OpenLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, KeyringFile)
	kek, err := readKeyring(path)
	if errors.Is(err, fs.ErrNotExist) {
		kek, err = createKeyring(path)
	}
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Local{path: path, aead: aead}, nil
}

func readKeyring(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring %s has mode %v: others can read it; "+
			"run chmod 600 on it", path, info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k keyringJSON
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("keyring %s is not valid JSON: %w", path, err)
	}
	kek, err := base64.StdEncoding.DecodeString(k.KEK)
	if err != nil || len(kek) != 32 {
		return nil, fmt.Errorf("keyring %s: the key-encryption key is not "+
			"32 bytes of base64", path)
	}
	return kek, nil
}

func createKeyring(path string) ([]byte, error) {
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(keyringJSON{Version: 1,
		KEK: base64.StdEncoding.EncodeToString(kek)})
	if err != nil {
		return nil, err
	}

	// O_EXCL makes a second process that races to create the keyring fail
	// here, and then read the winner's file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyring(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create keyring %s: %w", path, err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return nil, fmt.Errorf("write keyring %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return kek, f.Close()
}

// Wrap seals dataKey under the key-encryption key, bound to keyID.
func (l *Local) Wrap(_ context.Context, keyID string, dataKey []byte) ([]byte, error) {
	nonce := make([]byte, l.aead.NonceSize(), l.aead.NonceSize()+len(dataKey)+l.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return l.aead.Seal(nonce, nonce, dataKey, []byte(keyID)), nil
}

// Unwrap opens a key that Wrap sealed for the same keyID.
func (l *Local) Unwrap(_ context.Context, keyID string, wrapped []byte) ([]byte, error) {
	n := l.aead.NonceSize()
	if len(wrapped) < n+l.aead.Overhead() {
		return nil, fmt.Errorf("unwrap data key %s: wrapped key too short", keyID)
	}
	key, err := l.aead.Open(nil, wrapped[:n], wrapped[n:], []byte(keyID))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key %s: %w", keyID, err)
	}
	return key, nil
}

// Name returns "local" and the keyring path.
func (l *Local) Name() string { return "local:" + l.path }
