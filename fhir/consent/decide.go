package consent

import (
	"fmt"
)

// outcome is the provision that decided within one Consent.
type outcome struct {
	prov  *provision
	typ   effect
	depth int
}

// better reports whether o is more specific than other: deeper in the
// provision tree, or as deep and a deny where other permits.
func (o outcome) better(other outcome) bool {
	if other.prov == nil {
		return true
	}
	if o.depth != other.depth {
		return o.depth > other.depth
	}
	return o.typ == effectDeny && other.typ == effectPermit
}

// evaluate returns the most specific matching provision in the tree
// rooted at p, whose type is typ. A matching provision decides unless one
// of its nested provisions matches too.
func evaluate(p *provision, typ effect, depth int, req *Request) (outcome, bool) {
	m := p.matches(req)
	if m == matchUnknown {
		// The engine cannot tell whether the provision applies, so a deny
		// applies and a permit does not.
		m = boolMatch(typ == effectDeny)
	}
	if m == matchNo {
		return outcome{}, false
	}

	var best outcome
	for _, child := range p.children {
		childType := child.typ
		if childType == effectNone {
			// R4 requires a type on nested provisions. One without a
			// type is read as a refinement of its parent.
			childType = typ
		}
		if o, ok := evaluate(child, childType, depth+1, req); ok && o.better(best) {
			best = o
		}
	}
	if best.prov != nil {
		return best, true
	}
	return outcome{prov: p, typ: typ, depth: depth}, true
}

// ConsentResult is the part one Consent played in a decision.
type ConsentResult struct {
	// ConsentID is the Consent's logical id.
	ConsentID string

	// Counted reports whether the Consent took part. Skipped gives the
	// reason when it did not.
	Counted bool
	Skipped string

	// Base is "permit" or "deny": what the Consent decides where none of
	// its provisions matches.
	Base string

	// ProvisionPath and ProvisionType name the Consent's most specific
	// matching provision, if any.
	ProvisionPath string
	ProvisionType string
}

// candidate is a decision one Consent offers.
type candidate struct {
	consent *parsedConsent
	typ     effect
	prov    *provision
}

func (s *consentSet) decide(req Request, policy Policy, trace *[]ConsentResult) Decision {
	if reason := checkRequest(&req); reason != "" {
		return Decision{Reason: reason}
	}
	if trace != nil {
		for _, sk := range s.skipped {
			*trace = append(*trace, ConsentResult{ConsentID: sk.id, Skipped: sk.reason})
		}
	}

	patient := "Patient/" + req.PatientID
	var explicitDeny, explicitPermit, baseDeny, basePermit candidate
	for _, c := range s.consents {
		var result *ConsentResult
		if trace != nil {
			*trace = append(*trace, ConsentResult{ConsentID: c.id})
			result = &(*trace)[len(*trace)-1]
		}
		if c.patient != patient {
			setSkipped(result, "the Consent is for another patient")
			continue
		}
		if c.hasDateTime && c.dateTime.After(req.Time) {
			setSkipped(result, "the Consent is dated after the evaluation time")
			continue
		}

		base := c.base
		if base == effectNone {
			base = effectOf(policy.Default)
		}
		if result != nil {
			result.Counted, result.Base = true, base.String()
		}
		keepFirst(&baseDeny, &basePermit, candidate{consent: c, typ: base})

		if c.root == nil {
			continue
		}
		rootType := c.root.typ
		if rootType == effectNone {
			// The root provision is an exception to the base policy.
			rootType = base.opposite()
		}
		o, ok := evaluate(c.root, rootType, 0, &req)
		if !ok {
			continue
		}
		if result != nil {
			result.ProvisionPath, result.ProvisionType = o.prov.path, o.typ.String()
		}
		keepFirst(&explicitDeny, &explicitPermit, candidate{consent: c, typ: o.typ, prov: o.prov})
	}

	d := combine(explicitDeny, explicitPermit, baseDeny, basePermit, policy)
	return applyBreakGlass(d, &req, policy)
}

func setSkipped(result *ConsentResult, reason string) {
	if result != nil {
		result.Skipped = reason
	}
}

// keepFirst stores c in the slot of its type unless the slot is taken.
// Consents arrive newest first, so each slot holds the newest.
func keepFirst(deny, permit *candidate, c candidate) {
	slot := permit
	if c.typ == effectDeny {
		slot = deny
	}
	if slot.consent == nil {
		*slot = c
	}
}

// combine applies the rules across Consents: a matching provision in any
// Consent beats every base policy, and deny beats permit at each level.
func combine(explicitDeny, explicitPermit, baseDeny, basePermit candidate, policy Policy) Decision {
	switch {
	case explicitDeny.consent != nil:
		return provisionDecision(explicitDeny)
	case explicitPermit.consent != nil:
		return provisionDecision(explicitPermit)
	case baseDeny.consent != nil:
		return baseDecision(baseDeny)
	case basePermit.consent != nil:
		return baseDecision(basePermit)
	}
	permit := policy.Default == OptOut
	return Decision{
		Permit: permit,
		Reason: fmt.Sprintf("No active patient-privacy Consent applies; the server default "+
			"is %s, which %s.", policy.Default, verb(permit)),
	}
}

func provisionDecision(c candidate) Decision {
	permit := c.typ == effectPermit
	reason := fmt.Sprintf("A %s provision without conditions matched.", c.typ)
	if c.prov.conditions != "" {
		reason = fmt.Sprintf("A %s provision matched on %s.", c.typ, c.prov.conditions)
	}
	return Decision{
		Permit:        permit,
		ConsentID:     c.consent.id,
		ProvisionPath: c.prov.path,
		Reason:        reason,
	}
}

func baseDecision(c candidate) Decision {
	permit := c.typ == effectPermit
	source := "the policyRule " + c.consent.baseCode
	if c.consent.baseCode == "" {
		source = "no known policyRule, so the server default"
	}
	return Decision{
		Permit:    permit,
		ConsentID: c.consent.id,
		Reason: fmt.Sprintf("No provision matched; the Consent states %s, which %s.",
			source, verb(permit)),
	}
}

func verb(permit bool) string {
	if permit {
		return "permits"
	}
	return "denies"
}

// applyBreakGlass turns a deny into a permit marked BreakGlass when the
// policy allows emergency access and the request states ETREAT.
func applyBreakGlass(d Decision, req *Request, policy Policy) Decision {
	if d.Permit || !policy.BreakGlass || !hasCoding(req.Purposes, Purpose("ETREAT")) {
		return d
	}
	d.Permit, d.BreakGlass = true, true
	d.Reason = "Break-glass: emergency treatment (ETREAT) overrode a deny. " + d.Reason
	return d
}

// checkRequest returns why req cannot be decided, or "".
func checkRequest(req *Request) string {
	switch {
	case req.PatientID == "":
		return "The request names no patient, so access is denied."
	case req.Time.IsZero():
		return "The request has no evaluation time, so access is denied."
	case req.Action == "":
		return "The request has no consent action, so access is denied."
	case req.Resource.Type == "":
		return "The request names no resource type, so access is denied."
	}
	return ""
}
