package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/audit"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/rest"
)

// accessReport serves Patient/{id}/$access-report: who accessed the
// patient's data, when, how and why, newest first, as a Parameters
// resource with one "access" parameter per access. The patient (with a
// patient-scoped token for their own id) and auditors (read scopes on
// AuditEvent) may ask for it.
func (a *App) accessReport(c *gin.Context, _, id string) {
	p, _ := auth.FromContext(c)
	patient, scoped := p.PatientScoped("Patient")
	own := scoped && patient == id && p.Allows(auth.Read, "Patient")
	auditor := !scoped && p.AllowsExplicitly(auth.Read|auth.Search, "AuditEvent")
	if !own && !auditor {
		a.REST.Fail(c, outcome.New(http.StatusForbidden, "forbidden",
			"$access-report needs the patient's own patient-scoped token or read and "+
				"search scopes on AuditEvent"))
		return
	}
	if a.Audit == nil {
		a.REST.Fail(c, outcome.New(http.StatusServiceUnavailable, "not-supported",
			"the audit trail is off on this server"))
		return
	}
	events, err := a.AccessEvents(c, id)
	if err != nil {
		a.REST.Fail(c, err)
		return
	}
	x := rest.ExchangeOf(c)
	x.Type = "Patient"
	x.AddPatient(id)
	x.Query = "Patient/" + id + "/$access-report"

	type part struct {
		Name           string          `json:"name"`
		ValueInstant   string          `json:"valueInstant,omitempty"`
		ValueString    string          `json:"valueString,omitempty"`
		ValueCode      string          `json:"valueCode,omitempty"`
		ValueBoolean   *bool           `json:"valueBoolean,omitempty"`
		ValueCoding    *coding         `json:"valueCoding,omitempty"`
		ValueReference *referenceValue `json:"valueReference,omitempty"`
	}
	type parameter struct {
		Name string `json:"name"`
		Part []part `json:"part"`
	}
	var params []parameter
	for _, acc := range audit.AccessReport(id, events) {
		breakGlass := acc.BreakGlass
		outcomeCode := "success"
		if acc.Denied {
			outcomeCode = "denied"
		}
		parts := []part{
			{Name: "when", ValueInstant: acc.When.UTC().Format(time.RFC3339Nano)},
			{Name: "who", ValueString: acc.User},
			{Name: "interaction", ValueCode: acc.Interaction},
			{Name: "outcome", ValueCode: outcomeCode},
			{Name: "breakGlass", ValueBoolean: &breakGlass},
			{Name: "event", ValueReference: &referenceValue{Reference: "AuditEvent/" + acc.EventID}},
		}
		if acc.ClientID != "" {
			parts = append(parts, part{Name: "client", ValueString: acc.ClientID})
		}
		for _, purpose := range acc.Purposes {
			system, code, ok := strings.Cut(purpose, "|")
			if !ok {
				system, code = audit.SystemActReason, purpose
			}
			parts = append(parts, part{Name: "purpose", ValueCoding: &coding{system, code}})
		}
		params = append(params, parameter{Name: "access", Part: parts})
	}
	doc := map[string]any{"resourceType": "Parameters"}
	if len(params) > 0 {
		doc["parameter"] = params
	}
	body, err := json.Marshal(doc)
	if err != nil {
		a.REST.Fail(c, err)
		return
	}
	a.REST.Send(c, http.StatusOK, body)
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type referenceValue struct {
	Reference string `json:"reference"`
}
