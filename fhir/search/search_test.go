package search

import (
	"net/url"
	"strings"
	"testing"
)

type rec = map[string]any

// paramCase is one search whose expected ids the oracle works out.
type paramCase struct {
	name, typ, query string
	want             func(r rec) bool
	minHits          int // the case is only useful if the oracle finds at least this many
}

const (
	synPatient = "3af3708d-41f1-cd80-f3dd-ec5ac76072bf" // Devin82 Cole117, synthea-10
	busyPat    = "79a66c97-6131-3213-f3c9-4606946ab056" // 708 notes
	npi        = "http://hl7.org/fhir/sid/us-npi"
	ssnSystem  = "http://hl7.org/fhir/sid/us-ssn"
	v20203     = "http://terminology.hl7.org/CodeSystem/v2-0203"
	loinc      = "http://loinc.org"
	usCorePat  = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
	actReason  = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	// consentIDSystem is the identifier system of Consent/consent-example-signature.
	consentIDSystem = "urn:oid:2.16.840.1.113883.3.72.5.9.1"
	// maidenNameURL is the extension URL that the mothersMaidenName
	// definition names; Synthea writes patient-mothersMaidenName instead.
	maidenNameURL = "http://hl7.org/fhir/StructureDefinition/" +
		"patient-extensions-Patient-mothersMaidenName"
)

var patientCases = []paramCase{
	{"family prefix folds case", "Patient", "family=considine",
		func(r rec) bool { return startsWithFolded(strsAt(r, "name", "family"), "considine") }, 8},
	{"family prefix folds accents", "Patient", "family=Pena",
		func(r rec) bool { return startsWithFolded(strsAt(r, "name", "family"), "pena") }, 1},
	{"family exact", "Patient", "family:exact=Considine820",
		func(r rec) bool { return equalsExactly(strsAt(r, "name", "family"), "Considine820") }, 8},
	{"family exact is case sensitive", "Patient", "family:exact=considine820",
		func(r rec) bool { return equalsExactly(strsAt(r, "name", "family"), "considine820") }, 0},
	{"family contains", "Patient", "family:contains=SIDIN",
		func(r rec) bool { return containsFolded(strsAt(r, "name", "family"), "sidin") }, 8},
	{"family contains short", "Patient", "family:contains=zz",
		func(r rec) bool { return containsFolded(strsAt(r, "name", "family"), "zz") }, 0},
	{"family prefix longer than index bound", "Patient",
		"family=" + strings.Repeat("a", 30),
		func(r rec) bool {
			return startsWithFolded(strsAt(r, "name", "family"), strings.Repeat("a", 30))
		}, 0},
	{"family or", "Patient", "family=Cole,Hane",
		func(r rec) bool {
			f := strsAt(r, "name", "family")
			return startsWithFolded(f, "cole") || startsWithFolded(f, "hane")
		}, 9},
	{"family and given", "Patient", "family=Cole&given=Devin",
		func(r rec) bool {
			return startsWithFolded(strsAt(r, "name", "family"), "cole") &&
				startsWithFolded(strsAt(r, "name", "given"), "devin")
		}, 1},
	{"given contains", "Patient", "given:contains=drew",
		func(r rec) bool { return containsFolded(strsAt(r, "name", "given"), "drew") }, 5},
	{"name any part", "Patient", "name=mar",
		func(r rec) bool { return startsWithFolded(nameParts(r), "mar") }, 20},
	{"name prefix part", "Patient", "name=mrs.",
		func(r rec) bool { return startsWithFolded(nameParts(r), "mrs.") }, 20},
	{"address city", "Patient", "address-city=overland",
		func(r rec) bool { return startsWithFolded(strsAt(r, "address", "city"), "overland") },
		70},
	{"address any part", "Patient", "address=847 trem",
		func(r rec) bool { return startsWithFolded(addressParts(r), "847 trem") }, 1},
	{"address postal code", "Patient", "address-postalcode=666",
		func(r rec) bool {
			return startsWithFolded(strsAt(r, "address", "postalCode"), "666")
		}, 10},
	{"address state and country", "Patient", "address-state=KS&address-country=US",
		func(r rec) bool {
			return startsWithFolded(strsAt(r, "address", "state"), "ks") &&
				startsWithFolded(strsAt(r, "address", "country"), "us")
		}, 1000},
	{"address use", "Patient", "address-use=home",
		func(r rec) bool { return hasToken(at(r, "address", "use"), "", "home") }, 1},
	{"gender", "Patient", "gender=female",
		func(r rec) bool { return hasToken(at(r, "gender"), "", "female") }, 500},
	{"gender or", "Patient", "gender=other,unknown",
		func(r rec) bool {
			g := at(r, "gender")
			return hasToken(g, "", "other") || hasToken(g, "", "unknown")
		}, 1},
	{"gender not", "Patient", "gender:not=male",
		func(r rec) bool { return !hasToken(at(r, "gender"), "", "male") }, 500},
	{"identifier value", "Patient", "identifier=999-26-9282",
		func(r rec) bool { return hasToken(at(r, "identifier"), "", "999-26-9282") }, 1},
	{"identifier system and value", "Patient", "identifier=" + ssnSystem + "|999-26-9282",
		func(r rec) bool { return hasToken(at(r, "identifier"), ssnSystem, "999-26-9282") }, 1},
	{"identifier wrong system", "Patient", "identifier=urn:x|999-26-9282",
		func(r rec) bool { return hasToken(at(r, "identifier"), "urn:x", "999-26-9282") }, 0},
	{"identifier system only", "Patient", "identifier=" + ssnSystem + "|",
		func(r rec) bool { return hasSystem(at(r, "identifier"), ssnSystem) }, 1000},
	{"identifier of type", "Patient",
		"identifier:of-type=" + v20203 + "|SS|999-26-9282",
		func(r rec) bool {
			for _, id := range at(r, "identifier") {
				if hasToken([]any{id}, "", "999-26-9282") &&
					hasToken(at(id, "type"), v20203, "SS") {
					return true
				}
			}
			return false
		}, 1},
	{"identifier text", "Patient", "identifier:text=passport",
		func(r rec) bool {
			return startsWithWord(strsAt(r, "identifier", "type", "text"), "passport") ||
				startsWithWord(strsAt(r, "identifier", "type", "coding", "display"), "passport")
		}, 500},
	{"phone", "Patient", "phone=555-478-8993",
		func(r rec) bool {
			for _, t := range at(r, "telecom") {
				if m := t.(rec); m["system"] == "phone" && m["value"] == "555-478-8993" {
					return true
				}
			}
			return false
		}, 1},
	{"telecom with system", "Patient", "telecom=phone|555-478-8993",
		func(r rec) bool { return hasToken(at(r, "telecom"), "phone", "555-478-8993") }, 1},
	{"email", "Patient", "email=p.heuvel@gmail.com",
		func(r rec) bool { return hasToken(at(r, "telecom"), "email", "p.heuvel@gmail.com") }, 1},
	{"birthdate day", "Patient", "birthdate=1960-04-13",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "eq", "1960-04-13") }, 1},
	{"birthdate year", "Patient", "birthdate=1977",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "eq", "1977") }, 21},
	{"birthdate month", "Patient", "birthdate=1977-05",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "eq", "1977-05") }, 1},
	{"birthdate before", "Patient", "birthdate=lt1930",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "lt", "1930") }, 10},
	{"birthdate on or after", "Patient", "birthdate=ge2010-06",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "ge", "2010-06") }, 10},
	{"birthdate range", "Patient", "birthdate=gt1970&birthdate=le1971-03-01",
		func(r rec) bool {
			return anyDate(at(r, "birthDate"), "gt", "1970") &&
				anyDate(at(r, "birthDate"), "le", "1971-03-01")
		}, 1},
	{"birthdate starts after", "Patient", "birthdate=sa2015-12-31",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "sa", "2015-12-31") }, 10},
	{"birthdate ends before", "Patient", "birthdate=eb1920-01-01",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "eb", "1920-01-01") }, 1},
	{"birthdate not equal", "Patient", "birthdate=ne1977",
		func(r rec) bool { return anyDate(at(r, "birthDate"), "ne", "1977") }, 1000},
	{"birthdate missing", "Patient", "birthdate:missing=true",
		func(r rec) bool { return len(at(r, "birthDate")) == 0 }, 1},
	{"family present", "Patient", "family:missing=false",
		func(r rec) bool { return len(at(r, "name", "family")) > 0 }, 1000},
	{"death date", "Patient", "death-date=ge2020",
		func(r rec) bool { return anyDate(at(r, "deceasedDateTime"), "ge", "2020") }, 5},
	{"deceased true", "Patient", "deceased=true",
		func(r rec) bool { return r["deceasedDateTime"] != nil || r["deceasedBoolean"] == true },
		140},
	{"deceased false", "Patient", "deceased=false",
		func(r rec) bool { return r["deceasedDateTime"] == nil && r["deceasedBoolean"] != true },
		1000},
	{"active", "Patient", "active=true",
		func(r rec) bool { return r["active"] == true }, 15},
	{"language system code", "Patient", "language=urn:ietf:bcp:47|ru-RU",
		func(r rec) bool {
			return hasToken(at(r, "communication", "language"), "urn:ietf:bcp:47", "ru-RU")
		}, 5},
	{"language text", "Patient", "language:text=dutch",
		func(r rec) bool {
			return startsWithWord(strsAt(r, "communication", "language", "text"), "dutch") ||
				startsWithWord(strsAt(r, "communication", "language", "coding", "display"),
					"dutch")
		}, 2},
	{"organization", "Patient", "organization=Organization/1",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "managingOrganization"), "Organization/1")
		}, 5},
	{"organization by id", "Patient", "organization=hl7",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "managingOrganization"), "Organization/hl7")
		}, 2},
	{"general practitioner typed", "Patient", "general-practitioner:Practitioner=example",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "generalPractitioner"), "Practitioner/example")
		}, 1},
	{"link", "Patient", "link=Patient/pat2",
		func(r rec) bool { return equalsExactly(refsAt(r, "link", "other"), "Patient/pat2") },
		1},
	{"id", "Patient", "_id=" + synPatient + ",pat1",
		func(r rec) bool { return r["id"] == synPatient || r["id"] == "pat1" }, 2},
	{"profile", "Patient", "_profile=" + usCorePat,
		func(r rec) bool { return equalsExactly(strsAt(r, "meta", "profile"), usCorePat) },
		1000},
	{"profile below", "Patient", "_profile:below=http://hl7.org/fhir/us/core",
		func(r rec) bool {
			return anyString(strsAt(r, "meta", "profile"), func(s string) bool {
				return strings.HasPrefix(s, "http://hl7.org/fhir/us/core/")
			})
		}, 1000},
	{"profile above", "Patient", "_profile:above=" + usCorePat + "/extra",
		func(r rec) bool { return equalsExactly(strsAt(r, "meta", "profile"), usCorePat) },
		1000},
	{"last updated", "Patient", "_lastUpdated=lt2026-01-01T01:00:00Z",
		func(r rec) bool {
			return anyDate(at(r, "meta", "lastUpdated"), "lt", "2026-01-01T01:00:00Z")
		}, 60},
	{"last updated with offset", "Patient", "_lastUpdated=ge2026-01-01T10:30:00%2B10:00" +
		"&_lastUpdated=lt2026-01-01T01:00:00Z",
		func(r rec) bool {
			return anyDate(at(r, "meta", "lastUpdated"), "ge", "2026-01-01T00:30:00Z") &&
				anyDate(at(r, "meta", "lastUpdated"), "lt", "2026-01-01T01:00:00Z")
		}, 30},
	{"mothers maiden name as defined", "Patient", "mothersMaidenName=harold",
		func(r rec) bool {
			for _, x := range at(r, "extension") {
				if m := x.(rec); m["url"] == maidenNameURL &&
					startsWithFolded(strs([]any{m["valueString"]}), "harold") {
					return true
				}
			}
			return false
		}, 0},
	{"tag none", "Patient", "_tag=urn:x|y",
		func(r rec) bool { return false }, 0},
}

var documentCases = []paramCase{
	{"relationship composite", "DocumentReference", "relationship=appends$DocumentReference/example",
		func(r rec) bool {
			for _, rel := range at(r, "relatesTo") {
				m := rel.(rec)
				if m["code"] == "appends" &&
					equalsExactly(refsAt(m, "target"), "DocumentReference/example") {
					return true
				}
			}
			return false
		}, 1},
	{"relationship composite, other code", "DocumentReference",
		"relationship=replaces$DocumentReference/example",
		func(r rec) bool {
			for _, rel := range at(r, "relatesTo") {
				m := rel.(rec)
				if m["code"] == "replaces" &&
					equalsExactly(refsAt(m, "target"), "DocumentReference/example") {
					return true
				}
			}
			return false
		}, 0},
	{"subject", "DocumentReference", "subject=Patient/" + synPatient,
		func(r rec) bool {
			return equalsExactly(refsAt(r, "subject"), "Patient/"+synPatient)
		}, 1},
	{"patient by id", "DocumentReference", "patient=" + busyPat,
		func(r rec) bool { return equalsExactly(refsAt(r, "subject"), "Patient/"+busyPat) },
		700},
	{"subject typed", "DocumentReference", "subject:Patient=" + busyPat,
		func(r rec) bool { return equalsExactly(refsAt(r, "subject"), "Patient/"+busyPat) },
		700},
	{"status", "DocumentReference", "status=current",
		func(r rec) bool { return hasToken(at(r, "status"), "", "current") }, 13},
	{"type with system", "DocumentReference", "type=" + loinc + "|34111-5",
		func(r rec) bool { return hasToken(at(r, "type"), loinc, "34111-5") }, 300},
	{"type text", "DocumentReference", "type:text=physical",
		func(r rec) bool {
			return startsWithWord(strsAt(r, "type", "coding", "display"), "physical") ||
				startsWithWord(strsAt(r, "type", "text"), "physical")
		}, 900},
	{"category", "DocumentReference", "category=clinical-note",
		func(r rec) bool { return hasToken(at(r, "category"), "", "clinical-note") }, 1200},
	{"date year", "DocumentReference", "date=1987",
		func(r rec) bool { return anyDate(at(r, "date"), "eq", "1987") }, 1},
	{"date after second", "DocumentReference", "date=gt2020-03-01T10:00:00Z",
		func(r rec) bool { return anyDate(at(r, "date"), "gt", "2020-03-01T10:00:00Z") }, 10},
	{"period contains day", "DocumentReference", "period=le1986-09-20&period=ge1986-09-20",
		func(r rec) bool {
			return anyDate(at(r, "context", "period"), "le", "1986-09-20") &&
				anyDate(at(r, "context", "period"), "ge", "1986-09-20")
		}, 1},
	{"encounter", "DocumentReference", "encounter=Encounter/0239b16e-8b3d-ee0c-7f9f-29618f32e59c",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "context", "encounter"),
				"Encounter/0239b16e-8b3d-ee0c-7f9f-29618f32e59c")
		}, 1},
	{"author identifier", "DocumentReference", "author:identifier=" + npi + "|9999974394",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "author"),
				"Practitioner?identifier="+npi+"|9999974394")
		}, 169},
	{"custodian identifier value", "DocumentReference",
		"custodian:identifier=a261e1fc-9361-3633-a2c4-8569a04b818d",
		func(r rec) bool {
			return anyString(refsAt(r, "custodian"), func(s string) bool {
				return strings.HasSuffix(s, "|a261e1fc-9361-3633-a2c4-8569a04b818d")
			})
		}, 499},
	{"contenttype", "DocumentReference", "contenttype=text/plain%3B%20charset=utf-8",
		func(r rec) bool {
			return hasToken(at(r, "content", "attachment", "contentType"), "",
				"text/plain; charset=utf-8")
		}, 1200},
	{"format", "DocumentReference", "format=urn:ihe:iti:xds:2017:mimeTypeSufficient",
		func(r rec) bool {
			return hasToken(at(r, "content", "format"), "",
				"urn:ihe:iti:xds:2017:mimeTypeSufficient")
		}, 1200},
	{"identifier", "DocumentReference",
		"identifier=urn:ietf:rfc:3986|urn:uuid:78eb1ea7-7e46-5eba-a5d7-108eba5d294b",
		func(r rec) bool {
			return hasToken(append(at(r, "identifier"), at(r, "masterIdentifier")...),
				"urn:ietf:rfc:3986", "urn:uuid:78eb1ea7-7e46-5eba-a5d7-108eba5d294b")
		}, 1},
	{"description", "DocumentReference", "description=phys",
		func(r rec) bool { return startsWithFolded(strsAt(r, "description"), "phys") }, 1},
	{"security label", "DocumentReference", "security-label=V",
		func(r rec) bool { return hasToken(at(r, "securityLabel"), "", "V") }, 1},
	{"relatesto", "DocumentReference", "relatesto=DocumentReference/example",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "relatesTo", "target"),
				"DocumentReference/example")
		}, 1},
	{"relation", "DocumentReference", "relation=appends",
		func(r rec) bool { return hasToken(at(r, "relatesTo", "code"), "", "appends") }, 1},
	{"location", "DocumentReference",
		"location=http://example.org/xds/mhd/Binary/07a6483f-732b-461e-86b6-edb665c45510",
		func(r rec) bool {
			return equalsExactly(strsAt(r, "content", "attachment", "url"),
				"http://example.org/xds/mhd/Binary/07a6483f-732b-461e-86b6-edb665c45510")
		}, 1},
	{"facility event setting", "DocumentReference",
		"facility=Outpatient&event=T-D8200&setting=General Medicine",
		func(r rec) bool {
			return hasToken(at(r, "context", "facilityType"), "", "Outpatient") &&
				hasToken(at(r, "context", "event"), "", "T-D8200") &&
				hasToken(at(r, "context", "practiceSetting"), "", "General Medicine")
		}, 1},
	{"related", "DocumentReference", "related=Patient/xcda",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "context", "related"), "Patient/xcda")
		}, 1},
	{"authenticator", "DocumentReference", "authenticator=Organization/f001",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "authenticator"), "Organization/f001")
		}, 1},
	{"language", "DocumentReference", "language=en-US",
		func(r rec) bool {
			return hasToken(at(r, "content", "attachment", "language"), "", "en-US")
		}, 1},
}

var consentCases = []paramCase{
	{"status", "Consent", "status=active",
		func(r rec) bool { return hasToken(at(r, "status"), "", "active") }, 5},
	{"scope", "Consent",
		"scope=http://terminology.hl7.org/CodeSystem/consentscope|patient-privacy",
		func(r rec) bool {
			return hasToken(at(r, "scope"), "http://terminology.hl7.org/CodeSystem/consentscope",
				"patient-privacy")
		}, 5},
	{"category", "Consent", "category=59284-0",
		func(r rec) bool { return hasToken(at(r, "category"), "", "59284-0") }, 5},
	{"patient", "Consent", "patient=Patient/f001",
		func(r rec) bool { return equalsExactly(refsAt(r, "patient"), "Patient/f001") }, 2},
	{"date", "Consent", "date=ge2016",
		func(r rec) bool { return anyDate(at(r, "dateTime"), "ge", "2016") }, 1},
	{"period", "Consent", "period=ge2016",
		func(r rec) bool { return anyDate(at(r, "provision", "period"), "ge", "2016") }, 1},
	{"actor", "Consent", "actor=Organization/f001",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "provision", "actor", "reference"),
				"Organization/f001")
		}, 1},
	{"data", "Consent", "data=Task/example3",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "provision", "data", "reference"),
				"Task/example3")
		}, 1},
	{"organization", "Consent", "organization=Organization/f001",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "organization"), "Organization/f001")
		}, 1},
	{"consentor", "Consent", "consentor=Patient/72",
		func(r rec) bool { return equalsExactly(refsAt(r, "performer"), "Patient/72") },
		1},
	{"action", "Consent", "action=access",
		func(r rec) bool { return hasToken(at(r, "provision", "action"), "", "access") }, 1},
	{"purpose", "Consent", "purpose=" + actReason + "|ETREAT",
		func(r rec) bool { return hasToken(at(r, "provision", "purpose"), actReason, "ETREAT") },
		1},
	{"security label top provision only", "Consent", "security-label=N,PSY",
		func(r rec) bool {
			l := at(r, "provision", "securityLabel")
			return hasToken(l, "", "N") || hasToken(l, "", "PSY")
		}, 1},
	{"identifier", "Consent", "identifier=" + consentIDSystem +
		"|494e0c7a-a69e-4fb4-9d02-6aae747790d7",
		func(r rec) bool {
			return hasToken(at(r, "identifier"), consentIDSystem,
				"494e0c7a-a69e-4fb4-9d02-6aae747790d7")
		}, 1},
	{"source reference", "Consent", "source-reference:missing=true",
		func(r rec) bool { return r["sourceReference"] == nil }, 12},
}

var auditCases = []paramCase{
	{"action", "AuditEvent", "action=R",
		func(r rec) bool { return hasToken(at(r, "action"), "", "R") }, 3},
	{"outcome", "AuditEvent", "outcome=0",
		func(r rec) bool { return hasToken(at(r, "outcome"), "", "0") }, 5},
	{"type", "AuditEvent", "type=http://dicom.nema.org/resources/ontology/DCM|110106",
		func(r rec) bool {
			return hasToken(at(r, "type"), "http://dicom.nema.org/resources/ontology/DCM",
				"110106")
		}, 1},
	{"subtype", "AuditEvent", "subtype=Disclosure",
		func(r rec) bool { return hasToken(at(r, "subtype"), "", "Disclosure") }, 1},
	{"date", "AuditEvent", "date=2013-09-22",
		func(r rec) bool { return anyDate(at(r, "recorded"), "eq", "2013-09-22") }, 1},
	{"date before", "AuditEvent", "date=lt2013-06",
		func(r rec) bool { return anyDate(at(r, "recorded"), "lt", "2013-06") }, 1},
	{"agent name", "AuditEvent", "agent-name=That guy",
		func(r rec) bool { return startsWithFolded(strsAt(r, "agent", "name"), "that guy") }, 1},
	{"address", "AuditEvent", "address=127.0.0.1",
		func(r rec) bool {
			return startsWithFolded(strsAt(r, "agent", "network", "address"), "127.0.0.1")
		}, 1},
	{"agent", "AuditEvent", "agent=Practitioner/example",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "agent", "who"), "Practitioner/example")
		}, 1},
	{"agent identifier", "AuditEvent", "agent:identifier=SomeIdiot@nowhere",
		func(r rec) bool {
			return hasToken(at(r, "agent", "who", "identifier"), "", "SomeIdiot@nowhere")
		}, 1},
	{"agent role text", "AuditEvent", "agent-role:text=service user",
		func(r rec) bool {
			texts := strsAt(r, "agent", "role", "text")
			return startsWithWord(texts, "service") && startsWithWord(texts, "user")
		}, 1},
	{"altid", "AuditEvent", "altid=notMe",
		func(r rec) bool { return hasToken(at(r, "agent", "altId"), "", "notMe") }, 1},
	{"entity", "AuditEvent", "entity=Patient/example",
		func(r rec) bool {
			return equalsExactly(refsAt(r, "entity", "what"), "Patient/example")
		}, 1},
	{"entity name", "AuditEvent", "entity-name=namne",
		func(r rec) bool { return startsWithFolded(strsAt(r, "entity", "name"), "namne") }, 1},
	{"entity role", "AuditEvent", "entity-role=4",
		func(r rec) bool { return hasToken(at(r, "entity", "role"), "", "4") }, 1},
	{"entity type", "AuditEvent", "entity-type=2",
		func(r rec) bool { return hasToken(at(r, "entity", "type"), "", "2") }, 1},
	{"patient", "AuditEvent", "patient=Patient/example",
		func(r rec) bool {
			refs := append(refsAt(r, "agent", "who"), refsAt(r, "entity", "what")...)
			return equalsExactly(refs, "Patient/example")
		}, 1},
	{"policy", "AuditEvent", "policy=http://consent.com/yes",
		func(r rec) bool {
			return equalsExactly(strsAt(r, "agent", "policy"), "http://consent.com/yes")
		},
		1},
	{"site", "AuditEvent", "site=Watcher",
		func(r rec) bool { return hasToken(at(r, "source", "site"), "", "Watcher") }, 1},
	{"source identifier", "AuditEvent",
		"source:identifier=hl7connect.healthintersections.com.au",
		func(r rec) bool {
			return hasToken(at(r, "source", "observer", "identifier"), "",
				"hl7connect.healthintersections.com.au")
		}, 3},
	{"source missing", "AuditEvent", "source:missing=true",
		func(r rec) bool { return len(at(r, "source", "observer", "identifier")) == 0 }, 5},
}

// startsWithWord reports whether some word of some text starts with q,
// the oracle's reading of :text for a single query word.
func startsWithWord(texts []string, q string) bool {
	for _, t := range texts {
		for _, w := range strings.FieldsFunc(fold(t), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) {
			if strings.HasPrefix(w, fold(q)) {
				return true
			}
		}
	}
	return false
}

// TestParametersAgainstOracle runs every case twice: as the engine runs
// it, trusting exact tokens, and with every condition checked on the
// opened resource as well.
func TestParametersAgainstOracle(t *testing.T) {
	c := loadCorpus(t)
	checked := *c
	checked.engine = NewEngine(testIndexKey, storeLoader{c.st})
	checked.engine.verifyExact = true
	for typ, cases := range caseGroups() {
		for _, pc := range cases {
			t.Run(typ+"/"+pc.name, func(t *testing.T) {
				want := c.idsWhere(pc.typ, pc.want)
				if len(want) < pc.minHits {
					t.Fatalf("oracle finds %d, the case needs at least %d to mean anything",
						len(want), pc.minHits)
				}
				got := c.searchAll(t, pc.typ, pc.query)
				sameIDs(t, pc.query, got, want)
				got = checked.searchAll(t, pc.typ, pc.query)
				sameIDs(t, pc.query+" (every condition checked)", got, want)
			})
		}
	}
}

// TestEveryDeclaredParameterHasACase checks that each parameter the
// CapabilityStatement declares is driven by at least one oracle case, or
// by a named test of its own.
func TestEveryDeclaredParameterHasACase(t *testing.T) {
	// Parameters whose semantics have their own tests rather than oracle
	// rows: _has (TestReverseChain).
	ownTests := map[string]bool{"_has": true}
	e := NewEngine(testIndexKey, nil)
	for typ, cases := range caseGroups() {
		used := map[string]bool{}
		for _, pc := range cases {
			q, err := url.ParseQuery(pc.query)
			if err != nil {
				t.Fatalf("case %s: %v", pc.name, err)
			}
			for k := range q {
				code, _, _ := strings.Cut(k, ":")
				code, _, _ = strings.Cut(code, ".")
				used[code] = true
			}
		}
		for _, p := range e.Params(typ) {
			if !used[p.Code] && !ownTests[p.Code] {
				t.Errorf("%s declares %s, but no case searches it", typ, p.Code)
			}
		}
	}
}

// caseGroups returns the oracle cases of each type, with the cases of the
// parameters every type shares.
func caseGroups() map[string][]paramCase {
	return map[string][]paramCase{
		"Patient":           append(commonCases("Patient"), patientCases...),
		"DocumentReference": append(commonCases("DocumentReference"), documentCases...),
		"Consent":           append(commonCases("Consent"), consentCases...),
		"AuditEvent":        append(commonCases("AuditEvent"), auditCases...),
	}
}

// commonCases searches the parameters of Resource on one type.
func commonCases(typ string) []paramCase {
	id := "meta-" + strings.ToLower(typ)
	return []paramCase{
		{"common _id", typ, "_id=" + id,
			func(r rec) bool { return r["id"] == id }, 1},
		{"common _lastUpdated", typ, "_lastUpdated=ge2026-01-01T00:00:00Z",
			func(r rec) bool {
				return anyDate(at(r, "meta", "lastUpdated"), "ge", "2026-01-01T00:00:00Z")
			}, 1},
		{"common _profile", typ, "_profile=" + testProfile,
			func(r rec) bool { return equalsExactly(strsAt(r, "meta", "profile"), testProfile) }, 1},
		{"common _security", typ, "_security=" + confidential + "|R",
			func(r rec) bool { return hasToken(at(r, "meta", "security"), confidential, "R") }, 1},
		{"common _source", typ, "_source=" + testSource,
			func(r rec) bool { return equalsExactly(strsAt(r, "meta", "source"), testSource) }, 1},
		{"common _tag", typ, "_tag=" + testTagSys + "|t1",
			func(r rec) bool { return hasToken(at(r, "meta", "tag"), testTagSys, "t1") }, 1},
	}
}
