package audit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Access is the part of one AuditEvent that the reports use.
type Access struct {
	ID       string
	Recorded time.Time
	// Rest is false for records that describe no REST interaction, such
	// as the trail's own start, stop and checkpoint records.
	Rest        bool
	Interaction string // restful-interaction code or operation name ("$export")
	Action      string // C, R, U, D or E
	Outcome     string // 0, 4, 8 or 12
	User        string // the requestor's who: a reference or identifier value
	Subject     string // the requestor's altId: the token subject
	ClientID    string
	Address     string
	Purposes    []string // "system|code"
	BreakGlass  bool
	Patients    []string // patient ids
}

// UserKey returns the name under which reports count the requestor: the
// user, else the token subject, else the client id.
func (a Access) UserKey() string {
	for _, s := range []string{a.User, a.Subject, a.ClientID} {
		if s != "" {
			return s
		}
	}
	return "unknown"
}

type accessJSON struct {
	ID    string `json:"id"`
	Agent []struct {
		AltID        string         `json:"altId"`
		Network      *networkJSON   `json:"network"`
		PurposeOfUse []conceptJSON  `json:"purposeOfUse"`
		Requestor    bool           `json:"requestor"`
		Type         *conceptJSON   `json:"type"`
		Who          *referenceJSON `json:"who"`
	} `json:"agent"`
	Entity []struct {
		Role *codingJSON    `json:"role"`
		What *referenceJSON `json:"what"`
	} `json:"entity"`
	Meta     metaJSON     `json:"meta"`
	Outcome  string       `json:"outcome"`
	Action   string       `json:"action"`
	Recorded string       `json:"recorded"`
	Subtype  []codingJSON `json:"subtype"`
	Type     codingJSON   `json:"type"`
}

// ParseAccess reads an opened AuditEvent, whether the trail or a client
// wrote it.
func ParseAccess(body []byte) (Access, error) {
	var doc accessJSON
	if err := json.Unmarshal(body, &doc); err != nil {
		return Access{}, fmt.Errorf("audit: AuditEvent is not valid JSON: %w", err)
	}
	recorded, err := time.Parse(time.RFC3339Nano, doc.Recorded)
	if err != nil {
		return Access{}, fmt.Errorf("audit: AuditEvent/%s has invalid recorded %q",
			doc.ID, doc.Recorded)
	}
	a := Access{ID: doc.ID, Recorded: recorded, Action: doc.Action, Outcome: doc.Outcome,
		Rest: doc.Type.System == systemEventType && doc.Type.Code == "rest"}
	for _, s := range doc.Subtype {
		switch {
		case s.System == systemOperation:
			a.Interaction = s.Code
		case s.System == systemInteraction && a.Interaction == "":
			a.Interaction = s.Code
		}
	}
	for _, s := range doc.Meta.Security {
		if s.System == SystemActReason && s.Code == CodeBreakGlass {
			a.BreakGlass = true
		}
	}
	for _, ag := range doc.Agent {
		readAgent(&a, ag.Requestor, ag.AltID, ag.Who, ag.Network, ag.Type, ag.PurposeOfUse)
	}
	for _, e := range doc.Entity {
		if e.Role == nil || e.Role.Code != "1" || e.What == nil {
			continue
		}
		if id, ok := strings.CutPrefix(e.What.Reference, "Patient/"); ok {
			id, _, _ = strings.Cut(id, "/")
			a.Patients = append(a.Patients, id)
		}
	}
	return a, nil
}

func readAgent(a *Access, requestor bool, altID string, who *referenceJSON,
	network *networkJSON, typ *conceptJSON, purposes []conceptJSON) {
	if requestor {
		a.Subject = altID
		if who != nil {
			a.User = who.Reference
			if a.User == "" && who.Identifier != nil {
				a.User = who.Identifier.Value
			}
		}
		for _, p := range purposes {
			for _, c := range p.Coding {
				a.Purposes = append(a.Purposes, c.System+"|"+c.Code)
			}
		}
		return
	}
	if typ == nil || len(typ.Coding) == 0 || typ.Coding[0].Code != "110153" {
		return
	}
	if who != nil && who.Identifier != nil {
		a.ClientID = who.Identifier.Value
	}
	if network != nil {
		a.Address = network.Address
	}
}

// PatientAccess is one line of a patient's access report: who accessed
// the patient's data, when, how and why.
type PatientAccess struct {
	When        time.Time
	User        string
	ClientID    string
	Interaction string
	Purposes    []string
	BreakGlass  bool
	// Denied reports an access that did not succeed (outcome other
	// than 0), for example a consent denial.
	Denied  bool
	EventID string
}

// AccessReport returns the accesses to patientID's data among events,
// newest first: the content of GET /fhir/Patient/{id}/$access-report.
func AccessReport(patientID string, events []Access) []PatientAccess {
	var out []PatientAccess
	for _, e := range events {
		if !e.Rest || !contains(e.Patients, patientID) {
			continue
		}
		out = append(out, PatientAccess{When: e.Recorded, User: e.UserKey(),
			ClientID: e.ClientID, Interaction: e.Interaction, Purposes: e.Purposes,
			BreakGlass: e.BreakGlass, Denied: e.Outcome != "0", EventID: e.ID})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].When.Equal(out[j].When) {
			return out[i].When.After(out[j].When)
		}
		return out[i].EventID < out[j].EventID
	})
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
