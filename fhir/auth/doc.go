// Package auth is the resource-server side of SMART App Launch 2.x. It
// validates bearer JWTs against the configured issuers' keys and parses
// SMART v1 and v2 scopes into a Principal. The Principal then decides which
// interactions, resource types and resources a request may touch.
//
// The package also holds the local development issuer that `custos token`
// uses, the gin middleware that authenticates each request, and the SMART
// discovery document and CapabilityStatement security element that describe
// what this package enforces.
package auth
