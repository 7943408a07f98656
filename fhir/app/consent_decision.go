package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/consent"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/rest"
)

// consentDecision serves Patient/{id}/$consent-decision: the decision the
// patient's Consents give for an actor, purposes, action and resource
// type, and which Consent and provision decided it. Parameters:
// actor (a reference, repeatable), role (a ParticipationType code, default
// PRCP), purpose (an ActReason code or system|code, repeatable), action (a
// consentaction code, default access), type (a resource type, default
// Patient) and time (an instant, default now). Callers need read scope on
// Consent; a patient-scoped token only for its own patient.
func (a *App) consentDecision(c *gin.Context, _, id string) {
	p, _ := auth.FromContext(c)
	if patient, scoped := p.PatientScoped("Consent"); (scoped && patient != id) ||
		!p.Allows(auth.Read, "Consent") {
		a.REST.Fail(c, outcome.New(http.StatusForbidden, "forbidden",
			"$consent-decision needs read scope on Consent for this patient"))
		return
	}
	q := c.Request.URL.Query()
	role := q.Get("role")
	if role == "" {
		role = "PRCP"
	}
	req := consent.Request{PatientID: id, Action: q.Get("action"), Time: time.Now(),
		Resource: consent.Resource{Type: q.Get("type")}}
	if req.Action == "" {
		req.Action = consent.ActionAccess
	}
	if req.Resource.Type == "" {
		req.Resource.Type = "Patient"
	}
	if !model.Served(req.Resource.Type) {
		a.REST.Fail(c, outcome.New(http.StatusBadRequest, "value",
			"type must be a served resource type: %s", strings.Join(model.Types, ", ")))
		return
	}
	if v := q.Get("time"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			a.REST.Fail(c, outcome.New(http.StatusBadRequest, "value",
				"time must be an instant such as 2026-01-31T12:00:00Z"))
			return
		}
		req.Time = t
	}
	for _, actor := range q["actor"] {
		req.Actors = append(req.Actors, consent.Actor{Reference: actor,
			Roles: []consent.Coding{consent.Role(role)}})
	}
	for _, purpose := range q["purpose"] {
		if system, code, ok := strings.Cut(purpose, "|"); ok {
			req.Purposes = append(req.Purposes, consent.Coding{System: system, Code: code})
		} else {
			req.Purposes = append(req.Purposes, consent.Purpose(purpose))
		}
	}

	consents, _, err := a.loadConsents(c, id)
	if err != nil {
		a.REST.Fail(c, err)
		return
	}
	ex := consent.Explain(consents, req, a.Guard.Policy())
	doc := ex.Decision.Parameters()
	params, _ := doc["parameter"].([]any)
	for _, r := range ex.Consents {
		parts := []any{
			map[string]any{"name": "consent",
				"valueReference": map[string]any{"reference": "Consent/" + r.ConsentID}},
			map[string]any{"name": "counted", "valueBoolean": r.Counted},
		}
		for _, f := range [][2]string{{"skipped", r.Skipped}, {"base", r.Base},
			{"provision", r.ProvisionPath}, {"provisionType", r.ProvisionType}} {
			if f[1] != "" {
				parts = append(parts, map[string]any{"name": f[0], "valueString": f[1]})
			}
		}
		params = append(params, map[string]any{"name": "evaluated", "part": parts})
	}
	doc["parameter"] = params
	rest.ExchangeOf(c).AddPatient(id)
	body, err := json.Marshal(doc)
	if err != nil {
		a.REST.Fail(c, err)
		return
	}
	a.REST.Send(c, http.StatusOK, body)
}
