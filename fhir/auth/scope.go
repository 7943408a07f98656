package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Interaction is a FHIR RESTful interaction as SMART scopes name it.
type Interaction uint8

// The interactions that SMART v2 scope letters c, r, u, d and s grant. A
// SMART v1 "read" scope grants Read and Search, and "write" grants Create,
// Update and Delete.
const (
	Create Interaction = 1 << iota
	Read
	Update
	Delete
	Search
)

// allInteractions is the set a v1 ".*" scope grants.
const allInteractions = Create | Read | Update | Delete | Search

// String returns the SMART v2 letters of the set, in c, r, u, d, s order.
func (i Interaction) String() string {
	var b strings.Builder
	for _, l := range scopeLetters {
		if i&l.interaction != 0 {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

var scopeLetters = []struct {
	letter      byte
	interaction Interaction
}{
	{'c', Create}, {'r', Read}, {'u', Update}, {'d', Delete}, {'s', Search},
}

// Context is the first part of a SMART clinical scope: whose data the scope
// is about.
type Context string

// SMART scope contexts.
const (
	PatientContext Context = "patient"
	UserContext    Context = "user"
	SystemContext  Context = "system"
)

// Scope is one parsed SMART clinical scope such as "patient/Observation.rs"
// or "user/*.read".
type Scope struct {
	Raw          string
	Context      Context
	ResourceType string // a resource type, or "*" for every type
	Interactions Interaction
	Version      int // 1 for read/write/* scopes, 2 for cruds letters

	// Query is the restriction of a granular v2 scope, for example
	// category=http://...|laboratory. It is nil for a scope without "?".
	Query url.Values
}

// ErrNotClinicalScope is returned by ParseScope for a scope that is not of
// the form context/type.permissions, such as "openid" or "launch/patient".
var ErrNotClinicalScope = errors.New("not a SMART clinical scope")

// ParseScope parses one SMART v1 or v2 clinical scope.
func ParseScope(raw string) (Scope, error) {
	context, rest, ok := strings.Cut(raw, "/")
	if !ok {
		return Scope{}, fmt.Errorf("scope %q: %w", raw, ErrNotClinicalScope)
	}
	switch Context(context) {
	case PatientContext, UserContext, SystemContext:
	default:
		return Scope{}, fmt.Errorf("scope %q: %w", raw, ErrNotClinicalScope)
	}

	rest, query, hasQuery := strings.Cut(rest, "?")
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return Scope{}, fmt.Errorf("invalid scope %q: missing .permissions", raw)
	}
	resourceType, permissions := rest[:dot], rest[dot+1:]
	if !validResourceType(resourceType) {
		return Scope{}, fmt.Errorf("invalid scope %q: resource type %q is neither * "+
			"nor a FHIR resource type name", raw, resourceType)
	}

	s := Scope{Raw: raw, Context: Context(context), ResourceType: resourceType}
	if err := s.setPermissions(permissions); err != nil {
		return Scope{}, fmt.Errorf("invalid scope %q: %w", raw, err)
	}

	if hasQuery {
		if s.Version != 2 {
			return Scope{}, fmt.Errorf("invalid scope %q: only SMART v2 scopes "+
				"(cruds letters) may carry a ?query restriction", raw)
		}
		values, err := url.ParseQuery(query)
		if err != nil || len(values) == 0 {
			return Scope{}, fmt.Errorf("invalid scope %q: query %q is not a "+
				"search parameter list", raw, query)
		}
		s.Query = values
	}
	return s, nil
}

// setPermissions reads "read", "write" or "*" (v1) or a non-empty run of
// the letters c, r, u, d, s in that order (v2).
func (s *Scope) setPermissions(permissions string) error {
	switch permissions {
	case "read":
		s.Version, s.Interactions = 1, Read|Search
		return nil
	case "write":
		s.Version, s.Interactions = 1, Create|Update|Delete
		return nil
	case "*":
		s.Version, s.Interactions = 1, allInteractions
		return nil
	case "":
		return errors.New("empty permissions")
	}

	next := 0
	for i := 0; i < len(permissions); i++ {
		found := false
		for next < len(scopeLetters) {
			l := scopeLetters[next]
			next++
			if l.letter == permissions[i] {
				s.Interactions |= l.interaction
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("permissions %q are not read, write, * or the "+
				"letters c, r, u, d, s in that order", permissions)
		}
	}
	s.Version = 2
	return nil
}

// validResourceType reports whether name is "*" or looks like a FHIR
// resource type name (an upper-case ASCII letter, then ASCII letters).
func validResourceType(name string) bool {
	if name == "*" {
		return true
	}
	if name == "" || name[0] < 'A' || name[0] > 'Z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// ParseScopes splits a space-separated OAuth scope string into clinical
// scopes and every other granted scope (openid, launch/patient,
// offline_access and so on). A clinical-looking scope that does not parse,
// such as "user/Patient.rsc", grants nothing and is returned in invalid.
func ParseScopes(scope string) (clinical []Scope, other []string, invalid []string) {
	for _, raw := range strings.Fields(scope) {
		s, err := ParseScope(raw)
		switch {
		case err == nil:
			clinical = append(clinical, s)
		case errors.Is(err, ErrNotClinicalScope):
			other = append(other, raw)
		default:
			invalid = append(invalid, raw)
		}
	}
	return clinical, other, invalid
}

// covers reports whether the scope grants the interaction on the type.
func (s Scope) covers(interaction Interaction, resourceType string) bool {
	if s.Interactions&interaction == 0 {
		return false
	}
	return s.ResourceType == "*" || s.ResourceType == resourceType
}
