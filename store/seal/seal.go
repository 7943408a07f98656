// Package seal encrypts resource versions with AES-256-GCM under data keys
// (envelope encryption). Data keys are created on first use, wrapped by the
// key manager's key-encryption key, kept wrapped in the store and cached
// unwrapped in memory only.
package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/custos/custos/store"
	"github.com/custos/custos/store/kms"
)

// Key ids that do not belong to a patient compartment.
const (
	// SharedKeyID seals resources that are in no patient compartment.
	SharedKeyID = "shared"
	// AuditKeyID seals AuditEvents: the trail outlives the data it
	// describes, so it is not erased with a patient's key.
	AuditKeyID = "audit"
	// IndexKeyID is the HMAC key of the blind indexes.
	IndexKeyID = "index"
)

// PatientKeyID returns the id of the data key of a patient's compartment.
func PatientKeyID(patientID string) string { return "patient/" + patientID }

// formatV1 is the first byte of every sealed body: the layout is
// formatV1 ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
const formatV1 = 1

// ErrOpen means a sealed body failed authentication: it was altered, or it
// belongs to another resource, version or key.
var ErrOpen = errors.New("seal: sealed body failed authentication")

// Sealer seals and opens resource versions. It is safe for concurrent use.
type Sealer struct {
	kms   kms.KeyManager
	store store.Store

	mu   sync.RWMutex
	keys map[string]cipher.AEAD
	raw  map[string][]byte
}

// New returns a Sealer that keeps wrapped data keys in st.
func New(km kms.KeyManager, st store.Store) *Sealer {
	return &Sealer{kms: km, store: st,
		keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
}

// Seal encrypts plaintext as version versionID of typ/id under keyID.
func (s *Sealer) Seal(ctx context.Context, keyID, typ, id string, versionID int64,
	plaintext []byte) ([]byte, error) {
	aead, err := s.aead(ctx, keyID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	aad := additionalData(keyID, typ, id, versionID)
	return aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a body that Seal produced for the same key, type, id and
// version. Any other combination fails with ErrOpen.
func (s *Sealer) Open(ctx context.Context, keyID, typ, id string, versionID int64,
	sealed []byte) ([]byte, error) {
	aead, err := s.aead(ctx, keyID)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != formatV1 {
		return nil, fmt.Errorf("%w: %s/%s version %d", ErrOpen, typ, id, versionID)
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:],
		additionalData(keyID, typ, id, versionID))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s version %d", ErrOpen, typ, id, versionID)
	}
	return plain, nil
}

// RawKey returns the unwrapped data key under keyID, creating it on first
// use. It serves keys used for HMAC, such as IndexKeyID.
func (s *Sealer) RawKey(ctx context.Context, keyID string) ([]byte, error) {
	if _, err := s.aead(ctx, keyID); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.raw[keyID], nil
}

// aead returns the cipher of keyID, loading or creating the data key.
func (s *Sealer) aead(ctx context.Context, keyID string) (cipher.AEAD, error) {
	s.mu.RLock()
	aead, ok := s.keys[keyID]
	s.mu.RUnlock()
	if ok {
		return aead, nil
	}

	key, err := s.loadOrCreate(ctx, keyID)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err = cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[keyID] = aead
	s.raw[keyID] = key
	return aead, nil
}

func (s *Sealer) loadOrCreate(ctx context.Context, keyID string) ([]byte, error) {
	wrapped, err := s.store.WrappedKey(ctx, keyID)
	if err == nil {
		return s.kms.Unwrap(ctx, keyID, wrapped)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load data key %s: %w", keyID, err)
	}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	mine, err := s.kms.Wrap(ctx, keyID, key)
	if err != nil {
		return nil, err
	}
	stored, err := s.store.PutWrappedKey(ctx, keyID, mine)
	if err != nil {
		return nil, fmt.Errorf("store data key %s: %w", keyID, err)
	}
	if string(stored) == string(mine) {
		return key, nil
	}
	// Another writer created the key first; use theirs.
	return s.kms.Unwrap(ctx, keyID, stored)
}

// additionalData binds a ciphertext to its key, type, id and version.
func additionalData(keyID, typ, id string, versionID int64) []byte {
	aad := make([]byte, 0, 16+len(keyID)+len(typ)+len(id)+20)
	aad = append(aad, "custos/v1"...)
	for _, part := range []string{keyID, typ, id} {
		aad = append(aad, 0)
		aad = strconv.AppendInt(aad, int64(len(part)), 10)
		aad = append(aad, ':')
		aad = append(aad, part...)
	}
	aad = append(aad, 0)
	return strconv.AppendInt(aad, versionID, 10)
}
