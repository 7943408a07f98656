package audit

import (
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // the tests name time zones
)

func TestParseAccessReadsBuiltEvent(t *testing.T) {
	e := Event{Interaction: "$everything", Method: "GET", Status: 200, Time: testTime,
		User: Requestor{FHIRUser: "Practitioner/7", Subject: "sub-7", ClientID: "app",
			Address: "10.0.0.8"},
		Purposes: []string{"TREAT"}, BreakGlass: true,
		Patients: []string{"p1", "p2"}, Resources: []string{"Patient/p1"}}
	got, err := ParseAccess(Build(e, testServer, testLink(4, "ab")))
	if err != nil {
		t.Fatal(err)
	}
	want := Access{ID: "0123456789abcdef0123456789abcdef-4", Recorded: testTime, Rest: true,
		Interaction: "$everything", Action: "E", Outcome: "0", User: "Practitioner/7",
		Subject: "sub-7", ClientID: "app", Address: "10.0.0.8",
		Purposes:   []string{SystemActReason + "|TREAT", SystemActReason + "|ETREAT"},
		BreakGlass: true, Patients: []string{"p1", "p2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAccess =\n%+v\nexpected\n%+v", got, want)
	}
}

func TestParseAccessTrailRecordIsNotRest(t *testing.T) {
	body, _ := finish(trailRecord(testServer, testLink(1, ""), subtypeStart, "E"),
		testLink(1, ""))
	a, err := ParseAccess(body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rest {
		t.Error("chain start record parsed as a REST access")
	}
}

func TestParseAccessRejectsBadInput(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":         `{"id":`,
		"invalid recorded": `{"id":"x","recorded":"yesterday"}`,
	} {
		if _, err := ParseAccess([]byte(body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestAccessReportListsPatientAccesses(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	events := []Access{
		{ID: "a1", Rest: true, Recorded: t0, User: "Practitioner/1", Outcome: "0",
			Interaction: "read", Patients: []string{"p1"}, Purposes: []string{"x|TREAT"}},
		{ID: "a2", Rest: true, Recorded: t0.Add(time.Hour), Subject: "svc", Outcome: "4",
			Interaction: "search-type", Patients: []string{"p2", "p1"}},
		{ID: "a3", Rest: true, Recorded: t0.Add(2 * time.Hour), User: "Practitioner/2",
			Outcome: "0", Patients: []string{"p2"}},
		{ID: "a4", Rest: false, Recorded: t0, Patients: []string{"p1"}},
	}
	got := AccessReport("p1", events)
	want := []PatientAccess{
		{When: t0.Add(time.Hour), User: "svc", Interaction: "search-type", Denied: true,
			EventID: "a2"},
		{When: t0, User: "Practitioner/1", Interaction: "read",
			Purposes: []string{"x|TREAT"}, EventID: "a1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AccessReport =\n%+v\nexpected\n%+v", got, want)
	}
}
