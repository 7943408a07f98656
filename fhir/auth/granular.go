package auth

import (
	"net/url"
	"strconv"
	"strings"
)

// Granular SMART v2 scopes restrict a grant with search parameters, as in
// "patient/Observation.rs?category=http://...|laboratory". This file checks
// a resource against such a restriction.
//
// Supported: token search parameters whose name, with hyphens turned into
// camelCase ("clinical-status" to "clinicalStatus"), is a top-level element
// of the resource that holds a code, a boolean, a Coding or a
// CodeableConcept, or a list of those. The special parameters _security and
// _tag read meta.security and meta.tag. A value may be "code",
// "system|code", "|code" (no system) or "system|" (any code in the system),
// and a comma separates alternatives. Repeated parameters must all match.
//
// Anything else (modifiers such as ":not", chained or reference
// parameters, elements that are not top-level) admits no resource, so an
// unsupported restriction fails closed.

// ResourceAllowed reports whether a scope that grants read or search on
// resourceType admits res, including the restriction of a granular scope.
// res is the resource's JSON decoded into a map, and its resourceType must
// equal resourceType. Compartment membership is not checked here: confine
// the request with PatientScoped.
func (p Principal) ResourceAllowed(resourceType string, res map[string]any) bool {
	return p.AllowsResource(Read|Search, resourceType, res)
}

// AllowsResource reports whether a scope that grants any of the
// interactions in the set on resourceType admits res.
func (p Principal) AllowsResource(interactions Interaction, resourceType string,
	res map[string]any) bool {
	if rt, _ := res["resourceType"].(string); rt != resourceType {
		return false
	}
	for _, s := range p.Scopes {
		if p.effective(s) && s.covers(interactions, resourceType) && admits(s.Query, res) {
			return true
		}
	}
	return false
}

// SearchRestrictions returns the granular restrictions that apply to a
// search of resourceType. unrestricted is true when some scope grants the
// search with no restriction. Otherwise a resource is in scope when it
// matches every parameter of at least one of the returned queries, and an
// empty list means no scope grants the search at all.
func (p Principal) SearchRestrictions(resourceType string) (queries []url.Values,
	unrestricted bool) {
	for _, s := range p.Scopes {
		if !p.effective(s) || !s.covers(Search, resourceType) {
			continue
		}
		if s.Query == nil {
			return nil, true
		}
		queries = append(queries, s.Query)
	}
	return queries, false
}

// admits reports whether res matches every parameter of query. A nil
// query admits every resource.
func admits(query url.Values, res map[string]any) bool {
	for param, values := range query {
		element, ok := restrictedElement(param, res)
		if !ok {
			return false
		}
		for _, value := range values {
			if !matchesAnyToken(element, value) {
				return false
			}
		}
	}
	return true
}

// restrictedElement returns the value of the element that a search
// parameter names, or false when the parameter is unsupported.
func restrictedElement(param string, res map[string]any) (any, bool) {
	switch param {
	case "_security", "_tag":
		meta, _ := res["meta"].(map[string]any)
		return meta[strings.TrimPrefix(param, "_")], true
	}
	if param == "" || strings.ContainsAny(param, ":._") {
		return nil, false
	}
	return res[camelCase(param)], true
}

// camelCase turns a search parameter name such as "clinical-status" into
// the element name "clinicalStatus".
func camelCase(param string) string {
	parts := strings.Split(param, "-")
	var b strings.Builder
	b.WriteString(parts[0])
	for _, part := range parts[1:] {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

// matchesAnyToken reports whether element matches one of the
// comma-separated token values.
func matchesAnyToken(element any, value string) bool {
	for _, token := range strings.Split(value, ",") {
		if token != "" && matchesToken(element, token) {
			return true
		}
	}
	return false
}

func matchesToken(element any, token string) bool {
	system, code, hasSystem := strings.Cut(token, "|")
	if !hasSystem {
		system, code = "", token
	}

	switch v := element.(type) {
	case []any:
		for _, item := range v {
			if matchesToken(item, token) {
				return true
			}
		}
		return false
	case string:
		return !hasSystem && v == code
	case bool:
		return !hasSystem && strconv.FormatBool(v) == code
	case map[string]any:
		if codings, ok := v["coding"].([]any); ok {
			return matchesToken(codings, token)
		}
		return matchesCoding(v, system, code, hasSystem)
	}
	return false
}

// matchesCoding applies the FHIR token rules to one Coding.
func matchesCoding(coding map[string]any, system, code string, hasSystem bool) bool {
	gotSystem, _ := coding["system"].(string)
	gotCode, _ := coding["code"].(string)
	switch {
	case !hasSystem:
		return gotCode == code
	case system == "":
		return gotSystem == "" && gotCode == code
	case code == "":
		return gotSystem == system
	default:
		return gotSystem == system && gotCode == code
	}
}
