package auth

import (
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	issuerA = "https://as.test/realm-a"
	issuerB = "https://as.test/realm-b"
)

type fixture struct {
	clock                  *testClock
	rsaA, ecA, psA, ec384A signingKey
	rsaB, stranger         signingKey
	jwks                   *jwksServer
	verifier               *Verifier
	server                 *httptest.Server
	lastReject             error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		clock:    newTestClock(),
		rsaA:     newRSAKey(t, "rsa-a", jwa.RS256()),
		ecA:      newECKey(t, "ec-a", elliptic.P256(), jwa.ES256()),
		psA:      newRSAKey(t, "ps-a", jwa.PS256()),
		ec384A:   newECKey(t, "ec384-a", elliptic.P384(), jwa.ES384()),
		rsaB:     newRSAKey(t, "rsa-b", jwa.RS256()),
		stranger: newRSAKey(t, "stranger", jwa.RS256()),
	}
	f.jwks = newJWKSServer(t, publicSet(t, f.rsaA, f.ecA, f.psA, f.ec384A))

	v, err := NewVerifier(Config{
		Audience: testAudience,
		Issuers: []Issuer{
			{URL: issuerA, JWKSURL: f.jwks.URL},
			{URL: issuerB, KeySet: publicSet(t, f.rsaB)},
		},
		Now: f.clock.Now,
	})
	require.NoError(t, err)
	f.verifier = v
	f.server = httptest.NewServer(f.router())
	t.Cleanup(f.server.Close)
	return f
}

func (f *fixture) router() *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(Middleware(f.verifier, WithRejectHook(func(_ *gin.Context, err error) {
		f.lastReject = err
	})))
	r.GET("/fhir/metadata", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"resourceType": "CapabilityStatement"})
	})
	r.GET("/fhir/.well-known/smart-configuration", func(c *gin.Context) {
		c.JSON(http.StatusOK, SmartConfiguration(f.verifier.Issuers()[0]))
	})
	r.GET("/fhir/:type/:id", func(c *gin.Context) {
		p, ok := FromContext(c)
		if !ok {
			c.String(http.StatusInternalServerError, "no principal")
			return
		}
		fromCtx, ok := PrincipalFrom(c.Request.Context())
		if !ok || fromCtx.TokenID != p.TokenID {
			c.String(http.StatusInternalServerError, "no principal in request context")
			return
		}
		if !p.Allows(Read, c.Param("type")) {
			Forbidden(c, "the token grants no read access to "+c.Param("type"))
			return
		}
		c.JSON(http.StatusOK, gin.H{
			"sub": p.Subject, "iss": p.Issuer, "patient": p.Patient,
			"fhirUser": p.FHIRUser, "purposes": p.Purposes,
		})
	})
	return r
}

type response struct {
	status      int
	challenge   string
	contentType string
	body        map[string]any
}

func (f *fixture) get(t *testing.T, path string, authorization ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.server.URL+path, nil)
	require.NoError(t, err)
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)

	out := response{
		status:      res.StatusCode,
		challenge:   res.Header.Get("WWW-Authenticate"),
		contentType: res.Header.Get("Content-Type"),
	}
	require.NoError(t, json.Unmarshal(data, &out.body), "body %s", data)
	return out
}

func pemOf(t *testing.T, key signingKey) []byte {
	t.Helper()
	var raw any
	require.NoError(t, jwk.Export(key.publicJWK(t), &raw))
	public, ok := raw.(*rsa.PublicKey)
	require.True(t, ok, "exported %T", raw)
	der, err := x509.MarshalPKIXPublicKey(public)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestMiddlewareAcceptsValidTokens(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()

	withinSkew := validClaims(issuerA, now.Add(-time.Hour))
	withinSkew.exp = now.Add(-10 * time.Second)

	cases := []struct {
		name  string
		token string
	}{
		{"RS256 from JWKS URL", sign(t, f.rsaA, validClaims(issuerA, now))},
		{"ES256 from JWKS URL", sign(t, f.ecA, validClaims(issuerA, now))},
		{"PS256 from JWKS URL", sign(t, f.psA, validClaims(issuerA, now))},
		{"ES384 from JWKS URL", sign(t, f.ec384A, validClaims(issuerA, now))},
		{"RS256 from static set", sign(t, f.rsaB, validClaims(issuerB, now))},
		{"expired within skew", sign(t, f.rsaA, withinSkew)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := f.get(t, "/fhir/Patient/p1", "Bearer "+tc.token)
			require.Equal(t, http.StatusOK, res.status, "body %v", res.body)
			assert.Equal(t, "Practitioner/7", res.body["sub"])
		})
	}
	assert.Equal(t, int64(1), f.jwks.hits.Load(), "keys are fetched once and cached")
}

func TestMiddlewareRejectsBadTokens(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	good := sign(t, f.rsaA, validClaims(issuerA, now))
	parts := strings.Split(good, ".")

	expired := validClaims(issuerA, now.Add(-time.Hour))
	expired.exp = now.Add(-2 * time.Minute)
	notYet := validClaims(issuerA, now)
	notYet.nbf = now.Add(5 * time.Minute)
	issuedLater := validClaims(issuerA, now.Add(5*time.Minute))
	wrongIss := validClaims("https://evil.test", now)
	issB := validClaims(issuerB, now)
	wrongAud := validClaims(issuerA, now)
	wrongAud.aud = "http://127.0.0.1:9999/fhir"
	noAud := validClaims(issuerA, now)
	noAud.aud = ""
	noExp := validClaims(issuerA, now)
	noExp.exp = time.Time{}
	badPatient := validClaims(issuerA, now)
	badPatient.extra = map[string]any{"patient": 42}

	escalated := validClaims(issuerA, now)
	escalated.scope = "user/*.cruds"
	tampered := parts[0] + "." + b64(escalated.json(t)) + "." + parts[2]
	flipped := []byte(parts[2])
	flipped[10] ^= 'A' ^ 'B'
	badSignature := parts[0] + "." + parts[1] + "." + string(flipped)

	payload := validClaims(issuerA, now).json(t)
	algNone := handMade(t, map[string]any{"alg": "none", "kid": "rsa-a"}, payload, nil)
	hsWithPEM := handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-a"}, payload,
		hmacSHA256(pemOf(t, f.rsaA)))
	publicJSON, err := json.Marshal(f.rsaA.publicJWK(t))
	require.NoError(t, err)
	hsWithJWK := handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-a"}, payload,
		hmacSHA256(publicJSON))
	noKid := handMade(t, map[string]any{"alg": "RS256"}, payload,
		func([]byte) []byte { return []byte("x") })
	crit := handMade(t, map[string]any{"alg": "RS256", "kid": "rsa-a", "crit": []string{"x"},
		"x": 1}, payload, func([]byte) []byte { return []byte("x") })

	esOnRSAKey := signingKey{private: f.ecA.private, alg: jwa.ES256()}
	require.NoError(t, esOnRSAKey.private.Set("kid", "rsa-a"))
	mismatched := sign(t, esOnRSAKey, validClaims(issuerA, now))
	require.NoError(t, f.ecA.private.Set("kid", "ec-a"))

	cases := []struct {
		name        string
		headers     []string
		status      int
		challenge   string
		description string
	}{
		{"no Authorization header", nil, 401, `Bearer realm="custos"`, ""},
		{"basic scheme", []string{"Basic dXNlcjpwYXNz"}, 401, `Bearer realm="custos"`, ""},
		{"empty bearer", []string{"Bearer "}, 401, `Bearer realm="custos"`, ""},
		{"two Authorization headers", []string{"Bearer " + good, "Bearer " + good}, 401,
			"invalid_token", "malformed token"},
		{"not a JWS", []string{"Bearer abc"}, 401, "invalid_token", "malformed token"},
		{"five parts like a JWE", []string{"Bearer a.b.c.d.e"}, 401, "invalid_token",
			"malformed token"},
		{"oversized", []string{"Bearer " + strings.Repeat("a", maxTokenBytes) + ".b.c"}, 401,
			"invalid_token", "malformed token"},
		{"crit header", []string{"Bearer " + crit}, 401, "invalid_token", "malformed token"},
		{"alg none", []string{"Bearer " + algNone}, 401, "invalid_token",
			"unsupported signing algorithm"},
		{"HS256 keyed with public PEM", []string{"Bearer " + hsWithPEM}, 401,
			"invalid_token", "unsupported signing algorithm"},
		{"HS256 keyed with public JWK", []string{"Bearer " + hsWithJWK}, 401,
			"invalid_token", "unsupported signing algorithm"},
		{"ES256 on an RSA kid", []string{"Bearer " + mismatched}, 401, "invalid_token",
			"unsupported signing algorithm"},
		{"no kid", []string{"Bearer " + noKid}, 401, "invalid_token", "unknown signing key"},
		{"unknown kid", []string{"Bearer " + sign(t, f.stranger, validClaims(issuerA, now))},
			401, "invalid_token", "unknown signing key"},
		{"untrusted issuer", []string{"Bearer " + sign(t, f.rsaA, wrongIss)}, 401,
			"invalid_token", "token issuer is not trusted"},
		{"issuer B claimed with key of A", []string{"Bearer " + sign(t, f.rsaA, issB)}, 401,
			"invalid_token", "unknown signing key"},
		{"expired", []string{"Bearer " + sign(t, f.rsaA, expired)}, 401, "invalid_token",
			"token expired"},
		{"not yet valid", []string{"Bearer " + sign(t, f.rsaA, notYet)}, 401,
			"invalid_token", "token not yet valid"},
		{"issued in the future", []string{"Bearer " + sign(t, f.rsaA, issuedLater)}, 401,
			"invalid_token", "token not yet valid"},
		{"wrong audience", []string{"Bearer " + sign(t, f.rsaA, wrongAud)}, 401,
			"invalid_token", "token audience is not this server"},
		{"no audience", []string{"Bearer " + sign(t, f.rsaA, noAud)}, 401, "invalid_token",
			"token audience is not this server"},
		{"no exp", []string{"Bearer " + sign(t, f.rsaA, noExp)}, 401, "invalid_token",
			"invalid token claims"},
		{"patient claim not a string", []string{"Bearer " + sign(t, f.rsaA, badPatient)},
			401, "invalid_token", "invalid token claims"},
		{"tampered payload", []string{"Bearer " + tampered}, 401, "invalid_token",
			"invalid token signature"},
		{"altered signature", []string{"Bearer " + badSignature}, 401, "invalid_token",
			"invalid token signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := f.get(t, "/fhir/Patient/p1", tc.headers...)
			assert.Equal(t, tc.status, res.status)
			assert.Contains(t, res.challenge, tc.challenge)
			if tc.description == "" {
				assert.Equal(t, `Bearer realm="custos"`, res.challenge)
			} else {
				assert.Contains(t, res.challenge, `error_description="`+tc.description)
			}
			assert.Equal(t, "application/fhir+json; charset=utf-8", res.contentType)
			assertOutcome(t, res.body, "login")
		})
	}
}

func assertOutcome(t *testing.T, body map[string]any, code string) {
	t.Helper()
	assert.Equal(t, "OperationOutcome", body["resourceType"])
	issues, _ := body["issue"].([]any)
	require.Len(t, issues, 1)
	issue, _ := issues[0].(map[string]any)
	assert.Equal(t, "error", issue["severity"])
	assert.Equal(t, code, issue["code"])
	assert.NotEmpty(t, issue["diagnostics"])
}

func TestMiddlewareForbiddenScope(t *testing.T) {
	f := newFixture(t)
	token := sign(t, f.rsaA, validClaims(issuerA, f.clock.Now()))

	res := f.get(t, "/fhir/Consent/c1", "Bearer "+token)
	assert.Equal(t, http.StatusForbidden, res.status)
	assert.Contains(t, res.challenge, `error="insufficient_scope"`)
	assert.Equal(t, "application/fhir+json; charset=utf-8", res.contentType)
	assertOutcome(t, res.body, "forbidden")
}

func TestMiddlewarePublicPaths(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/fhir/metadata", "/fhir/.well-known/smart-configuration"} {
		t.Run(path, func(t *testing.T) {
			res := f.get(t, path)
			assert.Equal(t, http.StatusOK, res.status)
			assert.Empty(t, res.challenge)
		})
	}
	res := f.get(t, "/fhir/metadata-not/x")
	assert.Equal(t, http.StatusUnauthorized, res.status)
}

func TestMiddlewareStoresClaims(t *testing.T) {
	f := newFixture(t)
	c := validClaims(issuerA, f.clock.Now())
	c.scope = "launch/patient patient/Patient.rs"
	c.patient = "p-42"
	c.fhirUser = "Practitioner/7"
	c.purposes = []string{"TREAT", "ETREAT"}

	res := f.get(t, "/fhir/Patient/p-42", "Bearer "+sign(t, f.ecA, c))
	require.Equal(t, http.StatusOK, res.status, "body %v", res.body)
	assert.Equal(t, "p-42", res.body["patient"])
	assert.Equal(t, "Practitioner/7", res.body["fhirUser"])
	assert.Equal(t, issuerA, res.body["iss"])
	assert.Equal(t, []any{"TREAT", "ETREAT"}, res.body["purposes"])
}

func TestMiddlewareKeysUnavailable(t *testing.T) {
	rsaKey := newRSAKey(t, "k1", jwa.RS256())
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	v, err := NewVerifier(Config{Audience: testAudience,
		Issuers: []Issuer{{URL: issuerA, JWKSURL: down.URL}}})
	require.NoError(t, err)

	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(Middleware(v))
	r.GET("/fhir/Patient/:id", func(c *gin.Context) { c.Status(http.StatusOK) })
	srv := httptest.NewServer(r)
	defer srv.Close()

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/fhir/Patient/1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sign(t, rsaKey, validClaims(issuerA, time.Now())))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assertOutcome(t, body, "transient")
}
