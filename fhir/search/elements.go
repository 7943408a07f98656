package search

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// summaryElements are the top-level elements marked as summary (Σ) in the
// R4 definitions of each resource type, without the id and meta that every
// summary keeps. Choice elements are listed by their base name.
//
// NOTE: typed in from the R4 resource pages, not generated from the
// StructureDefinitions, which this repository does not contain.
var summaryElements = map[string][]string{
	"Patient": {"identifier", "active", "name", "telecom", "gender", "birthDate",
		"deceased", "address", "managingOrganization", "link"},
	"DocumentReference": {"masterIdentifier", "identifier", "status", "docStatus", "type",
		"category", "subject", "date", "author", "authenticator", "custodian", "relatesTo",
		"description", "securityLabel", "content", "context"},
	"Consent": {"identifier", "status", "scope", "category", "patient", "dateTime",
		"performer", "organization", "source", "policyRule", "provision"},
	"AuditEvent": {"type", "subtype", "action", "period", "recorded", "outcome",
		"outcomeDesc", "purposeOfEvent", "agent", "source", "entity"},
}

// mandatoryElements are the top-level elements with a minimum
// cardinality of 1, which _elements and _summary=text keep.
var mandatoryElements = map[string][]string{
	"Patient":           {},
	"DocumentReference": {"status", "content"},
	"Consent":           {"status", "scope", "category"},
	"AuditEvent":        {"type", "recorded", "agent", "source"},
}

const subsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

// Summary returns resource trimmed for _summary=mode (true, text or data)
// and marked with the SUBSETTED tag. "false", "count" and "" return it
// unchanged.
func Summary(resourceType string, resource []byte, mode string) ([]byte, error) {
	var keep []string
	switch mode {
	case "", "false", "count":
		return resource, nil
	case "true":
		keep = summaryElements[resourceType]
	case "text":
		keep = append([]string{"text"}, mandatoryElements[resourceType]...)
	case "data":
		return subset(resource, nil, "text")
	default:
		return nil, fmt.Errorf("search: unknown _summary mode %q", mode)
	}
	return subset(resource, keep, "")
}

// Elements returns resource with only the named top-level elements (and
// id, meta and the mandatory elements of its type), marked SUBSETTED.
func Elements(resourceType string, resource []byte, elements []string) ([]byte, error) {
	keep := append(append([]string(nil), elements...), mandatoryElements[resourceType]...)
	return subset(resource, keep, "")
}

func trim(p *plan, resource []byte) ([]byte, error) {
	switch {
	case len(p.elements) > 0:
		return Elements(p.typ, resource, p.elements)
	case p.summary != "":
		return Summary(p.typ, resource, p.summary)
	}
	return resource, nil
}

// subset keeps resourceType, id, meta and the listed elements (choice
// elements by base name), or, when keep is nil, every element but drop.
func subset(resource []byte, keep []string, drop string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("search: invalid resource JSON: %w", err)
	}
	out := map[string]json.RawMessage{}
	for k, v := range m {
		switch {
		case k == "resourceType" || k == "id" || k == "meta":
			out[k] = v
		case keep == nil:
			if k != drop {
				out[k] = v
			}
		case listed(keep, k):
			out[k] = v
		}
	}
	meta, err := tagSubsetted(out["meta"])
	if err != nil {
		return nil, err
	}
	out["meta"] = meta
	return json.Marshal(out)
}

// listed reports whether key is one of names or a choice element of one
// (deceasedBoolean for deceased), or the primitive extension _name of one.
func listed(names []string, key string) bool {
	if len(key) > 1 && key[0] == '_' {
		key = key[1:]
	}
	for _, n := range names {
		if key == n {
			return true
		}
		if len(key) > len(n) && key[:len(n)] == n && key[len(n)] >= 'A' && key[len(n)] <= 'Z' {
			return true
		}
	}
	return false
}

func tagSubsetted(raw json.RawMessage) (json.RawMessage, error) {
	meta := map[string]any{}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&meta); err != nil {
			return nil, fmt.Errorf("search: invalid meta: %w", err)
		}
	}
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if tm, ok := t.(map[string]any); ok && tm["system"] == subsettedSystem &&
			tm["code"] == "SUBSETTED" {
			return raw, nil
		}
	}
	meta["tag"] = append(tags, map[string]any{"system": subsettedSystem,
		"code": "SUBSETTED", "display": "subsetted"})
	return json.Marshal(meta)
}
