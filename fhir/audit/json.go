package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// The types below encode an AuditEvent in canonical R4 JSON. encoding/json
// writes struct fields in declaration order, so every struct declares its
// fields in the byte order of their JSON names: the order in which the
// google/fhir/go marshaller writes object keys.

type auditJSON struct {
	Action       string          `json:"action,omitempty"`
	Agent        []agentJSON     `json:"agent"`
	Entity       []entityJSON    `json:"entity,omitempty"`
	Extension    []extensionJSON `json:"extension,omitempty"`
	ID           string          `json:"id"`
	Meta         metaJSON        `json:"meta"`
	Outcome      string          `json:"outcome,omitempty"`
	OutcomeDesc  string          `json:"outcomeDesc,omitempty"`
	Recorded     string          `json:"recorded"`
	ResourceType string          `json:"resourceType"`
	Source       sourceJSON      `json:"source"`
	Subtype      []codingJSON    `json:"subtype,omitempty"`
	Type         codingJSON      `json:"type"`
}

type agentJSON struct {
	AltID        string         `json:"altId,omitempty"`
	Network      *networkJSON   `json:"network,omitempty"`
	Policy       []string       `json:"policy,omitempty"`
	PurposeOfUse []conceptJSON  `json:"purposeOfUse,omitempty"`
	Requestor    bool           `json:"requestor"`
	Type         *conceptJSON   `json:"type,omitempty"`
	Who          *referenceJSON `json:"who,omitempty"`
}

type networkJSON struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type conceptJSON struct {
	Coding []codingJSON `json:"coding"`
}

type codingJSON struct {
	Code   string `json:"code"`
	System string `json:"system"`
}

type referenceJSON struct {
	Display    string          `json:"display,omitempty"`
	Identifier *identifierJSON `json:"identifier,omitempty"`
	Reference  string          `json:"reference,omitempty"`
}

type identifierJSON struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type entityJSON struct {
	Query string         `json:"query,omitempty"`
	Role  *codingJSON    `json:"role,omitempty"`
	Type  *codingJSON    `json:"type,omitempty"`
	What  *referenceJSON `json:"what,omitempty"`
}

type extensionJSON struct {
	Extension    []extensionJSON `json:"extension,omitempty"`
	URL          string          `json:"url"`
	ValueDecimal json.Number     `json:"valueDecimal,omitempty"`
	ValueString  string          `json:"valueString,omitempty"`
}

type metaJSON struct {
	LastUpdated string       `json:"lastUpdated"`
	Security    []codingJSON `json:"security,omitempty"`
	VersionID   string       `json:"versionId"`
}

type sourceJSON struct {
	Observer referenceJSON `json:"observer"`
	Site     string        `json:"site,omitempty"`
	Type     []codingJSON  `json:"type"`
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encode writes v as compact JSON without HTML escaping, as the
// google/fhir/go marshaller does, and returns a fresh copy of the bytes.
func encode(v any) []byte {
	buf := bufferPool.Get().(*bytes.Buffer)
	defer bufferPool.Put(buf)
	buf.Reset()

	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// The types above hold only strings, booleans and decimal
		// literals that this package writes, which always encode.
		panic("audit: encode AuditEvent: " + err.Error())
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return append([]byte(nil), out...)
}

// clean makes s a valid FHIR string: valid UTF-8 without surrounding
// white space. The google/fhir/go marshaller would write an invalid byte
// differently from encoding/json, and R4 strings may not be blank.
func clean(s string) string {
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}
