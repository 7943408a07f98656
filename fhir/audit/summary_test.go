package audit

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// officeEvents returns accesses in the week of Monday 2026-06-01 (UTC).
// Dr A reads 5 patients a day from Monday to Thursday and 40 on Friday.
// Dr B reads 25 patients on Monday only and is denied once. Dr C makes one
// break-glass access.
func officeEvents() []Access {
	monday := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	var out []Access
	n := 0
	add := func(user string, at time.Time, patient, outcome string, purposes ...string) {
		n++
		out = append(out, Access{ID: fmt.Sprintf("e%d", n), Rest: true, Recorded: at,
			Interaction: "read", Outcome: outcome, User: user, Purposes: purposes,
			Patients: []string{patient}})
	}
	for day := 0; day < 4; day++ {
		for p := 0; p < 5; p++ {
			add("Practitioner/A", monday.AddDate(0, 0, day), fmt.Sprintf("p%d", p), "0",
				"v|TREAT")
		}
	}
	for p := 0; p < 40; p++ {
		add("Practitioner/A", monday.AddDate(0, 0, 4), fmt.Sprintf("p%d", p), "0", "v|TREAT")
	}
	for p := 0; p < 25; p++ {
		add("Practitioner/B", monday, fmt.Sprintf("q%d", p), "0")
	}
	add("Practitioner/B", monday.Add(time.Hour), "q0", "4")
	out = append(out, Access{ID: "bg", Rest: true, Recorded: monday.Add(-13 * time.Hour),
		Interaction: "$everything", Outcome: "0", User: "Practitioner/C",
		BreakGlass: true, Purposes: []string{"v|ETREAT"}, Patients: []string{"p1"}})
	// Outside the period and not REST: never counted.
	out = append(out, Access{ID: "late", Rest: true, Recorded: monday.AddDate(0, 0, 9),
		Interaction: "read", Outcome: "0", User: "Practitioner/Z"})
	out = append(out, Access{ID: "trail", Recorded: monday})
	return out
}

func TestSummarizeCounts(t *testing.T) {
	from := time.Date(2026, 5, 31, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 7)
	s := Summarize(officeEvents(), from, to, SummaryOptions{})

	// 20 + 40 reads by A, 25 + 1 by B, 1 break-glass by C.
	if s.Accesses != 87 {
		t.Errorf("accesses = %d, expected 87", s.Accesses)
	}
	wantInteraction := map[string]int{"read": 86, "$everything": 1}
	if !reflect.DeepEqual(s.ByInteraction, wantInteraction) {
		t.Errorf("by interaction = %v, expected %v", s.ByInteraction, wantInteraction)
	}
	wantPurpose := map[string]int{"v|TREAT": 60, "none": 26, "v|ETREAT": 1}
	if !reflect.DeepEqual(s.ByPurpose, wantPurpose) {
		t.Errorf("by purpose = %v, expected %v", s.ByPurpose, wantPurpose)
	}
	if s.ByOutcome["4"] != 1 || s.ByOutcome["0"] != 86 {
		t.Errorf("by outcome = %v, expected 86 successes and 1 minor failure", s.ByOutcome)
	}
	if s.UniqueUsers != 3 {
		t.Errorf("unique users = %d, expected 3", s.UniqueUsers)
	}
	// p0-p39 and q0-q24.
	if s.UniquePatients != 65 {
		t.Errorf("unique patients = %d, expected 65", s.UniquePatients)
	}
	if s.BreakGlass != 1 {
		t.Errorf("break-glass = %d, expected 1", s.BreakGlass)
	}
}

func TestSummarizeFlagsAnomalies(t *testing.T) {
	from := time.Date(2026, 5, 31, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 7)
	// Working hours 08:00-18:00 in New York: 10:00 UTC is 06:00 there
	// (daylight time, UTC-4), so every access is outside the hours.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(officeEvents(), from, to, SummaryOptions{Hours: &WorkingHours{
		Location: ny, Start: 8 * time.Hour, End: 18 * time.Hour}})

	byKind := map[string][]Flag{}
	for _, f := range s.Flags {
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	// A: Friday 40 against a median of 5 in four other windows. B has one
	// window only, so no baseline.
	vol := byKind[FlagPatientVolume]
	if len(vol) != 1 || vol[0].User != "Practitioner/A" || vol[0].Count != 40 ||
		vol[0].Baseline != 5 || !vol[0].Window.Equal(from.AddDate(0, 0, 5)) {
		t.Errorf("volume flags = %+v, expected A on 2026-06-05 with 40 against 5", vol)
	}
	// Successful accesses: A 60, B 25 (the 403 does not count), and C's
	// break-glass at 21:00 UTC on Sunday.
	off := map[string]int{}
	for _, f := range byKind[FlagOffHours] {
		off[f.User] = f.Count
	}
	wantOff := map[string]int{"Practitioner/A": 60, "Practitioner/B": 25, "Practitioner/C": 1}
	if !reflect.DeepEqual(off, wantOff) {
		t.Errorf("off-hours counts = %v, expected %v", off, wantOff)
	}
	bg := byKind[FlagBreakGlass]
	if len(bg) != 1 || bg[0].User != "Practitioner/C" || !reflect.DeepEqual(bg[0].EventIDs,
		[]string{"bg"}) {
		t.Errorf("break-glass flags = %+v, expected C with event bg", bg)
	}
}

func TestWorkingHoursInTimeZone(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	h := &WorkingHours{Location: oslo, Start: 8 * time.Hour, End: 16 * time.Hour}
	cases := []struct {
		name string
		at   time.Time
		want bool
	}{
		// Oslo is UTC+2 in June and UTC+1 in January.
		{"summer 06:30 UTC is 08:30", time.Date(2026, 6, 2, 6, 30, 0, 0, time.UTC), true},
		{"summer 05:30 UTC is 07:30", time.Date(2026, 6, 2, 5, 30, 0, 0, time.UTC), false},
		{"winter 07:30 UTC is 08:30", time.Date(2026, 1, 6, 7, 30, 0, 0, time.UTC), true},
		{"winter 15:00 UTC is 16:00", time.Date(2026, 1, 6, 15, 0, 0, 0, time.UTC), false},
		{"Saturday noon", time.Date(2026, 6, 6, 10, 0, 0, 0, time.UTC), false},
		{"Sunday late UTC is Monday", time.Date(2026, 6, 7, 23, 30, 0, 0, time.UTC), false},
	}
	for _, tc := range cases {
		if got := h.contains(tc.at); got != tc.want {
			t.Errorf("%s: in hours = %v, expected %v", tc.name, got, tc.want)
		}
	}
}
