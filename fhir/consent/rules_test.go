package consent

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const testPatient = "129c6ac7-8d06-89de-ad63-0204a93e76c3"

// consentJSON writes a Consent of testPatient with the given id, status,
// dateTime, policyRule code and provision JSON ("" leaves each out).
func consentJSON(id, status, dateTime, policyRule, provision string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"resourceType":"Consent","id":%q,"status":%q,`, id, status)
	b.WriteString(`"scope":{"coding":[{"system":"` + SystemConsentScope +
		`","code":"patient-privacy"}]},`)
	if dateTime != "" {
		fmt.Fprintf(&b, `"dateTime":%q,`, dateTime)
	}
	if policyRule != "" {
		b.WriteString(`"policyRule":{"coding":[{"system":"` + SystemActCode +
			`","code":"` + policyRule + `"}]},`)
	}
	if provision != "" {
		b.WriteString(`"provision":` + provision + `,`)
	}
	b.WriteString(`"patient":{"reference":"Patient/` + testPatient + `"}}`)
	return b.String()
}

const (
	actorA = `{"role":{"coding":[{"system":"` + SystemParticipationType +
		`","code":"PRCP"}]},"reference":{"reference":"Practitioner/a"}}`
	classOb = `{"system":"` + SystemResourceTypes + `","code":"Observation"}`
)

// ruleRequest reads an Observation as Practitioner/a for TREAT in 2024.
func ruleRequest() Request {
	return Request{
		PatientID: testPatient,
		Actors:    []Actor{actor("Practitioner/a", "PRCP")},
		Purposes:  []Coding{Purpose("TREAT")},
		Action:    ActionAccess,
		Resource:  Resource{Type: "Observation", ID: "obs-1"},
		Time:      time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

type ruleRow struct {
	name     string
	consents []string
	edit     func(*Request)
	policy   Policy
	want     want
}

func runRuleRows(t *testing.T, rows []ruleRow) {
	t.Helper()
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			var consents []map[string]any
			for _, s := range row.consents {
				consents = append(consents, decodeJSON(t, s))
			}
			req := ruleRequest()
			if row.edit != nil {
				row.edit(&req)
			}
			checkDecision(t, Decide(consents, req, row.policy), row.want)
		})
	}
}

// nestedConsent: opt-in; root permits Practitioner/a; nested deny for
// Observations, inside which a nested permit for LOINC 8867-4.
var nestedConsent = consentJSON("nested", "active", "2020-01-01", "OPTIN",
	`{"actor":[`+actorA+`],"provision":[{"type":"deny","class":[`+classOb+`],`+
		`"provision":[{"type":"permit","code":[{"coding":[`+
		`{"system":"http://loinc.org","code":"8867-4"}]}]}]}]}`)

func TestDecideNestedProvisions(t *testing.T) {
	runRuleRows(t, []ruleRow{
		{
			// The nested deny is deeper than the root permit.
			name: "nested deny inside permit", consents: []string{nestedConsent},
			want: want{consentID: "nested", path: "provision.provision[0]"},
		},
		{
			// A Condition fails the nested class: the root permits.
			name: "parent permit outside the exception", consents: []string{nestedConsent},
			edit: func(r *Request) { r.Resource = Resource{Type: "Condition", ID: "c-1"} },
			want: want{permit: true, consentID: "nested", path: "provision"},
		},
		{
			// Heart rate is the exception to the exception: permit.
			name: "permit nested inside deny", consents: []string{nestedConsent},
			edit: func(r *Request) { r.Resource.Codes = []Coding{loinc("8867-4")} },
			want: want{permit: true, consentID: "nested",
				path: "provision.provision[0].provision[0]"},
		},
		{
			// Another practitioner fails the root, so the nested provisions
			// are not reached: OPTIN base denies.
			name: "nested rules need the parent to match", consents: []string{nestedConsent},
			edit: func(r *Request) {
				r.Actors = []Actor{actor("Practitioner/b", "PRCP")}
				r.Resource.Codes = []Coding{loinc("8867-4")}
			},
			want: want{consentID: "nested"},
		},
		{
			// Two siblings at the same depth, permit first then deny: the
			// deny wins the tie.
			name: "sibling tie goes to deny",
			consents: []string{consentJSON("siblings", "active", "2020-01-01", "OPTOUT",
				`{"type":"permit","provision":[{"type":"permit","class":[`+classOb+`]},`+
					`{"type":"deny","class":[`+classOb+`]}]}`)},
			want: want{consentID: "siblings", path: "provision.provision[1]"},
		},
	})
}

func TestDecidePeriods(t *testing.T) {
	expiredNested := consentJSON("expired-nested", "active", "2020-01-01", "OPTIN",
		`{"provision":[{"type":"deny","period":{"start":"2021-01-01","end":"2022-12-31"}}]}`)
	runRuleRows(t, []ruleRow{
		{
			// The nested deny expired in 2022: only the root permit remains.
			name: "expired nested deny", consents: []string{expiredNested},
			want: want{permit: true, consentID: "expired-nested", path: "provision"},
		},
		{
			// In 2022 the nested deny is in force.
			name: "nested deny while in force", consents: []string{expiredNested},
			edit: func(r *Request) { r.Time = time.Date(2022, 12, 31, 23, 0, 0, 0, time.UTC) },
			want: want{consentID: "expired-nested", path: "provision.provision[0]"},
		},
		{
			// An expired root permit leaves the OPTIN base: deny.
			name: "expired root permit",
			consents: []string{consentJSON("expired-root", "active", "2020-01-01", "OPTIN",
				`{"period":{"start":"2020-01-01","end":"2023-06"}}`)},
			want: want{consentID: "expired-root"},
		},
		{
			// End "2024-03" covers all of March 2024.
			name: "month precision end",
			consents: []string{consentJSON("month-end", "active", "2020-01-01", "OPTIN",
				`{"period":{"start":"2020-01-01","end":"2024-03"}}`)},
			want: want{permit: true, consentID: "month-end", path: "provision"},
		},
		{
			// A period that cannot be parsed makes a permit not apply.
			name: "unparseable period on permit",
			consents: []string{consentJSON("bad-period", "active", "2020-01-01", "OPTIN",
				`{"period":{"start":"first of May"}}`)},
			policy: Policy{Default: OptOut},
			want:   want{consentID: "bad-period"},
		},
		{
			// The same on a deny makes the deny apply.
			name: "unparseable period on deny",
			consents: []string{consentJSON("bad-period-deny", "active", "2020-01-01", "OPTOUT",
				`{"period":{"end":"soon"}}`)},
			want: want{consentID: "bad-period-deny", path: "provision"},
		},
		{
			// Date-only bounds are read in Policy.Location: 2024-03-01 ends
			// at 05:00 UTC on the 2nd in New York, so 03:00 UTC is inside.
			name: "date bound in a time zone",
			consents: []string{consentJSON("zone", "active", "2020-01-01", "OPTIN",
				`{"period":{"end":"2024-03-01"}}`)},
			edit:   func(r *Request) { r.Time = time.Date(2024, 3, 2, 3, 0, 0, 0, time.UTC) },
			policy: Policy{Location: newYork(t)},
			want:   want{permit: true, consentID: "zone", path: "provision"},
		},
		{
			// In UTC the same instant is after the end.
			name: "date bound in UTC",
			consents: []string{consentJSON("zone", "active", "2020-01-01", "OPTIN",
				`{"period":{"end":"2024-03-01"}}`)},
			edit: func(r *Request) { r.Time = time.Date(2024, 3, 2, 3, 0, 0, 0, time.UTC) },
			want: want{consentID: "zone"},
		},
	})
}

func newYork(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("time zone database not available: %v", err)
	}
	return loc
}

func TestDecideConsentStatusAndDate(t *testing.T) {
	permitAll := `{"actor":[` + actorA + `]}`
	var rows []ruleRow
	statuses := []string{"inactive", "rejected", "draft", "proposed", "entered-in-error"}
	for _, status := range statuses {
		rows = append(rows, ruleRow{
			// A Consent that is not active does not count: opt-in default.
			name:     "status " + status + " not counted",
			consents: []string{consentJSON("c-"+status, status, "2020-01-01", "OPTIN", permitAll)},
			want:     want{},
		})
	}
	rows = append(rows,
		ruleRow{
			// The active one permits; the revoked deny is ignored.
			name: "revoked deny beside active permit",
			consents: []string{
				consentJSON("revoked", "inactive", "2021-01-01", "OPTOUT", permitAll),
				consentJSON("current", "active", "2020-01-01", "OPTIN", permitAll),
			},
			want: want{permit: true, consentID: "current", path: "provision"},
		},
		ruleRow{
			// Dated a day after the evaluation time: not counted.
			name:     "consent dated in the future",
			consents: []string{consentJSON("future", "active", "2024-03-02", "OPTIN", permitAll)},
			policy:   Policy{Default: OptIn},
			want:     want{},
		},
		ruleRow{
			// The same Consent counts from its date on.
			name:     "consent dated today",
			consents: []string{consentJSON("today", "active", "2024-03-01", "OPTIN", permitAll)},
			want:     want{permit: true, consentID: "today", path: "provision"},
		},
		ruleRow{
			// Scope treatment is not a privacy Consent: not counted.
			name: "scope other than privacy",
			consents: []string{strings.Replace(
				consentJSON("treatment", "active", "2020-01-01", "OPTIN", permitAll),
				`"patient-privacy"`, `"treatment"`, 1)},
			want: want{},
		},
		ruleRow{
			// Another resource type in the list is ignored.
			name:     "not a Consent",
			consents: []string{`{"resourceType":"Patient","id":"p"}`},
			policy:   Policy{Default: OptOut},
			want:     want{permit: true},
		},
	)
	runRuleRows(t, rows)
}

func TestDecideDefaultPolicy(t *testing.T) {
	noRule := consentJSON("no-rule", "active", "2020-01-01", "",
		`{"actor":[`+actorA+`]}`)
	runRuleRows(t, []ruleRow{
		{
			// No Consent at all, opt-in: deny.
			name: "opt-in without consent", want: want{},
		},
		{
			// No Consent at all, opt-out: permit.
			name: "opt-out without consent", policy: Policy{Default: OptOut},
			want: want{permit: true},
		},
		{
			// No policyRule, opt-in default: the root is a permit exception.
			name: "no policyRule under opt-in", consents: []string{noRule},
			want: want{permit: true, consentID: "no-rule", path: "provision"},
		},
		{
			// No policyRule, opt-out default: the root is a deny exception.
			name: "no policyRule under opt-out", consents: []string{noRule},
			policy: Policy{Default: OptOut},
			want:   want{consentID: "no-rule", path: "provision"},
		},
		{
			// No policyRule and no match: the server default is the base.
			name: "no policyRule, no match", consents: []string{noRule},
			edit:   func(r *Request) { r.Actors = nil },
			policy: Policy{Default: OptOut},
			want:   want{permit: true, consentID: "no-rule"},
		},
		{
			// A Consent without provisions decides by its base alone.
			name:     "opt-out consent without provision",
			consents: []string{consentJSON("bare", "active", "2020-01-01", "OPTOUT", "")},
			want:     want{permit: true, consentID: "bare"},
		},
	})
}

func TestDecideBreakGlass(t *testing.T) {
	denyA := consentJSON("deny-a", "active", "2020-01-01", "OPTOUT", `{"actor":[`+actorA+`]}`)
	withPurpose := func(codes ...string) func(*Request) {
		return func(r *Request) {
			r.Purposes = nil
			for _, c := range codes {
				r.Purposes = append(r.Purposes, Purpose(c))
			}
		}
	}
	runRuleRows(t, []ruleRow{
		{
			// Break-glass on, ETREAT: the provision deny becomes a permit.
			name: "on with ETREAT", consents: []string{denyA}, edit: withPurpose("TREAT", "ETREAT"),
			policy: Policy{BreakGlass: true},
			want:   want{permit: true, breakGlass: true, consentID: "deny-a", path: "provision"},
		},
		{
			// Break-glass off, ETREAT: no special treatment.
			name: "off with ETREAT", consents: []string{denyA}, edit: withPurpose("ETREAT"),
			want: want{consentID: "deny-a", path: "provision"},
		},
		{
			// Break-glass on, TREAT only: the deny remains.
			name: "on without ETREAT", consents: []string{denyA}, edit: withPurpose("TREAT"),
			policy: Policy{BreakGlass: true},
			want:   want{consentID: "deny-a", path: "provision"},
		},
		{
			// Break-glass also overrides the opt-in default.
			name: "on over default deny", edit: withPurpose("ETREAT"),
			policy: Policy{BreakGlass: true},
			want:   want{permit: true, breakGlass: true},
		},
		{
			// A permit is not marked break-glass.
			name: "permit stays unmarked", edit: withPurpose("ETREAT"),
			policy: Policy{Default: OptOut, BreakGlass: true},
			want:   want{permit: true},
		},
		{
			// A request that cannot be decided is denied, break-glass or not.
			name: "invalid request not overridden", edit: func(r *Request) {
				r.Purposes = []Coding{Purpose("ETREAT")}
				r.Time = time.Time{}
			},
			policy: Policy{Default: OptOut, BreakGlass: true},
			want:   want{},
		},
	})
}

func TestDecideSeveralConsents(t *testing.T) {
	permitA := `{"actor":[` + actorA + `]}`
	runRuleRows(t, []ruleRow{
		{
			// An older deny beats a newer permit: deny overrides.
			name: "deny overrides newer permit",
			consents: []string{
				consentJSON("old-deny", "active", "2019-01-01", "OPTOUT", permitA),
				consentJSON("new-permit", "active", "2023-01-01", "OPTIN", permitA),
			},
			want: want{consentID: "old-deny", path: "provision"},
		},
		{
			// One opt-in Consent grants A; another opt-in grants B. A's
			// grant beats the second Consent's base deny.
			name: "provision beats another base",
			consents: []string{
				consentJSON("grant-a", "active", "2019-01-01", "OPTIN", permitA),
				consentJSON("grant-b", "active", "2023-01-01", "OPTIN",
					strings.Replace(permitA, "Practitioner/a", "Practitioner/b", 1)),
			},
			want: want{permit: true, consentID: "grant-a", path: "provision"},
		},
		{
			// Nothing matches: an opt-in base beats an opt-out base.
			name: "base deny beats base permit",
			consents: []string{
				consentJSON("base-out", "active", "2023-01-01", "OPTOUT", ""),
				consentJSON("base-in", "active", "2019-01-01", "OPTIN", ""),
			},
			want: want{consentID: "base-in"},
		},
		{
			// Two permits: the newest is reported.
			name: "newest of equal outcomes reported",
			consents: []string{
				consentJSON("permit-2019", "active", "2019-01-01", "OPTIN", permitA),
				consentJSON("permit-2023", "active", "2023-01-01", "OPTIN", permitA),
			},
			want: want{permit: true, consentID: "permit-2023", path: "provision"},
		},
	})
}

func TestDecideConditions(t *testing.T) {
	labelDeny := func(id, system, code string) string {
		return consentJSON(id, "active", "2020-01-01", "OPTOUT",
			`{"securityLabel":[{"system":"`+system+`","code":"`+code+`"}]}`)
	}
	dataPeriodDeny := consentJSON("dp-deny", "active", "2020-01-01", "OPTOUT",
		`{"dataPeriod":{"start":"2010-01-01","end":"2012-12-31"}}`)
	dataPeriodPermit := consentJSON("dp-permit", "active", "2020-01-01", "OPTIN",
		`{"dataPeriod":{"start":"2010-01-01","end":"2012-12-31"}}`)
	dataOf := func(meaning string) string {
		return consentJSON("data-"+meaning, "active", "2020-01-01", "OPTOUT",
			`{"data":[{"meaning":"`+meaning+`","reference":{"reference":"Encounter/e1"}}]}`)
	}
	setDate := func(s string) func(*Request) {
		return func(r *Request) { r.Resource.Date = mustTime(t, s) }
	}
	runRuleRows(t, []ruleRow{
		{
			// Class Observation permits Observations.
			name: "class matches resource type",
			consents: []string{consentJSON("class", "active", "2020-01-01", "OPTIN",
				`{"class":[`+classOb+`]}`)},
			want: want{permit: true, consentID: "class", path: "provision"},
		},
		{
			// ...and not Conditions.
			name: "class excludes other type",
			consents: []string{consentJSON("class", "active", "2020-01-01", "OPTIN",
				`{"class":[`+classOb+`]}`)},
			edit: func(r *Request) { r.Resource.Type = "Condition" },
			want: want{consentID: "class"},
		},
		{
			// A MIME type class compares with Resource.Classes.
			name: "class by MIME type",
			consents: []string{consentJSON("mime", "active", "2020-01-01", "OPTIN",
				`{"class":[{"system":"urn:ietf:bcp:13","code":"application/pdf"}]}`)},
			edit: func(r *Request) {
				r.Resource = Resource{Type: "DocumentReference", ID: "d1",
					Classes: []Coding{{System: "urn:ietf:bcp:13", Code: "application/pdf"}}}
			},
			want: want{permit: true, consentID: "mime", path: "provision"},
		},
		{
			// A deny on HIV-labelled data applies to such data.
			name:     "sensitivity label present",
			consents: []string{labelDeny("hiv", SystemActCode, "HIV")},
			edit: func(r *Request) {
				r.Resource.SecurityLabels = []Coding{sensitivity("HIV"), confidentiality("R")}
			},
			want: want{consentID: "hiv", path: "provision"},
		},
		{
			// ...and not to unlabelled data.
			name:     "sensitivity label absent",
			consents: []string{labelDeny("hiv", SystemActCode, "HIV")},
			want:     want{permit: true, consentID: "hiv"},
		},
		{
			// Confidentiality R covers N (and unlabelled, read as N).
			name:     "confidentiality covers lower",
			consents: []string{labelDeny("conf-r", SystemConfidentiality, "R")},
			want:     want{consentID: "conf-r", path: "provision"},
		},
		{
			// Confidentiality R does not cover V.
			name:     "confidentiality excludes higher",
			consents: []string{labelDeny("conf-r", SystemConfidentiality, "R")},
			edit: func(r *Request) {
				r.Resource.SecurityLabels = []Coding{confidentiality("V")}
			},
			want: want{permit: true, consentID: "conf-r"},
		},
		{
			// Data from 2011 is inside the dataPeriod: the deny applies.
			name: "dataPeriod inside", consents: []string{dataPeriodDeny},
			edit: setDate("2011-06-01T00:00:00Z"),
			want: want{consentID: "dp-deny", path: "provision"},
		},
		{
			// Data from 2013 is outside: OPTOUT base permits.
			name: "dataPeriod outside", consents: []string{dataPeriodDeny},
			edit: setDate("2013-01-01T00:00:00Z"),
			want: want{permit: true, consentID: "dp-deny"},
		},
		{
			// Unknown data date: a deny with a dataPeriod applies.
			name: "dataPeriod unknown on deny", consents: []string{dataPeriodDeny},
			want: want{consentID: "dp-deny", path: "provision"},
		},
		{
			// Unknown data date: a permit with a dataPeriod does not.
			name: "dataPeriod unknown on permit", consents: []string{dataPeriodPermit},
			want: want{consentID: "dp-permit"},
		},
		{
			// instance: only the Encounter itself.
			name: "data instance itself", consents: []string{dataOf("instance")},
			edit: func(r *Request) { r.Resource = Resource{Type: "Encounter", ID: "e1"} },
			want: want{consentID: "data-instance", path: "provision"},
		},
		{
			// instance: an Observation that refers to it is not covered.
			name: "data instance excludes referrers", consents: []string{dataOf("instance")},
			edit: func(r *Request) { r.Resource.References = []string{"Encounter/e1"} },
			want: want{permit: true, consentID: "data-instance"},
		},
		{
			// dependents: an Observation that refers to the Encounter.
			name: "data dependents", consents: []string{dataOf("dependents")},
			edit: func(r *Request) { r.Resource.References = []string{"Encounter/e1"} },
			want: want{consentID: "data-dependents", path: "provision"},
		},
		{
			// authoredby: a resource whose author is the referenced one.
			name: "data authoredby",
			consents: []string{strings.Replace(dataOf("authoredby"),
				"Encounter/e1", "Practitioner/x", 1)},
			edit: func(r *Request) { r.Resource.Authors = []string{"Practitioner/x"} },
			want: want{consentID: "data-authoredby", path: "provision"},
		},
		{
			// An unknown meaning makes a deny apply.
			name: "data unknown meaning on deny", consents: []string{dataOf("whatever")},
			want: want{consentID: "data-whatever", path: "provision"},
		},
		{
			// Purpose HPAYMT does not match a TREAT request.
			name: "purpose mismatch",
			consents: []string{consentJSON("payment", "active", "2020-01-01", "OPTIN",
				`{"purpose":[{"system":"`+SystemActReason+`","code":"HPAYMT"}]}`)},
			want: want{consentID: "payment"},
		},
		{
			// An action given only as text cannot be compared: a permit
			// with it does not apply.
			name: "action as text only",
			consents: []string{consentJSON("text-action", "active", "2020-01-01", "OPTIN",
				`{"action":[{"text":"look at"}]}`)},
			want: want{consentID: "text-action"},
		},
	})
}

func TestDecideInvalidRequest(t *testing.T) {
	cases := map[string]func(*Request){
		"no patient":       func(r *Request) { r.PatientID = "" },
		"no time":          func(r *Request) { r.Time = time.Time{} },
		"no action":        func(r *Request) { r.Action = "" },
		"no resource type": func(r *Request) { r.Resource.Type = "" },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			req := ruleRequest()
			edit(&req)
			d := Decide(nil, req, Policy{Default: OptOut})
			checkDecision(t, d, want{})
		})
	}
}

func TestActionForInteraction(t *testing.T) {
	cases := []struct {
		interaction, action string
		ok                  bool
	}{
		{"read", ActionAccess, true},
		{"vread", ActionAccess, true},
		{"search-type", ActionAccess, true},
		{"history-instance", ActionAccess, true},
		{"create", ActionCollect, true},
		{"update", ActionCorrect, true},
		{"patch", ActionCorrect, true},
		{"delete", ActionCorrect, true},
		{"$export", ActionDisclose, true},
		{"transaction", "", false},
		{"capabilities", "", false},
	}
	for _, c := range cases {
		got, ok := ActionForInteraction(c.interaction)
		if got != c.action || ok != c.ok {
			t.Errorf("ActionForInteraction(%q) = %q, %v; want %q, %v",
				c.interaction, got, ok, c.action, c.ok)
		}
	}
}

func TestExplainAndParameters(t *testing.T) {
	consents := []map[string]any{
		decodeJSON(t, nestedConsent),
		decodeJSON(t, consentJSON("revoked", "inactive", "2021-01-01", "OPTOUT", "")),
		decodeJSON(t, strings.Replace(consentJSON("other", "active", "2021-01-01", "OPTOUT", ""),
			testPatient, "someone-else", 1)),
	}
	e := Explain(consents, ruleRequest(), Policy{})
	checkDecision(t, e.Decision, want{consentID: "nested", path: "provision.provision[0]"})

	byID := map[string]ConsentResult{}
	for _, r := range e.Consents {
		byID[r.ConsentID] = r
	}
	if len(byID) != 3 {
		t.Fatalf("Explain listed %d Consents, want 3: %+v", len(byID), e.Consents)
	}
	if r := byID["revoked"]; r.Counted || !strings.Contains(r.Skipped, "inactive") {
		t.Errorf("revoked: got %+v, want skipped for status inactive", r)
	}
	if r := byID["other"]; r.Counted || !strings.Contains(r.Skipped, "another patient") {
		t.Errorf("other: got %+v, want skipped for another patient", r)
	}
	nested := byID["nested"]
	if !nested.Counted || nested.Base != "deny" || nested.ProvisionType != "deny" ||
		nested.ProvisionPath != "provision.provision[0]" {
		t.Errorf("nested: got %+v", nested)
	}

	params := e.Decision.Parameters()
	list, _ := params["parameter"].([]any)
	values := map[string]any{}
	for _, p := range list {
		m := p.(map[string]any)
		for k, v := range m {
			if k != "name" {
				values[m["name"].(string)] = v
			}
		}
	}
	if values["decision"] != "deny" {
		t.Errorf("decision = %v, want deny", values["decision"])
	}
	if values["breakGlass"] != false {
		t.Errorf("breakGlass = %v, want false", values["breakGlass"])
	}
	ref, _ := values["consent"].(map[string]any)
	if ref["reference"] != "Consent/nested" {
		t.Errorf("consent = %v, want Consent/nested", values["consent"])
	}
	if values["provision"] != "provision.provision[0]" {
		t.Errorf("provision = %v", values["provision"])
	}
}

// TestReasonHasNoPHI checks that reasons name no patient, actor or
// resource: they are built from element names only.
func TestReasonHasNoPHI(t *testing.T) {
	patients := examplePatients(t)
	for _, row := range exampleRows(t) {
		patientID := patients[row.example]
		req := row.req
		req.PatientID = patientID
		d := Decide([]map[string]any{loadExample(t, row.example, patientID)}, req, row.policy)
		for _, secret := range []string{patientID, "Practitioner/", "Organization/", "obs-"} {
			if strings.Contains(d.Reason, secret) {
				t.Errorf("%s: reason %q contains %q", row.name, d.Reason, secret)
			}
		}
	}
}
