// Package conformance is a black-box suite that drives a FHIR R4 base URL
// over HTTP and checks the behaviour the specification requires of the
// RESTful API: versions, conditional requests, content negotiation,
// history and OperationOutcome errors. It relies on nothing of how Custos is
// built, so it can check any server.
package conformance

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Client sends requests to one FHIR base.
type Client struct {
	Base string
	HTTP *http.Client
	// Header is added to every request, for example Authorization.
	Header http.Header
}

// Response is a completed exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map, failing the test when it is
// not a JSON object.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(r.Body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("response body is not a JSON object (status %d): %v: %.300s",
			r.Status, err, r.Body)
	}
	return m
}

// Do sends one request. Path is relative to the base ("Patient/1") or
// absolute ("http://...").
func (c *Client) Do(t testing.TB, method, path string, body []byte, header ...string) Response {
	t.Helper()
	url := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		url = strings.TrimRight(c.Base, "/") + "/" + strings.TrimLeft(path, "/")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// expectStatus fails the test unless the response has the status.
func expectStatus(t testing.TB, r Response, want int, what string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body %.400s", what, r.Status, want, r.Body)
	}
}

// expectOutcome fails the test unless the response is an OperationOutcome
// with the status and at least one issue of severity error or fatal.
func expectOutcome(t testing.TB, r Response, want int, what string) map[string]any {
	t.Helper()
	expectStatus(t, r, want, what)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("%s: Content-Type %q, want application/fhir+json", what, ct)
	}
	m := r.JSON(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("%s: body is a %v, want OperationOutcome", what, m["resourceType"])
	}
	issues, _ := m["issue"].([]any)
	if len(issues) == 0 {
		t.Fatalf("%s: OperationOutcome has no issue", what)
	}
	first, _ := issues[0].(map[string]any)
	if sev := first["severity"]; sev != "error" && sev != "fatal" {
		t.Errorf("%s: first issue severity %v, want error or fatal", what, sev)
	}
	if d, _ := first["diagnostics"].(string); d == "" {
		t.Errorf("%s: first issue has no diagnostics", what)
	}
	return m
}
