package consent

// Explanation is a decision with the part each Consent played in it, for
// a $consent-decision operation or a privacy officer's review.
type Explanation struct {
	Decision Decision
	// Consents lists every resource given, counted or not: first those
	// that never count (wrong status, scope or type), then the others
	// newest first.
	Consents []ConsentResult
}

// Explain decides req like Decide and records how each Consent took part.
func Explain(consents []map[string]any, req Request, policy Policy) Explanation {
	set := compileSet(consents, policy.Location)
	var trace []ConsentResult
	d := set.decide(req, policy, &trace)
	return Explanation{Decision: d, Consents: trace}
}

// Parameters returns the decision as a FHIR Parameters resource, the
// shape of a $consent-decision response: "decision" (code permit or
// deny), "breakGlass" (boolean), "consent" (Reference, when a Consent
// decided), "provision" (string, when a provision decided) and "reason"
// (string).
func (d Decision) Parameters() map[string]any {
	code := "deny"
	if d.Permit {
		code = "permit"
	}
	params := []any{
		map[string]any{"name": "decision", "valueCode": code},
		map[string]any{"name": "breakGlass", "valueBoolean": d.BreakGlass},
	}
	if d.ConsentID != "" {
		params = append(params, map[string]any{
			"name":           "consent",
			"valueReference": map[string]any{"reference": "Consent/" + d.ConsentID},
		})
	}
	if d.ProvisionPath != "" {
		params = append(params, map[string]any{"name": "provision", "valueString": d.ProvisionPath})
	}
	params = append(params, map[string]any{"name": "reason", "valueString": d.Reason})
	return map[string]any{"resourceType": "Parameters", "parameter": params}
}
