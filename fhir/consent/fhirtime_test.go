package consent

import (
	"testing"
	"time"
)

func TestParseFHIRTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	cases := []struct {
		in         string
		start, end time.Time
	}{
		{"2016", utc(2016, 1, 1, 0, 0, 0, 0), utc(2017, 1, 1, 0, 0, 0, 0)},
		{"2016-02", utc(2016, 2, 1, 0, 0, 0, 0), utc(2016, 3, 1, 0, 0, 0, 0)},
		{"2016-12-31", utc(2016, 12, 31, 0, 0, 0, 0), utc(2017, 1, 1, 0, 0, 0, 0)},
		{"2016-05-26T00:41:10-04:00", utc(2016, 5, 26, 4, 41, 10, 0),
			utc(2016, 5, 26, 4, 41, 11, 0)},
		{"2016-06-23T17:02:33+10:00", utc(2016, 6, 23, 7, 2, 33, 0),
			utc(2016, 6, 23, 7, 2, 34, 0)},
		{"2016-06-23T07:02:33.25Z", utc(2016, 6, 23, 7, 2, 33, 250e6),
			utc(2016, 6, 23, 7, 2, 33, 260e6)},
	}
	for _, c := range cases {
		got, err := parseFHIRTime(c.in, nil)
		if err != nil {
			t.Errorf("parseFHIRTime(%q): %v", c.in, err)
			continue
		}
		if !got.start.Equal(c.start) || !got.end.Equal(c.end) {
			t.Errorf("parseFHIRTime(%q) = [%v, %v), want [%v, %v)",
				c.in, got.start, got.end, c.start, c.end)
		}
	}
	for _, bad := range []string{"", "20x6", "2016-13", "2016-02-30", "yesterday"} {
		if _, err := parseFHIRTime(bad, nil); err == nil {
			t.Errorf("parseFHIRTime(%q) succeeded, want an error", bad)
		}
	}
}

func TestNormalizeReference(t *testing.T) {
	cases := map[string]string{
		"Practitioner/13":                           "Practitioner/13",
		"https://x.example/fhir/Practitioner/13":    "Practitioner/13",
		"Practitioner/13/_history/4":                "Practitioner/13",
		"urn:uuid:3f1c1a2e-0000-4000-8000-00000000": "urn:uuid:3f1c1a2e-0000-4000-8000-00000000",
		"#contained-1":                              "#contained-1",
	}
	for in, want := range cases {
		if got := normalizeReference(in); got != want {
			t.Errorf("normalizeReference(%q) = %q, want %q", in, got, want)
		}
	}
}
