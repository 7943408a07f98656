package consent

import (
	"testing"
	"time"
)

// exampleRow is one access decided against one official R4 Consent
// example. The expected outcome was worked out by hand from the coded
// provisions and the rules in RULES.md. Several examples' narratives say
// something else than their codes, and the comment of each row notes it
// where it matters. The engine follows the codes.
type exampleRow struct {
	name    string
	example string
	req     Request // PatientID is filled in from the example's patient
	policy  Policy
	want    want
}

var (
	t2024       = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	observation = Resource{Type: "Observation", ID: "obs-1"}
	readerAt    = func(refs ...Actor) []Actor { return refs }
	treat       = []Coding{Purpose("TREAT")}
	etreat      = []Coding{Purpose("ETREAT")}
	breakGlass  = Policy{Default: OptIn, BreakGlass: true}
)

func exampleRows(t *testing.T) []exampleRow {
	ts := func(s string) time.Time { return mustTime(t, s) }
	f001Custodian := actor("Organization/f001", "CST")
	doctor := actor("Practitioner/doc-1", "PRCP")

	return []exampleRow{
		// Emergency: policyRule OPTOUT, so the base permits and the root
		// provision (no type) denies. Root: actor CST Organization/f001
		// and purpose ETREAT; nested deny: actor CST Organization/f001.
		// The narrative wants ETREAT permitted at f001; the codes deny it.
		{
			// Root and nested provision match; the nested one is deeper.
			name:    "Emergency: ETREAT on f001 data, nested deny",
			example: "consent-example-Emergency",
			req: Request{Actors: readerAt(doctor, f001Custodian), Purposes: etreat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-Emergency", path: "provision.provision[0]"},
		},
		{
			// Same deny, but break-glass turns it into a recorded permit.
			name: "Emergency: break-glass overrides the deny", example: "consent-example-Emergency",
			req: Request{Actors: readerAt(doctor, f001Custodian), Purposes: etreat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			policy: breakGlass,
			want: want{permit: true, breakGlass: true, consentID: "consent-example-Emergency",
				path: "provision.provision[0]"},
		},
		{
			// TREAT fails the root's purpose; nothing matches, OPTOUT base
			// permits.
			name: "Emergency: TREAT falls to OPTOUT base", example: "consent-example-Emergency",
			req: Request{Actors: readerAt(doctor, f001Custodian), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-Emergency"},
		},
		{
			// f001 as the recipient (PRCP) is not f001 as custodian (CST):
			// the actor role does not match, so the base permits.
			name:    "Emergency: f001 as recipient, role differs",
			example: "consent-example-Emergency",
			req: Request{Actors: readerAt(actor("Organization/f001", "PRCP")), Purposes: etreat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-Emergency"},
		},

		// Out: OPTOUT, root deny for actor CST Organization/f001. Codes
		// and narrative agree: f001's data is withheld.
		{
			// Root matches the custodian; deny.
			name: "Out: data held by f001 denied", example: "consent-example-Out",
			req: Request{Actors: readerAt(doctor, f001Custodian), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-Out", path: "provision"},
		},
		{
			// Another custodian: no match, OPTOUT base permits.
			name: "Out: data held elsewhere permitted", example: "consent-example-Out",
			req: Request{Actors: readerAt(doctor, actor("Organization/other", "CST")),
				Purposes: treat, Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-Out"},
		},
		{
			// ETREAT with break-glass off is not special: the deny remains.
			name: "Out: ETREAT without break-glass denied", example: "consent-example-Out",
			req: Request{Actors: readerAt(doctor, f001Custodian), Purposes: etreat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-Out", path: "provision"},
		},

		// basic: OPTIN, root permit with period 1964-01-01..2016-01-01,
		// dated 2016-05-11. R4 defines provision.period as the time the
		// rule is valid, so this permit ended before the Consent was
		// signed (the narrative reads it as the data's period).
		{
			// Counted, period over: OPTIN base denies.
			name: "basic: after the period, base denies", example: "consent-example-basic",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-basic"},
		},
		{
			// Before 2016-05-11 the Consent is dated in the future and
			// does not count; the server default (opt-in) denies.
			name: "basic: not yet signed, opt-in default", example: "consent-example-basic",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: ts("2015-12-31T23:59:59Z")},
			want: want{},
		},
		{
			// Same, with an opt-out server default: permit, no Consent.
			name: "basic: not yet signed, opt-out default", example: "consent-example-basic",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: ts("2015-12-31T23:59:59Z")},
			policy: Policy{Default: OptOut},
			want:   want{permit: true},
		},

		// grantor: OPTOUT, root (no type, so deny) with actors CST
		// Organization/f001 or PRCP Patient/example, action access. The
		// narrative grants read-only access; under OPTOUT the codes can
		// only withhold, and they withhold access.
		{
			// The representative reading: root matches, deny.
			name: "grantor: representative access denied", example: "consent-example-grantor",
			req: Request{Actors: readerAt(actor("Patient/example", "PRCP")),
				Purposes: []Coding{Purpose("PATRQT")}, Action: ActionAccess,
				Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-grantor", path: "provision"},
		},
		{
			// correct is not in the root's actions: OPTOUT base permits.
			name: "grantor: representative correct permitted", example: "consent-example-grantor",
			req: Request{Actors: readerAt(actor("Patient/example", "PRCP")),
				Purposes: []Coding{Purpose("PATRQT")}, Action: ActionCorrect,
				Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-grantor"},
		},
		{
			// Neither actor: OPTOUT base permits.
			name: "grantor: other reader permitted", example: "consent-example-grantor",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-grantor"},
		},

		// notAuthor: OPTIN, root (so permit) for actor CST
		// Organization/f001. The narrative withholds f001's records; the
		// codes make an opt-in grant of them.
		{
			// Root matches the custodian: permit.
			name: "notAuthor: f001 data permitted", example: "consent-example-notAuthor",
			req: Request{Actors: readerAt(doctor, f001Custodian), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-notAuthor", path: "provision"},
		},
		{
			// No match: OPTIN base denies.
			name: "notAuthor: other data denied", example: "consent-example-notAuthor",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-notAuthor"},
		},

		// notOrg: OPTIN, root states type deny (R4 forbids a type on the
		// root; the engine honours it) for actor PRCP Organization/f001,
		// actions access or correct. Codes and narrative agree.
		{
			// Root matches: deny by the provision.
			name: "notOrg: f001 access denied by provision", example: "consent-example-notOrg",
			req: Request{Actors: readerAt(doctor, actor("Organization/f001", "PRCP")),
				Purposes: treat, Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-notOrg", path: "provision"},
		},
		{
			// collect is not listed: no match, and OPTIN base denies too.
			name: "notOrg: f001 collect denied by base", example: "consent-example-notOrg",
			req: Request{Actors: readerAt(actor("Organization/f001", "PRCP")), Purposes: treat,
				Action: ActionCollect, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-notOrg"},
		},
		{
			// Another organization: OPTIN base denies, even under an
			// opt-out server default, because the Consent states OPTIN.
			name: "notOrg: other org denied by OPTIN base", example: "consent-example-notOrg",
			req: Request{Actors: readerAt(actor("Organization/other", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			policy: Policy{Default: OptOut},
			want:   want{consentID: "consent-example-notOrg"},
		},

		// notThem: OPTIN, root (so permit) for actor PRCP
		// Practitioner/f204, actions access or correct. The narrative
		// withholds from this nurse; the codes grant to them.
		{
			// Root matches: permit.
			name: "notThem: f204 access permitted", example: "consent-example-notThem",
			req: Request{Actors: readerAt(actor("Practitioner/f204", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-notThem", path: "provision"},
		},
		{
			// An absolute reference is reduced to Type/id: still f204.
			name: "notThem: absolute f204 reference", example: "consent-example-notThem",
			req: Request{
				Actors:   readerAt(actor("https://ehr.example/fhir/Practitioner/f204", "PRCP")),
				Purposes: treat, Action: ActionCorrect, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-notThem", path: "provision"},
		},
		{
			// disclose is not listed: OPTIN base denies.
			name: "notThem: f204 disclose denied", example: "consent-example-notThem",
			req: Request{Actors: readerAt(actor("Practitioner/f204", "PRCP")), Purposes: treat,
				Action: ActionDisclose, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-notThem"},
		},
		{
			// f204 as author (AUT), not recipient: role differs, denied.
			name: "notThem: f204 in another role denied", example: "consent-example-notThem",
			req: Request{Actors: readerAt(actor("Practitioner/f204", "AUT")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-notThem"},
		},

		// notThis: OPTIN, root (so permit) for data "related"
		// Task/example3: the Task and what the Task refers to. The
		// narrative withholds the order and its results.
		{
			// The Task itself: permit.
			name: "notThis: the Task itself permitted", example: "consent-example-notThis",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: Resource{Type: "Task", ID: "example3"}, Time: t2024},
			want: want{permit: true, consentID: "consent-example-notThis", path: "provision"},
		},
		{
			// The Task refers to this ServiceRequest: related, permit.
			name: "notThis: resource the Task refers to", example: "consent-example-notThis",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: Resource{Type: "ServiceRequest", ID: "sr-1",
					ReferencedBy: []string{"Task/example3"}}, Time: t2024},
			want: want{permit: true, consentID: "consent-example-notThis", path: "provision"},
		},
		{
			// This Observation refers to the Task: that is "dependents",
			// not "related", so no match and OPTIN base denies.
			name: "notThis: resource referring to the Task", example: "consent-example-notThis",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: Resource{Type: "Observation", ID: "obs-2",
					References: []string{"Task/example3"}}, Time: t2024},
			want: want{consentID: "consent-example-notThis"},
		},

		// notTime: OPTIN, root (so permit) with period
		// 2015-01-01..2015-02-01, dated 2015-11-18: the period ended
		// before signing, so the permit never applies.
		{
			// Inside the period but before signing: not counted, default.
			name: "notTime: inside period, before signing", example: "consent-example-notTime",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: ts("2015-01-15T10:00:00Z")},
			want: want{},
		},
		{
			// After signing: counted, period over, OPTIN base denies.
			name: "notTime: after signing, base denies", example: "consent-example-notTime",
			req: Request{Actors: readerAt(doctor), Purposes: treat, Action: ActionAccess,
				Resource: observation, Time: ts("2015-11-18T00:00:00Z")},
			policy: Policy{Default: OptOut},
			want:   want{consentID: "consent-example-notTime"},
		},

		// pkb: OPTOUT, root (so deny) for actor PRCP Organization/f001,
		// action access, label N (confidentiality N or lower). Ten nested
		// provisions without a type (refinements, so deny) carry labels
		// [0] PSY [1] SPI [2] N [3] PSY [4] SPI [5] SEX [6] N [7] PSY
		// [8] SPI [9] N.
		{
			// Unlabelled counts as N: root and [2], [6], [9] match; the
			// first of the deepest is [2].
			name: "pkb: unlabelled data, nested N", example: "consent-example-pkb",
			req: Request{Actors: readerAt(actor("Organization/f001", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{consentID: "consent-example-pkb", path: "provision.provision[2]"},
		},
		{
			// PSY label: [0] is the first nested match.
			name: "pkb: PSY data, nested PSY", example: "consent-example-pkb",
			req: Request{Actors: readerAt(actor("Organization/f001", "PRCP")), Purposes: treat,
				Action: ActionAccess, Time: t2024, Resource: Resource{Type: "Observation",
					ID: "obs-3", SecurityLabels: []Coding{sensitivity("PSY")}}},
			want: want{consentID: "consent-example-pkb", path: "provision.provision[0]"},
		},
		{
			// L and SEX: [2] (L is at or below N) comes before [5] (SEX).
			name: "pkb: low and SEX labels", example: "consent-example-pkb",
			req: Request{Actors: readerAt(actor("Organization/f001", "PRCP")), Purposes: treat,
				Action: ActionAccess, Time: t2024, Resource: Resource{Type: "Observation",
					ID:             "obs-4",
					SecurityLabels: []Coding{confidentiality("L"), sensitivity("SEX")}}},
			want: want{consentID: "consent-example-pkb", path: "provision.provision[2]"},
		},
		{
			// R is above the root's N: root fails, OPTOUT base permits.
			name: "pkb: restricted data outside root", example: "consent-example-pkb",
			req: Request{Actors: readerAt(actor("Organization/f001", "PRCP")), Purposes: treat,
				Action: ActionAccess, Time: t2024, Resource: Resource{Type: "Observation",
					ID: "obs-5", SecurityLabels: []Coding{confidentiality("R")}}},
			want: want{permit: true, consentID: "consent-example-pkb"},
		},
		{
			// Another organization: OPTOUT base permits.
			name: "pkb: other organization permitted", example: "consent-example-pkb",
			req: Request{Actors: readerAt(actor("Organization/f002", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: t2024},
			want: want{permit: true, consentID: "consent-example-pkb"},
		},

		// signature: OPTIN, dated 2016-05-26T00:41:10-04:00. Root (so
		// permit): period 2015-10-10..2016-10-10, actor PRCP
		// Practitioner/13. Nested permit: actor AUT
		// Practitioner/xcda-author, class CDA, code LOINC 34133-9 or
		// 18842-5.
		{
			// Root matches, nested actor absent: root permits.
			name: "signature: Practitioner/13 permitted", example: "consent-example-signature",
			req: Request{Actors: readerAt(actor("Practitioner/13", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: ts("2016-06-01T00:00:00Z")},
			want: want{permit: true, consentID: "consent-example-signature", path: "provision"},
		},
		{
			// CDA summary by xcda-author: the nested permit is deeper.
			name: "signature: CDA by author, nested permit", example: "consent-example-signature",
			req: Request{
				Actors: readerAt(actor("Practitioner/13", "PRCP"),
					actor("Practitioner/xcda-author", "AUT")),
				Purposes: treat, Action: ActionAccess, Time: ts("2016-06-01T00:00:00Z"),
				Resource: Resource{Type: "DocumentReference", ID: "doc-1",
					Classes: []Coding{{System: "urn:ietf:bcp:13", Code: "application/hl7-cda+xml"}},
					Codes:   []Coding{loinc("34133-9")}}},
			want: want{permit: true, consentID: "consent-example-signature",
				path: "provision.provision[0]"},
		},
		{
			// One second before signing (04:41:10Z): not counted.
			name: "signature: one second before signing", example: "consent-example-signature",
			req: Request{Actors: readerAt(actor("Practitioner/13", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: ts("2016-05-26T04:41:09Z")},
			want: want{},
		},
		{
			// At the signing instant: counted, root permits.
			name: "signature: at the signing instant", example: "consent-example-signature",
			req: Request{Actors: readerAt(actor("Practitioner/13", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: ts("2016-05-26T04:41:10Z")},
			want: want{permit: true, consentID: "consent-example-signature", path: "provision"},
		},
		{
			// The end date 2016-10-10 includes that whole day.
			name: "signature: last day of the period", example: "consent-example-signature",
			req: Request{Actors: readerAt(actor("Practitioner/13", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: ts("2016-10-10T23:59:59Z")},
			want: want{permit: true, consentID: "consent-example-signature", path: "provision"},
		},
		{
			// The day after: period over, OPTIN base denies.
			name: "signature: after the period", example: "consent-example-signature",
			req: Request{Actors: readerAt(actor("Practitioner/13", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: ts("2016-10-11T00:00:00Z")},
			want: want{consentID: "consent-example-signature"},
		},
		{
			// Another practitioner: OPTIN base denies.
			name: "signature: other practitioner denied", example: "consent-example-signature",
			req: Request{Actors: readerAt(actor("Practitioner/14", "PRCP")), Purposes: treat,
				Action: ActionAccess, Resource: observation, Time: ts("2016-06-01T00:00:00Z")},
			want: want{consentID: "consent-example-signature"},
		},

		// smartonfhir: OPTIN, dated 2016-06-23T17:02:33+10:00. Root (so
		// permit) with only a period, 17:02:33..17:32:33 +10:00. Nested
		// permit: action access, class MedicationRequest. The root has no
		// other condition, so it permits any access in the window.
		{
			// MedicationRequest in the window: nested permit.
			name:    "smartonfhir: MedicationRequest in window",
			example: "consent-example-smartonfhir",
			req: Request{Actors: readerAt(actor("Practitioner/app-user", "PRCP")),
				Purposes: treat, Action: ActionAccess, Time: ts("2016-06-23T07:10:00Z"),
				Resource: Resource{Type: "MedicationRequest", ID: "mr-1"}},
			want: want{permit: true, consentID: "consent-example-smartonfhir",
				path: "provision.provision[0]"},
		},
		{
			// Observation in the window: nested class fails, root permits.
			name: "smartonfhir: Observation by the root", example: "consent-example-smartonfhir",
			req: Request{Actors: readerAt(actor("Practitioner/app-user", "PRCP")),
				Purposes: treat, Action: ActionAccess, Resource: observation,
				Time: ts("2016-06-23T07:10:00Z")},
			want: want{permit: true, consentID: "consent-example-smartonfhir", path: "provision"},
		},
		{
			// 17:32:33 +10:00 is the end value, included at its second.
			name: "smartonfhir: last second of window", example: "consent-example-smartonfhir",
			req: Request{Actors: readerAt(actor("Practitioner/app-user", "PRCP")),
				Purposes: treat, Action: ActionAccess, Time: ts("2016-06-23T07:32:33Z"),
				Resource: Resource{Type: "MedicationRequest", ID: "mr-1"}},
			want: want{permit: true, consentID: "consent-example-smartonfhir",
				path: "provision.provision[0]"},
		},
		{
			// After the window: OPTIN base denies.
			name: "smartonfhir: after the window", example: "consent-example-smartonfhir",
			req: Request{Actors: readerAt(actor("Practitioner/app-user", "PRCP")),
				Purposes: treat, Action: ActionAccess, Time: ts("2016-06-23T07:32:34Z"),
				Resource: Resource{Type: "MedicationRequest", ID: "mr-1"}},
			want: want{consentID: "consent-example-smartonfhir"},
		},
	}
}

var exampleNames = []string{
	"consent-example-Emergency", "consent-example-Out", "consent-example-basic",
	"consent-example-grantor", "consent-example-notAuthor", "consent-example-notOrg",
	"consent-example-notThem", "consent-example-notThis", "consent-example-notTime",
	"consent-example-pkb", "consent-example-signature", "consent-example-smartonfhir",
}

// examplePatients assigns each example its own Synthea patient.
func examplePatients(t *testing.T) map[string]string {
	ids := syntheaPatientIDs(t)
	m := make(map[string]string, len(exampleNames))
	for i, name := range exampleNames {
		m[name] = ids[i]
	}
	return m
}

func TestDecideOfficialExamples(t *testing.T) {
	patients := examplePatients(t)
	for _, row := range exampleRows(t) {
		t.Run(row.name, func(t *testing.T) {
			patientID := patients[row.example]
			consents := []map[string]any{loadExample(t, row.example, patientID)}
			req := row.req
			req.PatientID = patientID
			checkDecision(t, Decide(consents, req, row.policy), row.want)
		})
	}
}

// TestDecideExamplesOtherPatient checks that no example decides for a
// patient it is not about: with every example loaded for one patient,
// another patient's request falls to the server default.
func TestDecideExamplesOtherPatient(t *testing.T) {
	patients := examplePatients(t)
	var all []map[string]any
	for _, name := range exampleNames {
		all = append(all, loadExample(t, name, patients[name]))
	}
	other := syntheaPatientIDs(t)[12]
	for _, policy := range []Policy{{Default: OptIn}, {Default: OptOut}} {
		req := Request{PatientID: other, Actors: readerAt(actor("Organization/f001", "CST")),
			Purposes: treat, Action: ActionAccess, Resource: observation, Time: t2024}
		checkDecision(t, Decide(all, req, policy), want{permit: policy.Default == OptOut})
	}
}
