package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// DefaultRealm is the realm of the WWW-Authenticate challenge.
const DefaultRealm = "custos"

// principalKey is the gin context key of the Principal.
const principalKey = "custos.auth.principal"

// realmKey is the gin context key of the realm, for Forbidden.
const realmKey = "custos.auth.realm"

type principalContextKey struct{}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middlewareConfig)

type middlewareConfig struct {
	realm       string
	publicPaths map[string]bool
	onReject    func(*gin.Context, error)
}

// WithRealm sets the realm of the WWW-Authenticate challenge.
func WithRealm(realm string) MiddlewareOption {
	return func(m *middlewareConfig) { m.realm = realm }
}

// WithPublicPaths adds paths that GET and HEAD requests reach without a
// token, next to /fhir/metadata and /fhir/.well-known/smart-configuration.
// A path matches exactly, apart from a trailing slash.
func WithPublicPaths(paths ...string) MiddlewareOption {
	return func(m *middlewareConfig) {
		for _, p := range paths {
			m.publicPaths[strings.TrimSuffix(p, "/")] = true
		}
	}
}

// WithRejectHook sets a function called with the reason of every rejected
// token, before the response is written, for example to log or count
// rejections. The error wraps one of the Err* values and may quote the
// token's kid, alg or iss, but no other claim.
func WithRejectHook(hook func(c *gin.Context, err error)) MiddlewareOption {
	return func(m *middlewareConfig) { m.onReject = hook }
}

// Middleware authenticates each request with its bearer token and stores
// the Principal for FromContext and PrincipalFrom. A request without a
// token gets 401 with a bare Bearer challenge (RFC 6750 section 3.1
// specifies no error code then). A request with a bad token gets 401 with
// error="invalid_token", and one whose token cannot be checked because the
// issuer's keys are unavailable gets 503. Each carries an OperationOutcome.
// Deciding 403 from the scopes is left to the handler: see Forbidden.
func Middleware(v *Verifier, opts ...MiddlewareOption) gin.HandlerFunc {
	cfg := middlewareConfig{
		realm: DefaultRealm,
		publicPaths: map[string]bool{
			"/fhir/metadata":                        true,
			"/fhir/.well-known/smart-configuration": true,
		},
	}
	for _, opt := range opts {
		opt(&cfg)
	}

	return func(c *gin.Context) {
		c.Set(realmKey, cfg.realm)
		if cfg.isPublic(c.Request) {
			c.Next()
			return
		}

		token, err := bearerToken(c.Request)
		if err == nil {
			var p Principal
			p, err = v.Verify(c.Request.Context(), token)
			if err == nil {
				c.Set(principalKey, p)
				ctx := context.WithValue(c.Request.Context(), principalContextKey{}, p)
				c.Request = c.Request.WithContext(ctx)
				c.Next()
				return
			}
		}

		if cfg.onReject != nil {
			cfg.onReject(c, err)
		}
		reject(c, cfg.realm, err)
	}
}

func (m middlewareConfig) isPublic(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return m.publicPaths[strings.TrimSuffix(r.URL.Path, "/")]
}

// bearerToken returns the token of the one Authorization header. A
// missing header or a scheme other than Bearer is ErrMissingToken.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", ErrMissingToken
	}
	if len(values) > 1 {
		return "", errors.Join(ErrMalformedToken,
			errors.New("more than one Authorization header"))
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrMissingToken
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ErrMissingToken
	}
	return token, nil
}

func reject(c *gin.Context, realm string, err error) {
	description := describeError(err)
	switch {
	case errors.Is(err, ErrMissingToken):
		c.Header("WWW-Authenticate", challenge(realm, "", ""))
		writeOutcome(c, http.StatusUnauthorized, "login",
			"Missing bearer token: send an access token in the Authorization header.")
	case errors.Is(err, ErrKeysUnavailable):
		writeOutcome(c, http.StatusServiceUnavailable, "transient",
			"The token issuer's keys could not be fetched, so the token could not "+
				"be checked. Retry later.")
	default:
		c.Header("WWW-Authenticate", challenge(realm, "invalid_token", description))
		writeOutcome(c, http.StatusUnauthorized, "login",
			"Invalid bearer token ("+description+"): request a new access token.")
	}
}

// FromContext returns the Principal that Middleware stored.
func FromContext(c *gin.Context) (Principal, bool) {
	value, ok := c.Get(principalKey)
	if !ok {
		return Principal{}, false
	}
	p, ok := value.(Principal)
	return p, ok
}

// PrincipalFrom returns the Principal that Middleware stored in the
// request's context, for code that has a context.Context and no gin
// context.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalContextKey{}).(Principal)
	return p, ok
}

// Forbidden aborts the request with 403, an OperationOutcome with issue
// code "forbidden" and msg as its text, and a Bearer challenge with
// error="insufficient_scope" (RFC 6750 section 3.1). Call it when the
// token is valid but Allows or ResourceAllowed is false.
func Forbidden(c *gin.Context, msg string) {
	realm := DefaultRealm
	if value, ok := c.Get(realmKey); ok {
		realm, _ = value.(string)
	}
	c.Header("WWW-Authenticate", challenge(realm, "insufficient_scope", msg))
	writeOutcome(c, http.StatusForbidden, "forbidden", msg)
}

// challenge builds a Bearer WWW-Authenticate value.
func challenge(realm, code, description string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quotable(realm))
	b.WriteByte('"')
	if code != "" {
		b.WriteString(`, error="`)
		b.WriteString(code)
		b.WriteByte('"')
	}
	if description != "" {
		b.WriteString(`, error_description="`)
		b.WriteString(quotable(description))
		b.WriteByte('"')
	}
	return b.String()
}

// quotable drops the characters RFC 6750 section 3 does not allow in a
// quoted error_description: quotes, backslashes and anything outside
// printable ASCII.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
