package model

import (
	"strings"
	"testing"
	"time"
)

func TestCompartmentSurvivesMarshal(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, body, want string
	}{
		{"consent patient", `{"resourceType":"Consent","status":"active","scope":{},` +
			`"category":[{}],"patient":{"reference":"Patient/abc"}}`, "abc"},
		{"document subject", `{"resourceType":"DocumentReference","status":"current",` +
			`"subject":{"reference":"Patient/p-1"},"content":[{"attachment":{}}]}`, "p-1"},
		{"document of a group", `{"resourceType":"DocumentReference","status":"current",` +
			`"subject":{"reference":"Group/g"},"content":[{"attachment":{}}]}`, ""},
		{"patient itself", `{"resourceType":"Patient","id":"me"}`, "me"},
		{"audit event", `{"resourceType":"AuditEvent","type":{"code":"rest"},` +
			`"recorded":"2024-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{}}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			r.SetMeta(1, time.Now())
			body, err := c.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Compartment(); got != tc.want {
				t.Errorf("compartment after marshal %q, want %q", got, tc.want)
			}
			if got := CompartmentOfJSON(r.Type, body); got != tc.want {
				t.Errorf("compartment from JSON %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRejectsAmbiguousJSON(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, body, wantIn string
	}{
		{"duplicate key", `{"resourceType":"Patient","gender":"male","gender":"female"}`, "gender"},
		{"nested duplicate", `{"resourceType":"Patient","name":[{"family":"A","family":"B"}]}`,
			"family"},
		{"truncated", `{"resourceType":"Patient","name":[{"family":"Secret`, "ends before"},
		{"garbage", `{"resourceType":"Patient",,}`, "byte"},
		{"two values", `{"resourceType":"Patient"} {}`, "more than one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Parse([]byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantIn) {
				t.Errorf("message %q does not mention %q", msg, tc.wantIn)
			}
			if strings.Contains(msg, "Secret") {
				t.Errorf("message repeats the input: %q", msg)
			}
		})
	}
	// The same key in two objects is fine.
	if _, err := c.Parse([]byte(`{"resourceType":"Patient","name":[{"family":"A"},` +
		`{"family":"B"}]}`)); err != nil {
		t.Fatalf("keys repeated across objects rejected: %v", err)
	}
}
