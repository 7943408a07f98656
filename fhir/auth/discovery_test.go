package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSmartConfigurationDevIssuer(t *testing.T) {
	doc := SmartConfiguration(Issuer{URL: DevIssuerURL})
	assert.Equal(t, DevIssuerURL, doc["issuer"])
	assert.Equal(t, []string{"permission-v1", "permission-v2", "permission-patient",
		"permission-user"}, doc["capabilities"])
	assert.Equal(t, []string{}, doc["grant_types_supported"])
	assert.NotContains(t, doc, "token_endpoint")
	assert.NotContains(t, doc, "authorization_endpoint")
	assert.NotContains(t, doc, "jwks_uri")
	assert.Contains(t, doc["custos_token_issuance"], "custos token")
}

func TestSmartConfigurationExternalIssuer(t *testing.T) {
	doc := SmartConfiguration(Issuer{
		URL:     "https://as.test",
		JWKSURL: "https://as.test/jwks",
		Endpoints: Endpoints{
			Authorization:        "https://as.test/authorize",
			Token:                "https://as.test/token",
			GrantTypes:           []string{"authorization_code", "client_credentials"},
			CodeChallengeMethods: []string{"S256"},
			Capabilities:         []string{"launch-standalone", "permission-v2"},
		},
	})
	assert.Equal(t, "https://as.test/token", doc["token_endpoint"])
	assert.Equal(t, "https://as.test/authorize", doc["authorization_endpoint"])
	assert.Equal(t, "https://as.test/jwks", doc["jwks_uri"])
	assert.Equal(t, []string{"S256"}, doc["code_challenge_methods_supported"])
	assert.Equal(t, []string{"permission-v1", "permission-v2", "permission-patient",
		"permission-user", "launch-standalone"}, doc["capabilities"])
	assert.NotContains(t, doc, "custos_token_issuance")
	assert.NotContains(t, doc, "revocation_endpoint")
}

func TestSecurityComponent(t *testing.T) {
	dev := SecurityComponent(Issuer{URL: DevIssuerURL})
	assert.NotContains(t, dev, "extension", "no oauth-uris without endpoints")
	service := dev["service"].([]any)[0].(map[string]any)
	coding := service["coding"].([]any)[0].(map[string]any)
	assert.Equal(t, "http://terminology.hl7.org/CodeSystem/restful-security-service",
		coding["system"])
	assert.Equal(t, "SMART-on-FHIR", coding["code"])

	external := SecurityComponent(Issuer{URL: "https://as.test", Endpoints: Endpoints{
		Authorization: "https://as.test/authorize", Token: "https://as.test/token",
	}})
	ext := external["extension"].([]any)[0].(map[string]any)
	assert.Equal(t, "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
		ext["url"])
	assert.Equal(t, []any{
		map[string]any{"url": "authorize", "valueUri": "https://as.test/authorize"},
		map[string]any{"url": "token", "valueUri": "https://as.test/token"},
	}, ext["extension"])
}
