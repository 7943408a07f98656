package consent

import "slices"

// match is the outcome of testing one provision against a request. The
// engine cannot always tell: matchUnknown is resolved toward denial by
// the caller of matches.
type match int8

const (
	matchNo match = iota
	matchYes
	matchUnknown
)

// and combines two outcomes of conditions that must all hold.
func (m match) and(other match) match {
	if m == matchNo || other == matchNo {
		return matchNo
	}
	if m == matchUnknown || other == matchUnknown {
		return matchUnknown
	}
	return matchYes
}

func boolMatch(b bool) match {
	if b {
		return matchYes
	}
	return matchNo
}

// matches tests the provision's own conditions, not those of its parents
// or children. Each condition with several entries holds when any entry
// matches; a condition that is absent always holds.
func (p *provision) matches(req *Request) match {
	m := p.period.contains(req.Time)
	if m == matchNo {
		return m
	}

	if len(p.actors) > 0 {
		m = m.and(boolMatch(slices.ContainsFunc(p.actors, func(a actorRule) bool {
			return a.matches(req.Actors)
		})))
	}
	if len(p.actions) > 0 {
		action := Coding{System: SystemConsentAction, Code: req.Action}
		m = m.and(boolMatch(hasCoding(p.actions, action)))
	}
	if len(p.purposes) > 0 {
		m = m.and(boolMatch(anyCoding(p.purposes, req.Purposes)))
	}

	if len(p.classes) > 0 {
		m = m.and(boolMatch(slices.ContainsFunc(p.classes, func(c Coding) bool {
			return classMatches(c, &req.Resource)
		})))
	}
	if len(p.codes) > 0 {
		m = m.and(boolMatch(anyCoding(p.codes, req.Resource.Codes)))
	}
	if len(p.labels) > 0 {
		m = m.and(labelsMatch(p.labels, req.Resource.SecurityLabels))
	}

	m = m.and(p.dataPeriod.contains(req.Resource.Date))
	if len(p.data) > 0 {
		m = m.and(dataMatches(p.data, &req.Resource))
	}
	if p.unreadable {
		m = m.and(matchUnknown)
	}
	return m
}

// matches reports whether one of the request's actors has the rule's
// reference and one of the rule's roles. A rule without a role or without
// a reference is matched on the part it has.
func (a actorRule) matches(actors []Actor) bool {
	for _, actor := range actors {
		if a.reference != "" && normalizeReference(actor.Reference) != a.reference {
			continue
		}
		if len(a.roles) == 0 || anyCoding(a.roles, actor.Roles) {
			return true
		}
	}
	return false
}

// classMatches compares a provision.class coding with the resource type
// (resource-types codes) or with the resource's other class codings. A
// class without a system is compared with both.
func classMatches(c Coding, r *Resource) bool {
	if (c.System == SystemResourceTypes || c.System == "") && c.Code == r.Type {
		return true
	}
	if c.System == SystemResourceTypes {
		return false
	}
	return hasCoding(r.Classes, c)
}

// confidentialityRank orders the v3-Confidentiality codes from
// unrestricted to very restricted.
var confidentialityRank = map[string]int{"U": 0, "L": 1, "M": 2, "N": 3, "R": 4, "V": 5}

// labelsMatch compares provision.securityLabel with the resource's labels.
// A confidentiality label is a high-water mark: the provision applies to
// resources at that level or lower, and a resource without a
// confidentiality label counts as N (normal). Other labels must appear on
// the resource.
func labelsMatch(rules, labels []Coding) match {
	result := matchNo
	for _, rule := range rules {
		if rule.System != SystemConfidentiality {
			if hasCoding(labels, rule) {
				return matchYes
			}
			continue
		}
		limit, ok := confidentialityRank[rule.Code]
		if !ok {
			result = matchUnknown
			continue
		}
		if resourceConfidentiality(labels) <= limit {
			return matchYes
		}
	}
	return result
}

func resourceConfidentiality(labels []Coding) int {
	level, found := 0, false
	for _, l := range labels {
		if l.System != SystemConfidentiality {
			continue
		}
		if rank, ok := confidentialityRank[l.Code]; ok && (!found || rank > level) {
			level, found = rank, true
		}
	}
	if !found {
		return confidentialityRank["N"]
	}
	return level
}

// dataMatches applies provision.data with the meanings of the R4
// consent-data-meaning code system. An instance rule covers the referenced
// resource itself. A related rule adds the resources it refers to, and a
// dependents rule the resources that refer to it. An authoredby rule
// covers resources whose author it is.
func dataMatches(rules []dataRule, r *Resource) match {
	self := r.Reference()
	result := matchNo
	for _, rule := range rules {
		target := rule.reference
		switch rule.meaning {
		case "instance":
			if target == self {
				return matchYes
			}
		case "related":
			if target == self || containsReference(r.ReferencedBy, target) {
				return matchYes
			}
		case "dependents":
			if target == self || containsReference(r.References, target) {
				return matchYes
			}
		case "authoredby":
			if containsReference(r.Authors, target) {
				return matchYes
			}
		default:
			result = matchUnknown
		}
	}
	return result
}

func containsReference(refs []string, target string) bool {
	for _, ref := range refs {
		if normalizeReference(ref) == target {
			return true
		}
	}
	return false
}

// codingMatches compares two codings by code, and by system when both
// have one.
func codingMatches(a, b Coding) bool {
	return a.Code == b.Code && (a.System == "" || b.System == "" || a.System == b.System)
}

func hasCoding(list []Coding, c Coding) bool {
	for _, x := range list {
		if codingMatches(x, c) {
			return true
		}
	}
	return false
}

func anyCoding(rules, values []Coding) bool {
	for _, v := range values {
		if hasCoding(rules, v) {
			return true
		}
	}
	return false
}
