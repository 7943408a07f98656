// Package access makes the access decision of each request. The bearer
// token's SMART scopes and launch context decide the interaction, type and
// compartment. The patient's Consent resources decide whether this actor,
// for this purpose of use, may see this patient's data.
package access

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/consent"
	"github.com/custos/custos/fhir/outcome"
)

// Guard decides access. It is safe for concurrent use.
type Guard struct {
	consents *consent.Cache
	policy   consent.Policy
	now      func() time.Time
}

// New returns a Guard that decides patient data access from consents under
// policy.
func New(consents *consent.Cache, policy consent.Policy) *Guard {
	return &Guard{consents: consents, policy: policy, now: time.Now}
}

// Policy returns the consent policy in force.
func (g *Guard) Policy() consent.Policy { return g.policy }

// Decision is the outcome of an access check that permitted the access.
type Decision struct {
	BreakGlass    bool
	ConsentID     string
	ProvisionPath string
	Reason        string
}

// Interaction names a FHIR interaction for scopes and consent.
type Interaction struct {
	Name  string           // read, vread, search-type, history-instance, create, ...
	Scope auth.Interaction // the SMART interaction it needs
}

// Common interactions.
var (
	Read            = Interaction{"read", auth.Read}
	VRead           = Interaction{"vread", auth.Read}
	SearchType      = Interaction{"search-type", auth.Search}
	HistoryInstance = Interaction{"history-instance", auth.Read}
	HistoryType     = Interaction{"history-type", auth.Search}
	HistorySystem   = Interaction{"history-system", auth.Search}
	Create          = Interaction{"create", auth.Create}
	Update          = Interaction{"update", auth.Update}
	Delete          = Interaction{"delete", auth.Delete}
)

// Operation returns the interaction of a read-only operation such as
// $everything.
func Operation(name string) Interaction { return Interaction{name, auth.Read | auth.Search} }

// Type checks that the token's scopes allow the interaction on typ at all.
// The audit trail needs scopes that name AuditEvent: wildcard scopes are
// for clinical data, and an AuditEvent names patients and, in its query,
// what was searched, so it must not reach a practitioner whom those
// patients' Consents deny.
func (g *Guard) Type(p auth.Principal, in Interaction, typ string) error {
	if typ == "AuditEvent" {
		if p.AllowsExplicitly(in.Scope, typ) {
			return nil
		}
		return outcome.New(http.StatusForbidden, "forbidden",
			"the audit trail needs a scope that names AuditEvent, such as "+
				"user/AuditEvent.rs; wildcard scopes do not cover it")
	}
	if p.Allows(in.Scope, typ) {
		return nil
	}
	return outcome.New(http.StatusForbidden, "forbidden",
		"the token's scopes do not allow %s on %s (scopes granted: %s)",
		in.Scope, typ, scopeList(p))
}

func scopeList(p auth.Principal) string {
	raw := make([]string, 0, len(p.Scopes))
	for _, s := range p.Scopes {
		raw = append(raw, s.Raw)
	}
	if len(raw) == 0 {
		return "none"
	}
	return strings.Join(raw, " ")
}

// Target is a resource a request reads or writes.
type Target struct {
	Type string
	ID   string
	// Compartment is the id of the patient whose compartment the resource
	// is in, or "" when it is in none.
	Compartment string
	// Body is the resource's JSON; it may be nil for writes that delete.
	Body []byte
}

// Resource decides whether p may perform in on target: scopes, patient
// launch context, granular scope restrictions and the patient's consent.
// A refusal is an *outcome.Error with status 403, wrapped in a
// *ConsentDenied when the consent refused, so that search can drop the hit.
func (g *Guard) Resource(ctx context.Context, p auth.Principal, in Interaction,
	t Target) (Decision, error) {
	if err := g.Type(p, in, t.Type); err != nil {
		return Decision{}, err
	}
	if patient, ok := p.PatientScoped(t.Type); ok && t.Compartment != patient {
		return Decision{}, outcome.New(http.StatusForbidden, "forbidden",
			"%s/%s is outside the patient compartment of the token", t.Type, t.ID)
	}
	var decoded map[string]any
	if _, unrestricted := p.SearchRestrictions(t.Type); !unrestricted && t.Body != nil {
		if err := json.Unmarshal(t.Body, &decoded); err != nil {
			return Decision{}, fmt.Errorf("decode %s/%s: %w", t.Type, t.ID, err)
		}
		if !p.AllowsResource(in.Scope, t.Type, decoded) {
			return Decision{}, outcome.New(http.StatusForbidden, "forbidden",
				"the token's granular scopes do not cover %s/%s", t.Type, t.ID)
		}
	}
	return g.consent(ctx, p, in, t)
}

// ConsentDenied marks a refusal that a patient's consent (or the default
// policy) decided, as opposed to the token's scopes.
type ConsentDenied struct {
	Outcome  *outcome.Error
	Decision consent.Decision
}

// Error returns the outcome's message.
func (e *ConsentDenied) Error() string { return e.Outcome.Error() }

// Unwrap returns the OperationOutcome error, so that outcome.As finds it.
func (e *ConsentDenied) Unwrap() error { return e.Outcome }

// consent evaluates the patient's Consents, which govern disclosure: reads,
// searches, history and operations that return data. Writes are governed
// by scopes alone, so that a custodian can record data (the Consents
// included) whatever they state. Resources in no compartment and a patient
// reading their own record need no consent.
func (g *Guard) consent(ctx context.Context, p auth.Principal, in Interaction,
	t Target) (Decision, error) {
	if t.Compartment == "" || g.consents == nil || in.Scope&(auth.Create|auth.Update|auth.Delete) != 0 {
		return Decision{}, nil
	}
	if p.FHIRUser == "Patient/"+t.Compartment ||
		(p.Patient == t.Compartment && p.FHIRUser == "") {
		return Decision{Reason: "the patient's own record"}, nil
	}
	action, ok := consent.ActionForInteraction(consentInteraction(in.Name))
	if !ok {
		action = consent.ActionAccess
	}
	req := consent.Request{
		PatientID: t.Compartment,
		Actors:    actors(p),
		Purposes:  purposes(p),
		Action:    action,
		Resource:  facts(t),
		Time:      g.now(),
	}
	d, err := g.consents.Decide(ctx, req, g.policy)
	if err != nil {
		return Decision{}, fmt.Errorf("consent decision for %s/%s: %w", t.Type, t.ID, err)
	}
	if !d.Permit {
		return Decision{}, &ConsentDenied{
			Outcome: outcome.New(http.StatusForbidden, "suppressed",
				"access to %s/%s is denied by the patient's consent: %s", t.Type, t.ID, d.Reason),
			Decision: d,
		}
	}
	return Decision{BreakGlass: d.BreakGlass, ConsentID: d.ConsentID,
		ProvisionPath: d.ProvisionPath, Reason: d.Reason}, nil
}

// consentInteraction maps REST interaction names to the names the consent
// package maps to actions.
func consentInteraction(name string) string {
	switch {
	case strings.HasPrefix(name, "search"):
		return "search"
	case strings.HasPrefix(name, "history"):
		return "history"
	case name == "$everything", name == "$access-report":
		return "read"
	}
	return name
}

// actors returns the requesting user as a consent actor with role PRCP
// (information recipient): the party the data is disclosed to.
func actors(p auth.Principal) []consent.Actor {
	if p.FHIRUser == "" {
		return nil
	}
	return []consent.Actor{{Reference: p.FHIRUser, Roles: []consent.Coding{consent.Role("PRCP")}}}
}

// purposes turns the token's purpose-of-use values into codings: a bare
// code is an HL7 v3 ActReason code, "system|code" names its system.
func purposes(p auth.Principal) []consent.Coding {
	out := make([]consent.Coding, 0, len(p.Purposes))
	for _, v := range p.Purposes {
		if system, code, ok := strings.Cut(v, "|"); ok {
			out = append(out, consent.Coding{System: system, Code: code})
			continue
		}
		out = append(out, consent.Purpose(v))
	}
	return out
}

// facts reads what consent provisions may test from the resource JSON:
// security labels, codes, date, references and authors.
func facts(t Target) consent.Resource {
	r := consent.Resource{Type: t.Type, ID: t.ID}
	if len(t.Body) == 0 {
		return r
	}
	var doc struct {
		Meta struct {
			Security []coding `json:"security"`
		} `json:"meta"`
		Type     *concept                   `json:"type"`
		Category []concept                  `json:"category"`
		Date     string                     `json:"date"`
		Author   []ref                      `json:"author"`
		Subject  *ref                       `json:"subject"`
		Context  *struct{ Encounter []ref } `json:"context"`
	}
	if json.Unmarshal(t.Body, &doc) != nil {
		return r
	}
	for _, c := range doc.Meta.Security {
		r.SecurityLabels = append(r.SecurityLabels, consent.Coding{System: c.System, Code: c.Code})
	}
	if doc.Type != nil {
		for _, c := range doc.Type.Coding {
			r.Codes = append(r.Codes, consent.Coding{System: c.System, Code: c.Code})
		}
	}
	for _, cat := range doc.Category {
		for _, c := range cat.Coding {
			r.Classes = append(r.Classes, consent.Coding{System: c.System, Code: c.Code})
		}
	}
	if doc.Date != "" {
		if d, err := time.Parse(time.RFC3339Nano, doc.Date); err == nil {
			r.Date = d
		}
	}
	for _, a := range doc.Author {
		if a.Reference != "" {
			r.Authors = append(r.Authors, a.Reference)
			r.References = append(r.References, a.Reference)
		}
	}
	if doc.Subject != nil && doc.Subject.Reference != "" {
		r.References = append(r.References, doc.Subject.Reference)
	}
	return r
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

type ref struct {
	Reference string `json:"reference"`
}
