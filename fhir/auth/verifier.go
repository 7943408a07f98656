package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Defaults for the zero fields of Config.
const (
	DefaultClockSkew          = 30 * time.Second
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxKeyAge          = time.Hour
	defaultFetchTimeout       = 10 * time.Second

	// maxTokenBytes bounds the work an unauthenticated caller can cause.
	maxTokenBytes = 16 << 10
)

// Config selects the issuers a Verifier trusts and the checks it applies.
type Config struct {
	Issuers []Issuer

	// Audience is the FHIR base URL, such as "https://example.org/fhir".
	// A token's aud must contain it exactly.
	Audience string

	// ClockSkew is the allowance on exp, nbf and iat. Zero means
	// DefaultClockSkew. A negative value means no allowance.
	ClockSkew time.Duration

	// HTTPClient fetches JWKS URLs. Nil means a client with a 10-second
	// timeout that refuses redirects from HTTPS to HTTP.
	HTTPClient *http.Client

	// MinRefreshInterval is the minimum time between two fetches of one
	// JWKS URL, so tokens with made-up kids cannot make the server hammer
	// the issuer. Zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration

	// MaxKeyAge is how long fetched keys are used before they are fetched
	// again. Zero means DefaultMaxKeyAge. While a refetch fails, the old
	// keys stay in use.
	MaxKeyAge time.Duration

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Issuer is one trusted token issuer (an OAuth authorization server) and
// where its public keys come from: exactly one of JWKSURL, JWKSFile and
// KeySet.
type Issuer struct {
	// URL is the exact iss value of the issuer's tokens.
	URL string

	JWKSURL  string  // fetched over HTTP and cached
	JWKSFile string  // read once when the Verifier is built
	KeySet   jwk.Set // used as given

	// Claims names the claims that carry SMART context in this issuer's
	// tokens. Empty fields take the defaults of DefaultClaimNames.
	Claims ClaimNames

	// Endpoints describes the issuer's OAuth endpoints for discovery. It
	// is not used to validate tokens.
	Endpoints Endpoints
}

// ClaimNames are the JWT claim names that carry the granted scopes and the
// SMART launch context.
type ClaimNames struct {
	Scope        string // space-separated string or array of strings
	ClientID     string // falls back to "azp" when absent
	FHIRUser     string
	Patient      string
	PurposeOfUse string // a string or an array of strings
}

// DefaultClaimNames returns the claim names used when Issuer.Claims leaves
// a field empty: "scope", "client_id", "fhirUser", "patient" and
// "purpose_of_use".
func DefaultClaimNames() ClaimNames {
	return ClaimNames{
		Scope:        "scope",
		ClientID:     "client_id",
		FHIRUser:     "fhirUser",
		Patient:      "patient",
		PurposeOfUse: "purpose_of_use",
	}
}

func (c ClaimNames) withDefaults() ClaimNames {
	d := DefaultClaimNames()
	if c.Scope == "" {
		c.Scope = d.Scope
	}
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.FHIRUser == "" {
		c.FHIRUser = d.FHIRUser
	}
	if c.Patient == "" {
		c.Patient = d.Patient
	}
	if c.PurposeOfUse == "" {
		c.PurposeOfUse = d.PurposeOfUse
	}
	return c
}

// Verifier validates bearer access tokens. It is safe for concurrent use.
type Verifier struct {
	audience string
	skew     time.Duration
	now      func() time.Time
	issuers  map[string]*trustedIssuer
	config   Config
	cache    *tokenCache
}

type trustedIssuer struct {
	Issuer
	keys *keySource
}

// NewVerifier checks the configuration, reads JWKS files and returns a
// Verifier. JWKS URLs are not fetched until the first token needs them, so
// an issuer that is down does not stop the server from starting.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Audience == "" {
		return nil, errors.New("auth: Config.Audience is empty; set it to the FHIR base URL")
	}
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("auth: Config.Issuers is empty; configure an issuer " +
			"or the development issuer")
	}
	cfg = cfg.withDefaults()

	v := &Verifier{
		audience: cfg.Audience,
		skew:     max(cfg.ClockSkew, 0),
		now:      cfg.Now,
		issuers:  map[string]*trustedIssuer{},
		config:   cfg,
		cache:    newTokenCache(tokenCacheSize, tokenCacheTTL),
	}
	for _, iss := range cfg.Issuers {
		if err := v.addIssuer(iss); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (cfg Config) withDefaults() Config {
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxKeyAge <= 0 {
		cfg.MaxKeyAge = DefaultMaxKeyAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = jwk.WrapHTTPClientDefaults(&http.Client{Timeout: defaultFetchTimeout})
	}
	return cfg
}

func (v *Verifier) addIssuer(iss Issuer) error {
	if iss.URL == "" {
		return errors.New("auth: an issuer has an empty URL; set it to the iss " +
			"value of its tokens")
	}
	if _, dup := v.issuers[iss.URL]; dup {
		return fmt.Errorf("auth: issuer %s is configured twice", iss.URL)
	}
	sources := 0
	for _, set := range []bool{iss.JWKSURL != "", iss.JWKSFile != "", iss.KeySet != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return fmt.Errorf("auth: issuer %s needs exactly one of JWKSURL, JWKSFile "+
			"and KeySet, found %d", iss.URL, sources)
	}
	iss.Claims = iss.Claims.withDefaults()

	var keys *keySource
	var err error
	switch {
	case iss.JWKSURL != "":
		keys = &keySource{
			jwksURL:     iss.JWKSURL,
			client:      v.config.HTTPClient,
			minInterval: v.config.MinRefreshInterval,
			maxAge:      v.config.MaxKeyAge,
			now:         v.now,
		}
	case iss.JWKSFile != "":
		set, readErr := jwk.ReadFile(iss.JWKSFile)
		if readErr != nil {
			return fmt.Errorf("auth: issuer %s: read JWKS file: %w", iss.URL, readErr)
		}
		keys, err = newStaticKeySource(set, v.now)
	default:
		keys, err = newStaticKeySource(iss.KeySet, v.now)
	}
	if err != nil {
		return fmt.Errorf("auth: issuer %s: %w", iss.URL, err)
	}
	v.issuers[iss.URL] = &trustedIssuer{Issuer: iss, keys: keys}
	return nil
}

// Issuers returns the trusted issuers in configuration order.
func (v *Verifier) Issuers() []Issuer {
	out := make([]Issuer, 0, len(v.config.Issuers))
	for _, iss := range v.config.Issuers {
		out = append(out, v.issuers[iss.URL].Issuer)
	}
	return out
}

// Audience returns the audience tokens must name.
func (v *Verifier) Audience() string { return v.audience }

// joseHeader is the part of the protected header used to pick the key.
type joseHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// Verify validates a compact-serialized JWT and returns its Principal. The
// token must be signed with RS256, RS384, PS256, PS384, ES256 or ES384 by
// a trusted issuer's key, which its "kid" header names. It must carry an
// exp, name Config.Audience in aud, and be within its nbf and exp, give or
// take the clock skew. Errors wrap one of the Err* values of this package.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if p, ok := v.cache.get(token, v.now()); ok {
		return p, nil
	}
	p, err := v.verify(ctx, token)
	if err == nil {
		v.cache.put(token, p, v.now())
	}
	return p, err
}

func (v *Verifier) verify(ctx context.Context, token string) (Principal, error) {
	header, claimedIssuer, err := peekToken(token)
	if err != nil {
		return Principal{}, err
	}
	alg, ok := algorithms[header.Alg]
	if !ok {
		return Principal{}, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, header.Alg)
	}
	if header.Kid == "" {
		return Principal{}, fmt.Errorf("%w: the token header has no kid", ErrUnknownKey)
	}
	issuer, ok := v.issuers[claimedIssuer]
	if !ok {
		return Principal{}, fmt.Errorf("%w: %q", ErrUnknownIssuer, claimedIssuer)
	}

	key, err := issuer.keys.lookup(ctx, header.Kid)
	if err != nil {
		return Principal{}, err
	}
	if !key.compatible(header.Alg) {
		return Principal{}, fmt.Errorf("%w: %s does not fit key %q", ErrUnsupportedAlgorithm,
			header.Alg, header.Kid)
	}

	tok, err := jwt.ParseString(token,
		jwt.WithKey(alg, key.public),
		jwt.WithValidate(true),
		jwt.WithIssuer(issuer.URL),
		jwt.WithAudience(v.audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithAcceptableSkew(v.skew),
		jwt.WithClock(jwt.ClockFunc(v.now)),
	)
	if err != nil {
		return Principal{}, classifyParseError(err)
	}
	return principalFrom(tok, issuer)
}

// peekToken decodes the header and the iss claim of a token before its
// signature is checked. They only select the key: after verification jwx
// checks the same iss again.
func peekToken(token string) (joseHeader, string, error) {
	var header joseHeader
	if len(token) > maxTokenBytes {
		return header, "", fmt.Errorf("%w: longer than %d bytes", ErrMalformedToken,
			maxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return header, "", fmt.Errorf("%w: %d parts", ErrMalformedToken, len(parts))
	}

	if err := decodeSegment(parts[0], &header); err != nil {
		return header, "", fmt.Errorf("%w: header: %w", ErrMalformedToken, err)
	}
	if len(header.Crit) > 0 {
		return header, "", fmt.Errorf("%w: critical header parameters are not supported",
			ErrMalformedToken)
	}

	var payload struct {
		Iss string `json:"iss"`
	}
	if err := decodeSegment(parts[1], &payload); err != nil {
		return header, "", fmt.Errorf("%w: payload: %w", ErrMalformedToken, err)
	}
	return header, payload.Iss, nil
}

func decodeSegment(segment string, dst any) error {
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, dst)
}

// classifyParseError maps a jwx error to the sentinel of this package.
func classifyParseError(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		sentinel = ErrExpired
	case errors.Is(err, jwt.TokenNotYetValidError()),
		errors.Is(err, jwt.InvalidIssuedAtError()):
		sentinel = ErrNotYetValid
	case errors.Is(err, jwt.InvalidAudienceError()):
		sentinel = ErrWrongAudience
	case errors.Is(err, jwt.ValidateError()):
		sentinel = ErrInvalidClaims
	default:
		// jwx reports a bad signature and an undecodable token alike as a
		// verification failure: both mean the bytes are not what the key
		// signed.
		sentinel = ErrInvalidSignature
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
