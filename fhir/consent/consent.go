// Package consent decides whether one access to a patient's data is
// permitted by that patient's FHIR R4 Consent resources. It reads decoded
// Consent JSON, does no I/O and keeps no state, apart from the optional
// Cache. RULES.md states the rules of evaluation in plain words.
package consent

import (
	"time"
)

// Code systems that the engine reads.
const (
	SystemConsentScope      = "http://terminology.hl7.org/CodeSystem/consentscope"
	SystemConsentAction     = "http://terminology.hl7.org/CodeSystem/consentaction"
	SystemActReason         = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SystemActCode           = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	SystemConfidentiality   = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	SystemParticipationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemResourceTypes     = "http://hl7.org/fhir/resource-types"
)

// Codes of the consentaction code system, the values of Request.Action.
const (
	ActionCollect  = "collect"
	ActionAccess   = "access"
	ActionUse      = "use"
	ActionDisclose = "disclose"
	ActionCorrect  = "correct"
)

// Coding is a FHIR Coding reduced to what matching needs. A Coding with an
// empty System matches any coding with the same Code.
type Coding struct {
	System string
	Code   string
}

// Purpose returns the v3-ActReason coding of a purpose of use code such as
// "TREAT" or "ETREAT".
func Purpose(code string) Coding {
	return Coding{System: SystemActReason, Code: code}
}

// Role returns the v3-ParticipationType coding of a participation code such
// as "PRCP" (primary information recipient), "AUT" (author) or "CST"
// (custodian).
func Role(code string) Coding {
	return Coding{System: SystemParticipationType, Code: code}
}

// Actor is one party to the access, matched against provision.actor.
// Reference is a literal reference such as "Practitioner/123"; an absolute
// URL or a "_history" suffix is reduced to "Type/id" before comparison.
type Actor struct {
	Reference string
	Roles     []Coding
}

// Resource describes the resource being accessed, as far as provisions
// can test it.
type Resource struct {
	Type string // resource type, for example "Observation"
	ID   string // logical id

	// SecurityLabels are the resource's meta.security codings.
	SecurityLabels []Coding

	// Codes are the codings that provision.code is compared with, for
	// example Observation.code or DocumentReference.type.
	Codes []Coding

	// Classes are class codings besides the resource type, which is
	// always compared as a resource-types code. Examples: a MIME type of
	// an attachment (urn:ietf:bcp:13) or a profile URL.
	Classes []Coding

	// Date is the clinically relevant time of the data, compared with
	// provision.dataPeriod. The zero time means unknown.
	Date time.Time

	// References are the literal references that this resource contains.
	References []string

	// ReferencedBy are resources known to refer to this resource.
	ReferencedBy []string

	// Authors are references to the authors of this resource.
	Authors []string
}

// Reference returns the literal reference "Type/id" of the resource.
func (r Resource) Reference() string {
	return r.Type + "/" + r.ID
}

// Request is one access to be decided.
type Request struct {
	// PatientID is the logical id of the patient whose data is accessed.
	PatientID string

	// Actors are the parties to the access: the requesting user (the
	// fhirUser of the token) and their organization, usually with role
	// PRCP, and, where known, the author (AUT) and custodian (CST) of the
	// data.
	Actors []Actor

	// Purposes are the purposes of use, as v3-ActReason codings.
	Purposes []Coding

	// Action is a consentaction code; ActionForInteraction maps FHIR
	// interactions to it.
	Action string

	// Resource is the resource being accessed.
	Resource Resource

	// Time is the evaluation time. A zero Time is rejected with a deny.
	Time time.Time
}

// DefaultPolicy is the server's rule for data that no Consent covers.
type DefaultPolicy int

const (
	// OptIn denies access to a patient's data unless a Consent permits
	// it. It is the zero value.
	OptIn DefaultPolicy = iota
	// OptOut permits access to a patient's data unless a Consent denies it.
	OptOut
)

// String returns "opt-in" or "opt-out".
func (p DefaultPolicy) String() string {
	if p == OptOut {
		return "opt-out"
	}
	return "opt-in"
}

// Policy is the server configuration that decisions depend on.
type Policy struct {
	// Default decides for patients without a counted Consent and is the
	// base policy of a Consent whose policyRule the engine does not know.
	Default DefaultPolicy

	// BreakGlass lets a request whose purposes include ETREAT override a
	// deny. The decision is then marked BreakGlass for the audit trail.
	BreakGlass bool

	// Location is the time zone of dates without a time of day in
	// Consents ("2016-01-01"). Nil means UTC.
	Location *time.Location
}

// Decision is the outcome of one request.
type Decision struct {
	// Permit reports whether the access may proceed.
	Permit bool

	// BreakGlass reports that a deny was overridden for emergency
	// treatment. The caller must record it in the audit trail.
	BreakGlass bool

	// ConsentID is the logical id of the Consent that decided, or empty
	// when the server's default policy decided.
	ConsentID string

	// ProvisionPath is the FHIRPath-style location of the deciding
	// provision in that Consent, with 0-based indexes, for example
	// "provision.provision[1]". It is empty when the Consent's base policy
	// decided.
	ProvisionPath string

	// Reason is the cause of the decision in plain words, without PHI.
	Reason string
}

// Decide returns the decision for req under the patient's consents. It
// reads each element of consents as a decoded Consent resource and ignores
// entries that are not Consents of req.PatientID. RULES.md gives the rules.
func Decide(consents []map[string]any, req Request, policy Policy) Decision {
	set := compileSet(consents, policy.Location)
	return set.decide(req, policy, nil)
}
