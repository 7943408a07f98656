package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// DevIssuerURL is the iss of tokens the development issuer mints. It is a
// URN rather than a URL derived from the FHIR base because the issuer has
// no HTTP endpoints, and so that the same key file keeps working when the
// base URL changes. Tokens still name the FHIR base in aud.
const DevIssuerURL = "urn:custos:dev-issuer"

// DevIssuerKeyFile is the file name of the development issuer's private
// key (a JWK) in the data directory.
const DevIssuerKeyFile = "dev-issuer.jwk"

// Defaults for MintOptions.
const (
	DefaultDevTokenTTL   = time.Hour
	DefaultDevClientID   = "custos-cli"
	DefaultDevSubject    = "custos-dev"
	devIssuerKeyFileMode = 0o600
)

// DevIssuer is the local development token issuer: an ES256 key in the data
// directory that signs tokens for `custos token`. Anyone who can read the
// key file can mint any token, so deployments with a real authorization
// server should not trust it.
type DevIssuer struct {
	key    jwk.Key // private
	public jwk.Set
	path   string
}

// LoadOrCreateDevIssuer reads DATA_DIR/dev-issuer.jwk, or creates it with
// a new P-256 key and mode 0600 when it does not exist. It returns an error
// when an existing file is readable by group or others, because then the
// key cannot be trusted to be private.
func LoadOrCreateDevIssuer(dataDir string) (*DevIssuer, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, DevIssuerKeyFile)

	data, err := readPrivateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = createDevIssuerKey(path)
	}
	if err != nil {
		return nil, err
	}

	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse development issuer key %s: %w", path, err)
	}
	return newDevIssuer(key, path)
}

func newDevIssuer(key jwk.Key, path string) (*DevIssuer, error) {
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, fmt.Errorf("development issuer key %s: %w", path, err)
	}
	if private, ok := raw.(*ecdsa.PrivateKey); !ok || private.Curve != elliptic.P256() {
		return nil, fmt.Errorf("development issuer key %s is not a P-256 private key; "+
			"delete it to create a new one", path)
	}
	if kid, ok := key.KeyID(); !ok || kid == "" {
		return nil, fmt.Errorf("development issuer key %s has no kid; delete it to "+
			"create a new one", path)
	}
	private := jwk.NewSet()
	if err := private.AddKey(key); err != nil {
		return nil, fmt.Errorf("development issuer key %s: %w", path, err)
	}
	public, err := jwk.PublicSetOf(private)
	if err != nil {
		return nil, fmt.Errorf("development issuer key %s: %w", path, err)
	}
	return &DevIssuer{key: key, public: public, path: path}, nil
}

// readPrivateFile reads a file that must not be readable by anyone but its
// owner. The mode check is skipped on Windows, which has no such bits.
func readPrivateFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("development issuer key %s has mode %o, so others may "+
			"read it; run chmod 600 on it or delete it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read development issuer key: %w", err)
	}
	return data, nil
}

// createDevIssuerKey writes a new key to a temporary file and links it into
// place, so two processes starting at once end up with the same key.
func createDevIssuerKey(path string) ([]byte, error) {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate development issuer key: %w", err)
	}
	key, err := jwk.Import(private)
	if err != nil {
		return nil, fmt.Errorf("import development issuer key: %w", err)
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return nil, fmt.Errorf("assign development issuer key id: %w", err)
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.ES256()); err != nil {
		return nil, fmt.Errorf("set development issuer key alg: %w", err)
	}
	if err := key.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return nil, fmt.Errorf("set development issuer key use: %w", err)
	}
	data, err := json.Marshal(key)
	if err != nil {
		return nil, fmt.Errorf("encode development issuer key: %w", err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), DevIssuerKeyFile+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create development issuer key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(devIssuerKeyFileMode); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("create development issuer key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write development issuer key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write development issuer key: %w", err)
	}

	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readPrivateFile(path) // another process won the race
		}
		return nil, fmt.Errorf("install development issuer key %s: %w", path, err)
	}
	return data, nil
}

// KeyPath returns the path of the private key file.
func (d *DevIssuer) KeyPath() string { return d.path }

// JWKS returns the public key set that verifies the issuer's tokens.
func (d *DevIssuer) JWKS() jwk.Set { return d.public }

// Issuer returns the issuer configuration for a Verifier that trusts the
// development issuer. It has no Endpoints, since tokens come from
// `custos token` and not from an OAuth flow.
func (d *DevIssuer) Issuer() Issuer {
	return Issuer{URL: DevIssuerURL, KeySet: d.public}
}

// MintOptions are the contents of a development token.
type MintOptions struct {
	Scope    string // space-separated SMART scopes
	Patient  string // launch context patient id
	FHIRUser string // such as "Practitioner/123"
	Purposes []string

	// Audience is the FHIR base URL the token is for. It is required.
	Audience string

	// TTL is the token lifetime. Zero means DefaultDevTokenTTL.
	TTL time.Duration

	// Subject defaults to FHIRUser, or DefaultDevSubject without one.
	Subject string
	// ClientID defaults to DefaultDevClientID.
	ClientID string

	// IssuedAt is the iat and nbf of the token. Zero means now.
	IssuedAt time.Time
}

// Mint signs a JWT with the development issuer's key. The claims use the
// names of DefaultClaimNames.
func (d *DevIssuer) Mint(opts MintOptions) (string, error) {
	if opts.Audience == "" {
		return "", errors.New("mint token: the audience is empty; pass the FHIR base URL")
	}
	if opts.TTL < 0 {
		return "", fmt.Errorf("mint token: TTL %s is negative", opts.TTL)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultDevTokenTTL
	}
	issuedAt := opts.IssuedAt
	if issuedAt.IsZero() {
		issuedAt = time.Now()
	}
	issuedAt = issuedAt.Truncate(time.Second)

	jti, err := randomID()
	if err != nil {
		return "", err
	}
	names := DefaultClaimNames()
	builder := jwt.NewBuilder().
		Issuer(DevIssuerURL).
		Subject(firstNonEmpty(opts.Subject, opts.FHIRUser, DefaultDevSubject)).
		Audience([]string{opts.Audience}).
		IssuedAt(issuedAt).
		NotBefore(issuedAt).
		Expiration(issuedAt.Add(opts.TTL)).
		JwtID(jti).
		Claim(names.ClientID, firstNonEmpty(opts.ClientID, DefaultDevClientID)).
		Claim(names.Scope, strings.Join(strings.Fields(opts.Scope), " "))
	if opts.Patient != "" {
		builder = builder.Claim(names.Patient, opts.Patient)
	}
	if opts.FHIRUser != "" {
		builder = builder.Claim(names.FHIRUser, opts.FHIRUser)
	}
	if len(opts.Purposes) > 0 {
		builder = builder.Claim(names.PurposeOfUse, opts.Purposes)
	}

	tok, err := builder.Build()
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), d.key))
	if err != nil {
		return "", fmt.Errorf("mint token: sign: %w", err)
	}
	return string(signed), nil
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mint token: random jti: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
