// Package outcome builds FHIR OperationOutcome resources and carries them,
// with the HTTP status they belong to, as Go errors from any layer up to
// the REST handlers.
package outcome

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// Error is an error that a client receives as an OperationOutcome with the
// given HTTP status.
type Error struct {
	Status int
	Issues []Issue
}

// Error returns the diagnostics of the issues, joined.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%d", e.Status)
	for _, is := range e.Issues {
		msg += ": " + is.Diagnostics
	}
	return msg
}

// New returns an Error with one issue of severity error.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Issues: []Issue{{
		Severity:    "error",
		Code:        code,
		Diagnostics: fmt.Sprintf(format, args...),
	}}}
}

// At returns an Error with one issue of severity error on the element named
// by expression (a FHIRPath such as "Patient.birthDate").
func At(status int, code, expression, format string, args ...any) *Error {
	e := New(status, code, format, args...)
	if expression != "" {
		e.Issues[0].Expression = []string{expression}
	}
	return e
}

// As returns err as an *Error. Errors of other kinds become a 500 with a
// generic message, so that no internal detail reaches the client.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return New(http.StatusInternalServerError, "exception",
		"The server failed to process the request. The request id in the "+
			"X-Request-Id header identifies it in the server log.")
}

// JSON encodes issues as an OperationOutcome resource.
func JSON(issues ...Issue) []byte {
	body, err := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues})
	if err != nil {
		// Issues holds only strings, so encoding cannot fail.
		panic(err)
	}
	return body
}

// Information returns a single issue of severity information, for
// OperationOutcomes that report success.
func Information(format string, args ...any) Issue {
	return Issue{Severity: "information", Code: "informational",
		Diagnostics: fmt.Sprintf(format, args...)}
}
