package auth

import "errors"

// Errors that Verify wraps. Their messages are safe to send to a client in
// the error_description of a WWW-Authenticate header, so they name the
// failed check and nothing of the token's content.
var (
	ErrMissingToken         = errors.New("missing bearer token")
	ErrMalformedToken       = errors.New("malformed token: expected a compact JWS")
	ErrUnsupportedAlgorithm = errors.New("unsupported signing algorithm")
	ErrUnknownIssuer        = errors.New("token issuer is not trusted")
	ErrUnknownKey           = errors.New("unknown signing key")
	ErrInvalidSignature     = errors.New("invalid token signature")
	ErrExpired              = errors.New("token expired")
	ErrNotYetValid          = errors.New("token not yet valid")
	ErrWrongAudience        = errors.New("token audience is not this server")
	ErrInvalidClaims        = errors.New("invalid token claims")

	// ErrKeysUnavailable means the issuer's JWKS could not be fetched, so
	// the token could not be checked. The fault is not the client's.
	ErrKeysUnavailable = errors.New("issuer keys unavailable")
)

// tokenErrors is the order in which describeError looks for a sentinel.
var tokenErrors = []error{
	ErrMissingToken, ErrMalformedToken, ErrUnsupportedAlgorithm,
	ErrUnknownIssuer, ErrUnknownKey, ErrInvalidSignature, ErrExpired,
	ErrNotYetValid, ErrWrongAudience, ErrInvalidClaims, ErrKeysUnavailable,
}

// describeError returns the client-safe message of the sentinel that err
// wraps, or a generic one.
func describeError(err error) string {
	for _, sentinel := range tokenErrors {
		if errors.Is(err, sentinel) {
			return sentinel.Error()
		}
	}
	return "invalid token"
}
