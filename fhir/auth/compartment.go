package auth

import "slices"

// patientCompartmentTypes are the resource types that the FHIR R4 (4.0.1)
// CompartmentDefinition "patient" lists as possible members, in sorted
// order.
//
// NOTE: typed by hand from the R4 specification because no copy of the
// CompartmentDefinition is in this repository. Check it against
// compartmentdefinition-patient.json before relying on a rare type.
var patientCompartmentTypes = []string{
	"Account", "AdverseEvent", "AllergyIntolerance", "Appointment",
	"AppointmentResponse", "AuditEvent", "Basic", "BodyStructure",
	"CarePlan", "CareTeam", "ChargeItem", "Claim", "ClaimResponse",
	"ClinicalImpression", "Communication", "CommunicationRequest",
	"Composition", "Condition", "Consent", "Coverage",
	"CoverageEligibilityRequest", "CoverageEligibilityResponse",
	"DetectedIssue", "DeviceRequest", "DeviceUseStatement",
	"DiagnosticReport", "DocumentManifest", "DocumentReference",
	"Encounter", "EnrollmentRequest", "EpisodeOfCare",
	"ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal", "Group",
	"ImagingStudy", "Immunization", "ImmunizationEvaluation",
	"ImmunizationRecommendation", "Invoice", "List", "MeasureReport",
	"Media", "MedicationAdministration", "MedicationDispense",
	"MedicationRequest", "MedicationStatement", "MolecularSequence",
	"NutritionOrder", "Observation", "Patient", "Person", "Procedure",
	"Provenance", "QuestionnaireResponse", "RelatedPerson", "RequestGroup",
	"ResearchSubject", "RiskAssessment", "Schedule", "ServiceRequest",
	"Specimen", "SupplyDelivery", "SupplyRequest", "VisionPrescription",
}

// PatientCompartmentTypes returns the resource types that can be in a
// patient's compartment in FHIR R4, sorted. A patient/*.x scope covers
// exactly these.
func PatientCompartmentTypes() []string {
	return slices.Clone(patientCompartmentTypes)
}

// InPatientCompartment reports whether resources of the type can be in a
// patient's compartment in FHIR R4.
func InPatientCompartment(resourceType string) bool {
	_, found := slices.BinarySearch(patientCompartmentTypes, resourceType)
	return found
}
