package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"

	vault "github.com/hashicorp/vault/api"
)

// Vault is a KeyManager backed by the Transit secrets engine of HashiCorp
// Vault: the key-encryption key stays inside Vault, which encrypts and
// decrypts data keys on request.
type Vault struct {
	client *vault.Client
	mount  string
	key    string
}

// OpenVault connects to Vault with the client's usual environment
// (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, ...) and uses the named Transit
// key under the mount (usually "transit").
func OpenVault(mount, key string) (*Vault, error) {
	if key == "" {
		return nil, fmt.Errorf("vault: no Transit key named; " +
			"set CUSTOS_VAULT_TRANSIT_KEY")
	}
	client, err := vault.NewClient(vault.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &Vault{client: client, mount: mount, key: key}, nil
}

// NewVault uses an existing Vault client.
func NewVault(client *vault.Client, mount, key string) *Vault {
	return &Vault{client: client, mount: mount, key: key}
}

// Wrap has Transit encrypt dataKey. The keyID is bound by prefixing it
// to the plaintext, so that Unwrap can check it.
func (v *Vault) Wrap(ctx context.Context, keyID string, dataKey []byte) ([]byte, error) {
	plain := append(bindKeyID(keyID), dataKey...)
	secret, err := v.client.Logical().WriteWithContext(ctx,
		v.mount+"/encrypt/"+v.key,
		map[string]any{"plaintext": base64.StdEncoding.EncodeToString(plain)})
	if err != nil {
		return nil, fmt.Errorf("vault encrypt data key %s: %w", keyID, err)
	}
	ct, ok := secret.Data["ciphertext"].(string)
	if !ok || ct == "" {
		return nil, fmt.Errorf("vault encrypt data key %s: no ciphertext in reply", keyID)
	}
	return []byte(ct), nil
}

// Unwrap has Transit decrypt a wrapped data key and checks that it was
// wrapped for keyID.
func (v *Vault) Unwrap(ctx context.Context, keyID string, wrapped []byte) ([]byte, error) {
	secret, err := v.client.Logical().WriteWithContext(ctx,
		v.mount+"/decrypt/"+v.key, map[string]any{"ciphertext": string(wrapped)})
	if err != nil {
		return nil, fmt.Errorf("vault decrypt data key %s: %w", keyID, err)
	}
	b64, ok := secret.Data["plaintext"].(string)
	if !ok {
		return nil, fmt.Errorf("vault decrypt data key %s: no plaintext in reply", keyID)
	}
	plain, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("vault decrypt data key %s: %w", keyID, err)
	}
	prefix := bindKeyID(keyID)
	if !bytes.HasPrefix(plain, prefix) {
		return nil, fmt.Errorf("vault decrypt data key %s: wrapped for another key id", keyID)
	}
	return plain[len(prefix):], nil
}

// Name returns "vault" and the Transit key path.
func (v *Vault) Name() string {
	return "vault:" + v.client.Address() + "/" + v.mount + "/keys/" + v.key
}

func bindKeyID(keyID string) []byte {
	return append([]byte(fmt.Sprintf("%04d", len(keyID))), keyID...)
}
