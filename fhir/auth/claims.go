package auth

import (
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// principalFrom reads the Principal out of a verified token.
func principalFrom(tok jwt.Token, issuer *trustedIssuer) (Principal, error) {
	names := issuer.Claims
	p := Principal{Issuer: issuer.URL}
	p.Subject, _ = tok.Subject()
	p.TokenID, _ = tok.JwtID()
	p.IssuedAt, _ = tok.IssuedAt()
	p.ExpiresAt, _ = tok.Expiration()

	var err error
	if p.ClientID, err = stringClaim(tok, names.ClientID); err != nil {
		return Principal{}, err
	}
	if p.ClientID == "" {
		if p.ClientID, err = stringClaim(tok, "azp"); err != nil {
			return Principal{}, err
		}
	}
	if p.FHIRUser, err = stringClaim(tok, names.FHIRUser); err != nil {
		return Principal{}, err
	}
	if p.Patient, err = stringClaim(tok, names.Patient); err != nil {
		return Principal{}, err
	}
	if p.Purposes, err = stringsClaim(tok, names.PurposeOfUse); err != nil {
		return Principal{}, err
	}

	scopes, err := stringsClaim(tok, names.Scope)
	if err != nil {
		return Principal{}, err
	}
	p.Scopes, p.OtherScopes, p.InvalidScopes = ParseScopes(strings.Join(scopes, " "))
	return p, nil
}

// stringClaim returns a string claim, "" when it is absent.
func stringClaim(tok jwt.Token, name string) (string, error) {
	if !tok.Has(name) {
		return "", nil
	}
	var value any
	if err := tok.Get(name, &value); err != nil {
		return "", fmt.Errorf("%w: claim %q: %w", ErrInvalidClaims, name, err)
	}
	s, ok := value.(string)
	if !ok {
		return "", fmt.Errorf("%w: claim %q is not a string", ErrInvalidClaims, name)
	}
	return s, nil
}

// stringsClaim returns a claim that is a space-separated string or an
// array of strings, split into its words.
func stringsClaim(tok jwt.Token, name string) ([]string, error) {
	if !tok.Has(name) {
		return nil, nil
	}
	var value any
	if err := tok.Get(name, &value); err != nil {
		return nil, fmt.Errorf("%w: claim %q: %w", ErrInvalidClaims, name, err)
	}
	switch v := value.(type) {
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("%w: claim %q contains an element that is "+
					"not a string", ErrInvalidClaims, name)
			}
			out = append(out, strings.Fields(s)...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: claim %q is neither a string nor an array of strings",
		ErrInvalidClaims, name)
}
