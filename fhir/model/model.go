// Package model parses, validates and encodes FHIR R4 resources with
// github.com/google/fhir/go, and lists which resource types Custos serves
// and which patient compartment each resource belongs to.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/google/fhir/go/jsonformat/errorreporter"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	crpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/custos/custos/fhir/outcome"
)

// Types lists the resource types that Custos serves, in the order the
// CapabilityStatement lists them.
var Types = []string{"Patient", "DocumentReference", "Consent", "AuditEvent"}

// Served reports whether Custos serves resources of type typ.
func Served(typ string) bool {
	for _, t := range Types {
		if t == typ {
			return true
		}
	}
	return false
}

// idPattern is the R4 id datatype: 1 to 64 of A-Z a-z 0-9 - and .
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidID reports whether id is a valid R4 logical id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Codec parses and encodes resources. It is safe for concurrent use.
type Codec struct {
	unmarshaller *jsonformat.Unmarshaller
	marshaller   *jsonformat.Marshaller
}

// NewCodec returns a Codec for R4 with strict validation.
func NewCodec() (*Codec, error) {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("create R4 unmarshaller: %w", err)
	}
	// Deeply nested input costs stack and time; real resources of these
	// types stay far below this depth.
	u.MaxNestingDepth = 64
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("create R4 marshaller: %w", err)
	}
	return &Codec{unmarshaller: u, marshaller: m}, nil
}

// Resource is a parsed, validated resource.
type Resource struct {
	contained *crpb.ContainedResource
	msg       protoreflect.Message
	// Type is the resourceType, for example "Patient".
	Type string
	// subject is the patient a DocumentReference or Consent belongs to,
	// read at parse time: the marshaller rewrites typed references in the
	// proto as it encodes them, so they cannot be read afterwards.
	subject string
}

// Parse parses and validates body as an R4 resource. Failures are
// *outcome.Error values: 400 for input that is not a well-formed resource
// (bad JSON, unknown elements, wrong types, bad primitive values), 422 for
// a well-formed resource that breaks a rule of the specification (missing
// required elements, references to the wrong type).
func (c *Codec) Parse(body []byte) (*Resource, error) {
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	rep := &collector{}
	msg, err := c.unmarshaller.UnmarshalWithErrorReporter(body, rep)
	if err != nil {
		return nil, parseError(err)
	}
	if len(rep.issues) > 0 {
		return nil, &outcome.Error{Status: http.StatusUnprocessableEntity, Issues: rep.issues}
	}
	cr, ok := msg.(*crpb.ContainedResource)
	if !ok {
		return nil, outcome.New(http.StatusBadRequest, "structure", "the body is not a resource")
	}
	rm := cr.ProtoReflect()
	fd := rm.WhichOneof(rm.Descriptor().Oneofs().ByName("oneof_resource"))
	if fd == nil {
		return nil, outcome.New(http.StatusBadRequest, "structure", "the body is not a resource")
	}
	res := rm.Get(fd).Message()
	r := &Resource{contained: cr, msg: res, Type: string(res.Descriptor().Name())}
	switch r.Type {
	case "DocumentReference":
		r.subject = cr.GetDocumentReference().GetSubject().GetPatientId().GetValue()
	case "Consent":
		r.subject = cr.GetConsent().GetPatient().GetPatientId().GetValue()
	}
	return r, nil
}

// parseError turns a google/fhir/go parse failure into an OperationOutcome.
// The library's error types are internal to it, so their exported fields
// (Path, Details, Diagnostics) are read by reflection.
func parseError(err error) *outcome.Error {
	e := &outcome.Error{Status: http.StatusBadRequest}
	for _, one := range unmarshalErrors(err) {
		if len(e.Issues) == 20 {
			break
		}
		e.Issues = append(e.Issues, issueOf(one))
	}
	if len(e.Issues) == 0 {
		e.Issues = []outcome.Issue{{Severity: "error", Code: "structure",
			Diagnostics: "the body is not a valid R4 resource: " + err.Error()}}
	}
	return e
}

func unmarshalErrors(err error) []reflect.Value {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Slice {
		out := make([]reflect.Value, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			out = append(out, v.Index(i))
		}
		return out
	}
	return []reflect.Value{v}
}

func issueOf(v reflect.Value) outcome.Issue {
	field := func(name string) string {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return ""
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return ""
		}
		f := v.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.String {
			return ""
		}
		return f.String()
	}
	path, details, diag := field("Path"), field("Details"), field("Diagnostics")
	is := outcome.Issue{Severity: "error", Code: "structure"}
	switch {
	case details == "invalid JSON":
		is.Code = "invalid"
		is.Diagnostics = "the body is not valid JSON"
		if diag != "" {
			is.Diagnostics += ": " + diag
		}
	case details == "unknown field":
		name, err := strconv.Unquote(diag)
		if err != nil {
			name = diag
		}
		is.Diagnostics = fmt.Sprintf("unknown element %q", name)
		if path != "" {
			path += "." + name
		}
	case details != "":
		is.Diagnostics = details
		if diag != "" {
			is.Diagnostics += " (" + diag + ")"
		}
	default:
		is.Diagnostics = "the body is not a valid R4 resource"
	}
	if path != "" {
		is.Expression = []string{path}
		is.Diagnostics = path + ": " + is.Diagnostics
	}
	return is
}

// collector gathers validation errors as OperationOutcome issues.
type collector struct{ issues []outcome.Issue }

func (c *collector) ReportValidationError(path string, err error) error {
	if len(c.issues) < 20 {
		c.issues = append(c.issues, outcome.Issue{Severity: "error", Code: "invariant",
			Diagnostics: err.Error(), Expression: []string{path}})
	}
	return nil
}

func (c *collector) ReportValidationWarning(string, error) error { return nil }

var _ errorreporter.ErrorReporter = (*collector)(nil)

// ID returns the resource's logical id, or "".
func (r *Resource) ID() string {
	fd := r.msg.Descriptor().Fields().ByName("id")
	if !r.msg.Has(fd) {
		return ""
	}
	return r.msg.Get(fd).Message().Interface().(*dtpb.Id).GetValue()
}

// SetID sets the logical id; "" removes it.
func (r *Resource) SetID(id string) {
	fd := r.msg.Descriptor().Fields().ByName("id")
	if id == "" {
		r.msg.Clear(fd)
		return
	}
	r.msg.Set(fd, protoreflect.ValueOfMessage((&dtpb.Id{Value: id}).ProtoReflect()))
}

// meta returns the resource's Meta, creating it when absent.
func (r *Resource) meta() *dtpb.Meta {
	fd := r.msg.Descriptor().Fields().ByName("meta")
	return r.msg.Mutable(fd).Message().Interface().(*dtpb.Meta)
}

// SetMeta sets meta.versionId and meta.lastUpdated, the fields the server
// manages. A zero versionID clears both.
func (r *Resource) SetMeta(versionID int64, lastUpdated time.Time) {
	m := r.meta()
	if versionID == 0 {
		m.VersionId = nil
		m.LastUpdated = nil
		if proto.Size(m) == 0 {
			r.msg.Clear(r.msg.Descriptor().Fields().ByName("meta"))
		}
		return
	}
	m.VersionId = &dtpb.Id{Value: fmt.Sprint(versionID)}
	m.LastUpdated = &dtpb.Instant{
		ValueUs:   lastUpdated.UnixMicro(),
		Timezone:  "Z",
		Precision: dtpb.Instant_MILLISECOND,
	}
}

// Marshal encodes the resource as canonical R4 JSON.
func (c *Codec) Marshal(r *Resource) ([]byte, error) {
	return c.marshaller.Marshal(r.contained)
}

// Message returns the resource as a proto, for callers that read fields.
func (r *Resource) Message() proto.Message { return r.msg.Interface() }

// Compartment returns the id of the patient whose compartment the resource
// belongs to for sealing, or "" when it is in none. A Patient is its own
// compartment. A DocumentReference belongs to its subject and a Consent to
// its patient, when those are Patient references.
func (r *Resource) Compartment() string {
	if r.Type == "Patient" {
		return r.ID()
	}
	return r.subject
}

// ErrNotServed is returned for resource types that Custos does not serve.
var ErrNotServed = errors.New("resource type not served")

// CompartmentOfJSON returns the patient compartment of a resource from its
// JSON, as Compartment does for a parsed one, reading only the elements
// that decide it.
func CompartmentOfJSON(typ string, body []byte) string {
	var doc struct {
		ID      string `json:"id"`
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
		Patient struct {
			Reference string `json:"reference"`
		} `json:"patient"`
	}
	switch typ {
	case "Patient", "DocumentReference", "Consent":
	default:
		return ""
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	ref := doc.Subject.Reference
	switch typ {
	case "Patient":
		return doc.ID
	case "Consent":
		ref = doc.Patient.Reference
	}
	id, ok := strings.CutPrefix(ref, "Patient/")
	if !ok || !ValidID(id) {
		return ""
	}
	return id
}

// AddTag adds a coding to meta.tag unless it is already there.
func (r *Resource) AddTag(system, code string) {
	m := r.meta()
	for _, t := range m.Tag {
		if t.GetSystem().GetValue() == system && t.GetCode().GetValue() == code {
			return
		}
	}
	m.Tag = append(m.Tag, &dtpb.Coding{System: &dtpb.Uri{Value: system},
		Code: &dtpb.Code{Value: code}})
}
