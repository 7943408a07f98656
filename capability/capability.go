// Package capability generates the CapabilityStatement of the server from
// what is really registered: the served types, the interactions each
// allows, the search parameters the search engine declares and the
// security that is enforced.
package capability

import (
	"encoding/json"
	"time"
)

// SearchParam is one declared search parameter of a type.
type SearchParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// Resource describes one served type.
type Resource struct {
	Type         string
	Interactions []string // FHIR TypeRestfulInteraction codes
	SearchParams []SearchParam
	Operations   []Operation
	Includes     []string
	RevIncludes  []string
}

// Operation is a declared operation.
type Operation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// Statement is everything a CapabilityStatement is generated from.
type Statement struct {
	Software    string
	Version     string
	BaseURL     string
	Resources   []Resource
	System      []string // system interactions, e.g. history-system
	Security    map[string]any
	Operations  []Operation
	PublishedAt time.Time
}

// JSON encodes the statement as an R4 CapabilityStatement resource.
func (s Statement) JSON() []byte {
	type interaction struct {
		Code string `json:"code"`
	}
	type resource struct {
		Type              string        `json:"type"`
		Interaction       []interaction `json:"interaction"`
		Versioning        string        `json:"versioning"`
		ReadHistory       bool          `json:"readHistory"`
		UpdateCreate      bool          `json:"updateCreate"`
		ConditionalDelete string        `json:"conditionalDelete"`
		SearchInclude     []string      `json:"searchInclude,omitempty"`
		SearchRevInclude  []string      `json:"searchRevInclude,omitempty"`
		SearchParam       []SearchParam `json:"searchParam,omitempty"`
		Operation         []Operation   `json:"operation,omitempty"`
	}
	var resources []resource
	for _, r := range s.Resources {
		out := resource{Type: r.Type, Versioning: "versioned", ReadHistory: true,
			UpdateCreate: contains(r.Interactions, "update"), ConditionalDelete: "not-supported",
			SearchInclude: r.Includes, SearchRevInclude: r.RevIncludes,
			SearchParam: r.SearchParams, Operation: r.Operations}
		for _, code := range r.Interactions {
			out.Interaction = append(out.Interaction, interaction{code})
		}
		resources = append(resources, out)
	}
	var system []interaction
	for _, code := range s.System {
		system = append(system, interaction{code})
	}
	rest := map[string]any{
		"mode":        "server",
		"resource":    resources,
		"interaction": system,
	}
	if s.Security != nil {
		rest["security"] = s.Security
	}
	if len(s.Operations) > 0 {
		rest["operation"] = s.Operations
	}
	published := s.PublishedAt
	if published.IsZero() {
		published = time.Now()
	}
	doc := map[string]any{
		"resourceType":   "CapabilityStatement",
		"status":         "active",
		"date":           published.UTC().Format(time.RFC3339),
		"kind":           "instance",
		"software":       map[string]any{"name": s.Software, "version": s.Version},
		"implementation": map[string]any{"description": s.Software, "url": s.BaseURL},
		"fhirVersion":    "4.0.1",
		"format":         []string{"application/fhir+json", "json"},
		"rest":           []any{rest},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		// The document holds only strings, booleans, slices and maps.
		panic(err)
	}
	return body
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
