package auth

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScopeValid(t *testing.T) {
	cases := []struct {
		name         string
		raw          string
		context      Context
		resourceType string
		interactions Interaction
		version      int
		query        url.Values
	}{
		{"v1 patient read", "patient/Patient.read", PatientContext, "Patient",
			Read | Search, 1, nil},
		{"v1 user wildcard write", "user/*.write", UserContext, "*",
			Create | Update | Delete, 1, nil},
		{"v1 system wildcard read", "system/*.read", SystemContext, "*",
			Read | Search, 1, nil},
		{"v1 star star", "user/*.*", UserContext, "*",
			Create | Read | Update | Delete | Search, 1, nil},
		{"v2 read search", "patient/Patient.rs", PatientContext, "Patient",
			Read | Search, 2, nil},
		{"v2 all letters", "user/*.cruds", UserContext, "*",
			Create | Read | Update | Delete | Search, 2, nil},
		{"v2 single letter", "system/Consent.c", SystemContext, "Consent",
			Create, 2, nil},
		{"v2 update delete", "user/Observation.ud", UserContext, "Observation",
			Update | Delete, 2, nil},
		{"v2 granular", "patient/DocumentReference.rs?category=" +
			"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category" +
			"|clinical-note", PatientContext, "DocumentReference", Read | Search, 2,
			url.Values{"category": {"http://hl7.org/fhir/us/core/CodeSystem/" +
				"us-core-documentreference-category|clinical-note"}}},
		{"v2 granular two params", "user/Observation.s?category=laboratory&status=final",
			UserContext, "Observation", Search, 2,
			url.Values{"category": {"laboratory"}, "status": {"final"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseScope(tc.raw)
			require.NoError(t, err)
			assert.Equal(t, tc.raw, s.Raw)
			assert.Equal(t, tc.context, s.Context)
			assert.Equal(t, tc.resourceType, s.ResourceType)
			assert.Equal(t, tc.interactions, s.Interactions, "got %s", s.Interactions)
			assert.Equal(t, tc.version, s.Version)
			assert.Equal(t, tc.query, s.Query)
		})
	}
}

func TestParseScopeInvalid(t *testing.T) {
	cases := []struct {
		name        string
		raw         string
		notClinical bool
	}{
		{"openid", "openid", true},
		{"launch patient", "launch/patient", true},
		{"offline access", "offline_access", true},
		{"bare star star has no context", "*.*", true},
		{"unknown context", "admin/Patient.read", true},
		{"letters out of order", "user/Patient.sr", false},
		{"letter repeated", "user/Patient.rr", false},
		{"unknown letter", "user/Patient.rx", false},
		{"empty permissions", "user/Patient.", false},
		{"no permissions", "user/Patient", false},
		{"lower-case type", "user/patient.read", false},
		{"type with digit", "user/Patient2.read", false},
		{"empty type", "user/.rs", false},
		{"v1 with query", "user/Observation.read?category=laboratory", false},
		{"v2 with empty query", "user/Observation.rs?", false},
		{"bad query escape", "user/Observation.rs?category=%zz", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScope(tc.raw)
			require.Error(t, err)
			assert.Equal(t, tc.notClinical, errors.Is(err, ErrNotClinicalScope), "%v", err)
		})
	}
}

func TestParseScopesSplitsKinds(t *testing.T) {
	clinical, other, invalid := ParseScopes(
		"openid fhirUser launch/patient patient/Patient.rs user/Patient.sr  offline_access")
	require.Len(t, clinical, 1)
	assert.Equal(t, "patient/Patient.rs", clinical[0].Raw)
	assert.Equal(t, []string{"openid", "fhirUser", "launch/patient", "offline_access"}, other)
	assert.Equal(t, []string{"user/Patient.sr"}, invalid)
}

func principalWith(patient string, scopes ...string) Principal {
	p := Principal{Patient: patient}
	for _, raw := range scopes {
		s, err := ParseScope(raw)
		if err != nil {
			panic(err)
		}
		p.Scopes = append(p.Scopes, s)
	}
	return p
}

func TestAllowsTable(t *testing.T) {
	cases := []struct {
		name        string
		patient     string
		scopes      []string
		interaction Interaction
		typ         string
		want        bool
	}{
		{"v1 read grants read", "", []string{"user/Patient.read"}, Read, "Patient", true},
		{"v1 read grants search", "", []string{"user/Patient.read"}, Search, "Patient", true},
		{"v1 read denies create", "", []string{"user/Patient.read"}, Create, "Patient", false},
		{"v1 read denies other type", "", []string{"user/Patient.read"}, Read, "Consent",
			false},
		{"v1 write grants create", "", []string{"user/Patient.write"}, Create, "Patient",
			true},
		{"v1 write grants update", "", []string{"user/Patient.write"}, Update, "Patient",
			true},
		{"v1 write grants delete", "", []string{"user/Patient.write"}, Delete, "Patient",
			true},
		{"v1 write denies read", "", []string{"user/Patient.write"}, Read, "Patient", false},
		{"v1 write denies search", "", []string{"user/Patient.write"}, Search, "Patient",
			false},
		{"v1 wildcard type", "", []string{"system/*.read"}, Read, "AuditEvent", true},
		{"v1 star star deletes", "", []string{"user/*.*"}, Delete, "Consent", true},
		{"v2 r without s", "", []string{"user/Patient.r"}, Search, "Patient", false},
		{"v2 s without r", "", []string{"user/Patient.s"}, Read, "Patient", false},
		{"v2 s grants search", "", []string{"user/Patient.s"}, Search, "Patient", true},
		{"v2 cud denies read", "", []string{"user/*.cud"}, Read, "Patient", false},
		{"v2 cud grants delete", "", []string{"user/*.cud"}, Delete, "Patient", true},
		{"v2 union of scopes", "", []string{"user/Patient.r", "user/Patient.c"}, Create,
			"Patient", true},
		{"patient scope with context", "p1", []string{"patient/*.rs"}, Read,
			"Observation", true},
		{"patient scope without context", "", []string{"patient/*.rs"}, Read,
			"Observation", false},
		{"granular still allows type", "", []string{"user/Observation.rs?category=vital-signs"},
			Search, "Observation", true},
		{"no scopes", "", nil, Read, "Patient", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := principalWith(tc.patient, tc.scopes...)
			assert.Equal(t, tc.want, p.Allows(tc.interaction, tc.typ))
		})
	}
}

func TestPatientScopedTable(t *testing.T) {
	cases := []struct {
		name    string
		patient string
		scopes  []string
		typ     string
		wantID  string
		wantOK  bool
	}{
		{"patient wildcard confines", "p1", []string{"patient/*.rs"}, "Observation", "p1",
			true},
		{"patient type confines", "p1", []string{"patient/Patient.read"}, "Patient", "p1",
			true},
		{"user scope on same type lifts", "p1",
			[]string{"patient/*.rs", "user/Observation.rs"}, "Observation", "", false},
		{"user scope on other type keeps", "p1",
			[]string{"patient/*.rs", "user/Practitioner.rs"}, "Observation", "p1", true},
		{"user wildcard lifts", "p1", []string{"patient/Observation.rs", "user/*.r"},
			"Observation", "", false},
		{"no patient context", "", []string{"patient/*.rs"}, "Observation", "", false},
		{"user scope only", "p1", []string{"user/*.rs"}, "Observation", "", false},
		{"no scope on type", "p1", []string{"patient/Patient.rs"}, "Observation", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := principalWith(tc.patient, tc.scopes...)
			id, ok := p.PatientScoped(tc.typ)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.wantID, id)
		})
	}
}

func TestPatientScopedTypes(t *testing.T) {
	p := principalWith("p1", "patient/Patient.rs", "patient/Consent.read",
		"patient/Patient.c", "user/Practitioner.rs")
	assert.Equal(t, []string{"Consent", "Patient"}, p.PatientScopedTypes())

	wildcard := principalWith("p1", "patient/*.rs")
	types := wildcard.PatientScopedTypes()
	assert.Contains(t, types, "DocumentReference")
	assert.Contains(t, types, "AuditEvent")
	assert.Contains(t, types, "Consent")
	assert.NotContains(t, types, "Practitioner")
	assert.NotContains(t, types, "Medication")

	noContext := principalWith("", "patient/*.rs")
	assert.Empty(t, noContext.PatientScopedTypes())
}

func TestPatientCompartmentTypesSorted(t *testing.T) {
	types := PatientCompartmentTypes()
	assert.IsNonDecreasing(t, types)
	assert.True(t, InPatientCompartment("DocumentReference"))
	assert.True(t, InPatientCompartment("Patient"))
	assert.False(t, InPatientCompartment("Organization"))
}

const (
	usCoreCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
	loinc          = "http://loinc.org"
	obsCategory    = "http://terminology.hl7.org/CodeSystem/observation-category"
)

func documentWithCategory(system, code string) map[string]any {
	return map[string]any{
		"resourceType": "DocumentReference",
		"status":       "current",
		"category": []any{map[string]any{
			"coding": []any{map[string]any{"system": system, "code": code}},
		}},
		"type": map[string]any{
			"coding": []any{map[string]any{"system": loinc, "code": "34117-2"}},
		},
	}
}

func TestResourceAllowedGranular(t *testing.T) {
	clinicalNote := documentWithCategory(usCoreCategory, "clinical-note")
	otherNote := documentWithCategory(usCoreCategory, "other")
	labeled := map[string]any{
		"resourceType": "Observation",
		"status":       "final",
		"meta": map[string]any{"security": []any{
			map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
				"code": "R"},
		}},
		"category": []any{map[string]any{"coding": []any{
			map[string]any{"system": obsCategory, "code": "laboratory"},
		}}},
		"clinicalStatus": map[string]any{"coding": []any{
			map[string]any{"code": "active"},
		}},
	}

	cases := []struct {
		name   string
		scopes []string
		typ    string
		res    map[string]any
		want   bool
	}{
		{"system and code match", []string{"user/DocumentReference.rs?category=" +
			usCoreCategory + "|clinical-note"}, "DocumentReference", clinicalNote, true},
		{"system and code differ", []string{"user/DocumentReference.rs?category=" +
			usCoreCategory + "|clinical-note"}, "DocumentReference", otherNote, false},
		{"code only", []string{"user/DocumentReference.rs?category=clinical-note"},
			"DocumentReference", clinicalNote, true},
		{"system only", []string{"user/DocumentReference.rs?category=" + usCoreCategory +
			"|"}, "DocumentReference", otherNote, true},
		{"empty system needs none", []string{"user/DocumentReference.rs?category=" +
			"|clinical-note"}, "DocumentReference", clinicalNote, false},
		{"comma alternatives", []string{"user/DocumentReference.rs?category=x,other"},
			"DocumentReference", otherNote, true},
		{"two params both match", []string{"user/DocumentReference.rs?category=" +
			"clinical-note&type=" + loinc + "|34117-2"}, "DocumentReference", clinicalNote,
			true},
		{"two params one fails", []string{"user/DocumentReference.rs?category=" +
			"clinical-note&type=" + loinc + "|11506-3"}, "DocumentReference", clinicalNote,
			false},
		{"primitive code", []string{"user/DocumentReference.rs?status=current"},
			"DocumentReference", clinicalNote, true},
		{"primitive code with system", []string{"user/DocumentReference.rs?status=" +
			"x|current"}, "DocumentReference", clinicalNote, false},
		{"second scope admits", []string{"user/DocumentReference.rs?category=other",
			"user/DocumentReference.rs?category=clinical-note"}, "DocumentReference",
			clinicalNote, true},
		{"unrestricted scope admits", []string{"user/DocumentReference.rs?category=x",
			"user/DocumentReference.r"}, "DocumentReference", otherNote, true},
		{"create-only scope ignored", []string{"user/DocumentReference.c"},
			"DocumentReference", clinicalNote, false},
		{"modifier fails closed", []string{"user/DocumentReference.rs?category:not=x"},
			"DocumentReference", clinicalNote, false},
		{"chain fails closed", []string{"user/DocumentReference.rs?subject.name=x"},
			"DocumentReference", clinicalNote, false},
		{"missing element", []string{"user/DocumentReference.rs?facility=x"},
			"DocumentReference", clinicalNote, false},
		{"type mismatch", []string{"user/*.rs"}, "Observation", clinicalNote, false},
		{"security label", []string{"user/Observation.rs?_security=" +
			"http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"}, "Observation",
			labeled, true},
		{"security label differs", []string{"user/Observation.rs?_security=N"},
			"Observation", labeled, false},
		{"hyphenated param", []string{"user/Observation.rs?clinical-status=active"},
			"Observation", labeled, true},
		{"patient scope without context", []string{"patient/DocumentReference.rs"},
			"DocumentReference", clinicalNote, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := principalWith("", tc.scopes...)
			assert.Equal(t, tc.want, p.ResourceAllowed(tc.typ, tc.res))
		})
	}
}

func TestSearchRestrictions(t *testing.T) {
	p := principalWith("", "user/Observation.s?category=laboratory",
		"user/Observation.rs?category=vital-signs", "user/Observation.r")
	queries, unrestricted := p.SearchRestrictions("Observation")
	assert.False(t, unrestricted)
	assert.Equal(t, []url.Values{{"category": {"laboratory"}}, {"category": {"vital-signs"}}},
		queries)

	open := principalWith("", "user/Observation.rs?category=laboratory", "user/*.s")
	queries, unrestricted = open.SearchRestrictions("Observation")
	assert.True(t, unrestricted)
	assert.Nil(t, queries)

	none := principalWith("", "user/Patient.s")
	queries, unrestricted = none.SearchRestrictions("Observation")
	assert.False(t, unrestricted)
	assert.Empty(t, queries)
}

func TestInteractionString(t *testing.T) {
	assert.Equal(t, "rs", (Read | Search).String())
	assert.Equal(t, "cruds", allInteractions.String())
	assert.Equal(t, "cud", (Delete | Create | Update).String())
}
