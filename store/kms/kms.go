// Package kms wraps and unwraps data keys with a key-encryption key that
// never leaves the key manager: a local keyring file for the embedded
// default, or HashiCorp Vault's Transit engine in production.
package kms

import "context"

// KeyManager wraps data keys. The keyID names the data key and is bound to
// the wrapped form, so a wrapped key stored under one id cannot be
// unwrapped as another.
type KeyManager interface {
	Wrap(ctx context.Context, keyID string, dataKey []byte) ([]byte, error)
	Unwrap(ctx context.Context, keyID string, wrapped []byte) ([]byte, error)
	// Name describes the key manager for logs, without secrets.
	Name() string
}
