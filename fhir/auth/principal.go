package auth

import (
	"slices"
	"time"
)

// Principal is the authenticated caller of one request, as the verified
// access token describes it.
type Principal struct {
	Issuer   string
	Subject  string
	ClientID string
	TokenID  string // the jti claim, empty when the token has none

	// FHIRUser is the fhirUser claim, a reference such as
	// "Practitioner/123" or an absolute URL of one.
	FHIRUser string

	// Patient is the launch context patient id. Scopes in the patient/
	// context grant nothing when it is empty.
	Patient string

	// Purposes are the purpose-of-use codes the token carries, as written
	// in the claim (for example "TREAT" or "ETREAT").
	Purposes []string

	// Scopes are the parsed clinical scopes. OtherScopes are the remaining
	// granted scopes (openid, launch/patient, offline_access...), and
	// InvalidScopes the clinical-looking ones that did not parse and so
	// grant nothing.
	Scopes        []Scope
	OtherScopes   []string
	InvalidScopes []string

	IssuedAt  time.Time
	ExpiresAt time.Time
}

// effective reports whether the scope can grant anything to p: a patient/
// scope needs a launch context patient to confine it to.
func (p Principal) effective(s Scope) bool {
	return s.Context != PatientContext || p.Patient != ""
}

// Allows reports whether some scope grants the interaction on the resource
// type. A granular scope counts here, so a caller that gets true must also
// apply ResourceAllowed or SearchRestrictions to the resources involved,
// and PatientScoped to confine the request to one patient's compartment.
func (p Principal) Allows(interaction Interaction, resourceType string) bool {
	for _, s := range p.Scopes {
		if p.effective(s) && s.covers(interaction, resourceType) {
			return true
		}
	}
	return false
}

// PatientScoped reports whether access to resourceType is confined to the
// compartment of the launch context patient, and returns that patient's
// id. It is confined when p.Patient is set and every scope that grants any
// interaction on the type is a patient/ scope. A user/ or system/ scope on
// the type lifts the confinement, because it grants access beyond one
// patient. The result does not tell whether any access is granted, so
// check Allows for that.
func (p Principal) PatientScoped(resourceType string) (patientID string, ok bool) {
	if p.Patient == "" {
		return "", false
	}
	confined := false
	for _, s := range p.Scopes {
		if !s.covers(allInteractions, resourceType) {
			continue
		}
		if s.Context != PatientContext {
			return "", false
		}
		confined = true
	}
	if !confined {
		return "", false
	}
	return p.Patient, true
}

// PatientScopedTypes lists the resource types that the token's patient/
// scopes grant access to, in sorted order. A patient/*.x scope expands to
// PatientCompartmentTypes. The list is empty when the token has no launch
// context patient.
func (p Principal) PatientScopedTypes() []string {
	if p.Patient == "" {
		return nil
	}
	var types []string
	for _, s := range p.Scopes {
		if s.Context != PatientContext || s.Interactions == 0 {
			continue
		}
		if s.ResourceType == "*" {
			types = append(types, patientCompartmentTypes...)
			continue
		}
		types = append(types, s.ResourceType)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

// HasPurpose reports whether the token carries the purpose-of-use code.
func (p Principal) HasPurpose(code string) bool {
	return slices.Contains(p.Purposes, code)
}

// AllowsExplicitly reports whether a scope that names resourceType itself,
// not the wildcard "*", allows the interaction. Custos uses it for the
// audit trail: a user/*.rs token is for clinical data, and reading who
// saw whose record is for auditors whose tokens say so.
func (p Principal) AllowsExplicitly(interaction Interaction, resourceType string) bool {
	for _, s := range p.Scopes {
		if p.effective(s) && s.ResourceType == resourceType && s.covers(interaction, resourceType) {
			return true
		}
	}
	return false
}
