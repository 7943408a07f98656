// Package audit writes, verifies and summarises the audit trail: one R4
// AuditEvent, shaped like the IHE Basic Audit Log Patterns (BALP), for
// every interaction with patient data. Each record is a link in a hash
// chain, one chain per writer instance, so that altered, inserted and
// removed records can be found later.
package audit

import "time"

// Event describes one interaction with the facts the REST layer has when
// it decides whether to send data. It carries references, never content.
type Event struct {
	// Interaction is a restful-interaction code ("read", "vread",
	// "search-type", "search-system", "history-instance", "history-type",
	// "history-system", "create", "update", "patch", "delete") or an
	// operation name that starts with "$", such as "$everything".
	Interaction string
	Method      string    // HTTP method, for example "GET"
	Status      int       // HTTP status of the response
	Reason      string    // short outcome reason without PHI, may be empty
	Time        time.Time // when the request was decided; zero: store time
	RequestID   string    // X-Request-Id of the request
	User        Requestor
	// Purposes are the purposes of use as "system|code"; a bare code is
	// taken from http://terminology.hl7.org/CodeSystem/v3-ActReason.
	Purposes []string
	// BreakGlass marks emergency access that bypassed a consent denial.
	BreakGlass bool
	Patients   []string // ids of the patients whose data was returned or touched
	Resources  []string // references as Type/id or Type/id/_history/n
	Query      string   // for searches, the search URL as received
}

// Requestor is the user and client behind a request, from its token.
type Requestor struct {
	FHIRUser string // fhirUser claim as a reference, such as "Practitioner/7"
	Subject  string // token subject (sub)
	Issuer   string // token issuer (iss), the system of Subject
	TokenID  string // token id (jti), recorded as the agent's policy
	ClientID string // OAuth client id
	Address  string // network address of the client
}

// ServerInfo names the server that records the events, the BALP server
// agent and audit source.
type ServerInfo struct {
	Name    string // observer identifier, for example a host name
	BaseURL string // FHIR base URL, the server agent's network address
	Site    string // optional site or enterprise name
}

// ChainLink places one record in its chain.
type ChainLink struct {
	Chain  string    // chain id: the writer instance's random id
	Seq    uint64    // 1 for the chain's first record, then 2, 3, ...
	Prev   string    // hex SHA-256 of the previous record; empty for seq 1
	Stored time.Time // meta.lastUpdated of the record
}

// ID returns the logical id of the record at this link: chain and
// sequence number, so that a removed record can be named by its id.
func (l ChainLink) ID() string { return recordID(l.Chain, l.Seq) }
