package audit

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Code systems and codes of the AuditEvent elements that Build fills.
const (
	systemEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemInteraction = "http://hl7.org/fhir/restful-interaction"
	systemHTTPVerb    = "http://hl7.org/fhir/http-verb"
	systemDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	systemUserAgent   = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
	systemEntityBALP  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	systemEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	systemSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	// SystemActReason is the code system of purposes of use and of the
	// break-glass security label.
	SystemActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	// systemOperation holds the names of FHIR operations ("$everything"),
	// which restful-interaction only calls "operation".
	systemOperation = "http://custos.example/fhir/CodeSystem/operation"
	// systemTrail holds the subtypes of the trail's own records.
	systemTrail = "http://custos.example/fhir/CodeSystem/audit-trail"
)

// Codes a search on AuditEvent can use to find emergency access:
// _security=SystemActReason|BTG, and the purpose of use ETREAT.
const (
	CodeBreakGlass         = "BTG"
	CodeEmergencyTreatment = "ETREAT"
)

// instantLayout is an R4 instant at millisecond precision in UTC, the form
// in which the google/fhir/go marshaller writes an instant parsed from it.
const instantLayout = "2006-01-02T15:04:05.000Z"

func instant(t time.Time) string { return t.UTC().Format(instantLayout) }

// Build returns the canonical R4 JSON of the AuditEvent that records e as
// the record at link in its chain, with id, meta.versionId "1",
// meta.lastUpdated link.Stored and the record's own hash.
func Build(e Event, server ServerInfo, link ChainLink) []byte {
	body, _ := finish(eventRecord(e, server, link), link)
	return body
}

// eventRecord returns the AuditEvent of a REST interaction, without the
// hash of its chain extension.
func eventRecord(e Event, server ServerInfo, link ChainLink) *auditJSON {
	a := newRecord(server, link, e.Time)
	interaction := clean(e.Interaction)
	a.Type = codingJSON{Code: "rest", System: systemEventType}
	if strings.HasPrefix(interaction, "$") {
		a.Subtype = append(a.Subtype, codingJSON{Code: "operation", System: systemInteraction},
			codingJSON{Code: interaction, System: systemOperation})
	} else if interaction != "" {
		a.Subtype = append(a.Subtype, codingJSON{Code: interaction, System: systemInteraction})
	}
	if m := clean(strings.ToUpper(e.Method)); m != "" {
		a.Subtype = append(a.Subtype, codingJSON{Code: m, System: systemHTTPVerb})
	}
	a.Action = actionOf(interaction)
	a.Outcome = outcomeOf(e.Status)
	a.OutcomeDesc = clean(strings.TrimSpace(fmt.Sprintf("%d %s", e.Status, clean(e.Reason))))

	purposes := purposeConcepts(e.Purposes, e.BreakGlass)
	if e.BreakGlass {
		a.Meta.Security = []codingJSON{{Code: CodeBreakGlass, System: SystemActReason}}
	}
	a.Agent = append(userAgents(e.User, purposes), a.Agent...)
	a.Entity = entities(e)
	return a
}

// newRecord returns the parts every record of the trail shares: id, meta,
// recorded, the server agent and the source.
func newRecord(server ServerInfo, link ChainLink, recorded time.Time) *auditJSON {
	if recorded.IsZero() {
		recorded = link.Stored
	}
	name := clean(server.Name)
	if name == "" {
		name = "custos"
	}
	serverAgent := agentJSON{
		Type: &conceptJSON{Coding: []codingJSON{{Code: "110152", System: systemDICOM}}},
		Who:  &referenceJSON{Identifier: &identifierJSON{Value: name}},
	}
	if base := clean(server.BaseURL); base != "" {
		serverAgent.Network = &networkJSON{Address: base, Type: "5"}
	}
	return &auditJSON{
		Agent:        []agentJSON{serverAgent},
		ID:           link.ID(),
		Meta:         metaJSON{LastUpdated: instant(link.Stored), VersionID: "1"},
		Recorded:     instant(recorded),
		ResourceType: "AuditEvent",
		Source: sourceJSON{
			Observer: referenceJSON{Identifier: &identifierJSON{Value: name}},
			Site:     clean(server.Site),
			Type:     []codingJSON{{Code: "4", System: systemSourceType}},
		},
	}
}

// actionOf returns the AuditEvent.action of an interaction: BALP records a
// search and an operation as E (execute).
func actionOf(interaction string) string {
	switch {
	case interaction == "create":
		return "C"
	case interaction == "update" || interaction == "patch":
		return "U"
	case interaction == "delete":
		return "D"
	case interaction == "read" || interaction == "vread" ||
		strings.HasPrefix(interaction, "history"):
		return "R"
	}
	return "E"
}

// outcomeOf maps an HTTP status to AuditEvent.outcome: 0 success, 4 minor
// failure for a client error, 8 serious failure for a server error.
func outcomeOf(status int) string {
	switch {
	case status >= 500:
		return "8"
	case status >= 400:
		return "4"
	}
	return "0"
}

func purposeConcepts(purposes []string, breakGlass bool) []conceptJSON {
	var out []conceptJSON
	hasEmergency := false
	for _, p := range purposes {
		c, ok := parseCoding(p)
		if !ok {
			continue
		}
		if c.System == SystemActReason && c.Code == CodeEmergencyTreatment {
			hasEmergency = true
		}
		out = append(out, conceptJSON{Coding: []codingJSON{c}})
	}
	if breakGlass && !hasEmergency {
		out = append(out, conceptJSON{Coding: []codingJSON{
			{Code: CodeEmergencyTreatment, System: SystemActReason}}})
	}
	return out
}

// parseCoding reads "system|code" or a bare ActReason code.
func parseCoding(token string) (codingJSON, bool) {
	system, code, found := strings.Cut(token, "|")
	if !found {
		system, code = SystemActReason, token
	}
	system, code = clean(system), clean(code)
	if code == "" || system == "" {
		return codingJSON{}, false
	}
	return codingJSON{Code: code, System: system}, true
}

// userAgents returns the BALP user agent (the requestor) and, when the
// request names a client or an address, the client agent.
func userAgents(u Requestor, purposes []conceptJSON) []agentJSON {
	user := agentJSON{
		AltID:        clean(u.Subject),
		PurposeOfUse: purposes,
		Requestor:    true,
		Type: &conceptJSON{Coding: []codingJSON{
			{Code: "UserOauthAgent", System: systemUserAgent}}},
	}
	if ref := clean(u.FHIRUser); ref != "" {
		user.Who = &referenceJSON{Reference: ref}
	} else if user.AltID != "" {
		user.Who = &referenceJSON{Identifier: &identifierJSON{
			System: clean(u.Issuer), Value: user.AltID}}
	}
	if id := clean(u.TokenID); id != "" {
		user.Policy = []string{id}
	}
	agents := []agentJSON{user}

	client := agentJSON{
		Type: &conceptJSON{Coding: []codingJSON{{Code: "110153", System: systemDICOM}}},
	}
	if id := clean(u.ClientID); id != "" {
		client.Who = &referenceJSON{Identifier: &identifierJSON{Value: id}}
	}
	if addr := clean(u.Address); addr != "" {
		client.Network = &networkJSON{Address: addr, Type: "2"}
	}
	if client.Who != nil || client.Network != nil {
		agents = append(agents, client)
	}
	return agents
}

// entities returns one entity per patient, per resource, for the query and
// for the request id, as BALP lists them.
func entities(e Event) []entityJSON {
	var out []entityJSON
	for _, p := range e.Patients {
		if p = clean(p); p == "" {
			continue
		}
		out = append(out, entityJSON{
			Role: &codingJSON{Code: "1", System: systemObjectRole},
			Type: &codingJSON{Code: "1", System: systemEntityType},
			What: &referenceJSON{Reference: "Patient/" + p},
		})
	}
	for _, r := range e.Resources {
		if r = clean(r); r == "" {
			continue
		}
		out = append(out, entityJSON{
			Role: &codingJSON{Code: "4", System: systemObjectRole},
			Type: &codingJSON{Code: "2", System: systemEntityType},
			What: &referenceJSON{Reference: r},
		})
	}
	if e.Query != "" {
		out = append(out, entityJSON{
			Query: base64.StdEncoding.EncodeToString([]byte(e.Query)),
			Role:  &codingJSON{Code: "24", System: systemObjectRole},
			Type:  &codingJSON{Code: "2", System: systemEntityType},
		})
	}
	if id := clean(e.RequestID); id != "" {
		out = append(out, entityJSON{
			Type: &codingJSON{Code: "XrequestId", System: systemEntityBALP},
			What: &referenceJSON{Identifier: &identifierJSON{Value: id}},
		})
	}
	return out
}

// trailRecord returns a record of the trail's own activity: the start or
// stop of a chain, or a retention checkpoint.
func trailRecord(server ServerInfo, link ChainLink, subtype codingJSON,
	action string) *auditJSON {
	a := newRecord(server, link, time.Time{})
	a.Type = codingJSON{Code: "110100", System: systemDICOM}
	a.Subtype = []codingJSON{subtype}
	a.Action = action
	a.Outcome = "0"
	a.Agent[0].Type = &conceptJSON{Coding: []codingJSON{{Code: "110150", System: systemDICOM}}}
	return a
}

// Subtypes of the trail's own records.
var (
	subtypeStart      = codingJSON{Code: "110120", System: systemDICOM}
	subtypeStop       = codingJSON{Code: "110121", System: systemDICOM}
	subtypeCheckpoint = codingJSON{Code: "retention-checkpoint", System: systemTrail}
)
