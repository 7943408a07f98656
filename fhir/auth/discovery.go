package auth

import "slices"

// Endpoints describes what an issuer's authorization server offers, for
// the SMART discovery document and the CapabilityStatement. Empty fields
// are left out of both.
type Endpoints struct {
	Authorization string
	Token         string
	Introspection string
	Revocation    string
	Management    string
	Registration  string

	// JWKS is the jwks_uri to publish. Empty means Issuer.JWKSURL.
	JWKS string

	GrantTypes               []string
	TokenEndpointAuthMethods []string
	CodeChallengeMethods     []string
	ResponseTypes            []string
	Scopes                   []string

	// Capabilities are the SMART capabilities that the authorization
	// server provides, such as "launch-standalone", "client-public" or
	// "context-standalone-patient". This package cannot check them.
	Capabilities []string
}

// enforcedCapabilities are the SMART capabilities that this package itself
// enforces on every request: v1 and v2 scope syntax, and patient/ and
// user/ scopes.
var enforcedCapabilities = []string{
	"permission-v1", "permission-v2", "permission-patient", "permission-user",
}

// devIssuerNote is published in place of a token endpoint for an issuer
// that has none, such as the development issuer.
const devIssuerNote = "This issuer has no OAuth endpoints. Tokens are minted " +
	"on the server host with `custos token`."

// SmartConfiguration returns the document served at
// /fhir/.well-known/smart-configuration for the issuer whose tokens the
// server accepts. The capabilities are those this package enforces plus
// the issuer's own Endpoints.Capabilities. An issuer without a token
// endpoint gets a "custos_token_issuance" note in place of one, and an
// empty grant_types_supported.
func SmartConfiguration(issuer Issuer) map[string]any {
	e := issuer.Endpoints
	doc := map[string]any{
		"issuer":                issuer.URL,
		"capabilities":          capabilities(e),
		"grant_types_supported": nonNil(e.GrantTypes),
	}
	if jwks := jwksURI(issuer); jwks != "" {
		doc["jwks_uri"] = jwks
	}

	for key, value := range map[string]string{
		"authorization_endpoint": e.Authorization,
		"token_endpoint":         e.Token,
		"introspection_endpoint": e.Introspection,
		"revocation_endpoint":    e.Revocation,
		"management_endpoint":    e.Management,
		"registration_endpoint":  e.Registration,
	} {
		if value != "" {
			doc[key] = value
		}
	}
	for key, values := range map[string][]string{
		"token_endpoint_auth_methods_supported": e.TokenEndpointAuthMethods,
		"code_challenge_methods_supported":      e.CodeChallengeMethods,
		"response_types_supported":              e.ResponseTypes,
		"scopes_supported":                      e.Scopes,
	} {
		if len(values) > 0 {
			doc[key] = slices.Clone(values)
		}
	}
	if e.Token == "" {
		doc["custos_token_issuance"] = devIssuerNote
	}
	return doc
}

// SecurityComponent returns the CapabilityStatement.rest.security element:
// the SMART-on-FHIR service coding, and the oauth-uris extension with the
// issuer's endpoints when at least one is known.
func SecurityComponent(issuer Issuer) map[string]any {
	security := map[string]any{
		"service": []any{map[string]any{
			"coding": []any{map[string]any{
				"system":  "http://terminology.hl7.org/CodeSystem/restful-security-service",
				"code":    "SMART-on-FHIR",
				"display": "SMART-on-FHIR",
			}},
			"text": "OAuth 2.0 bearer tokens with SMART App Launch scopes",
		}},
		"description": "Every request except the CapabilityStatement and the " +
			"SMART configuration needs a bearer JWT from " + issuer.URL +
			". Scopes follow SMART App Launch v1 and v2.",
	}

	var uris []any
	e := issuer.Endpoints
	for _, u := range []struct{ name, value string }{
		{"authorize", e.Authorization},
		{"token", e.Token},
		{"introspect", e.Introspection},
		{"revoke", e.Revocation},
		{"manage", e.Management},
		{"register", e.Registration},
	} {
		if u.value != "" {
			uris = append(uris, map[string]any{"url": u.name, "valueUri": u.value})
		}
	}
	if len(uris) > 0 {
		security["extension"] = []any{map[string]any{
			"url":       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			"extension": uris,
		}}
	}
	return security
}

func capabilities(e Endpoints) []string {
	out := slices.Clone(enforcedCapabilities)
	for _, c := range e.Capabilities {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func jwksURI(issuer Issuer) string {
	if issuer.Endpoints.JWKS != "" {
		return issuer.Endpoints.JWKS
	}
	return issuer.JWKSURL
}

func nonNil(values []string) []string {
	if values == nil {
		return []string{}
	}
	return slices.Clone(values)
}
