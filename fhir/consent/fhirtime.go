package consent

import (
	"fmt"
	"strconv"
	"time"
)

// timeRange is the span that a FHIR date, dateTime or instant covers at
// its precision: "2016" covers the whole year, "2016-05-26T00:41:10-04:00"
// one second. End is exclusive.
type timeRange struct {
	start time.Time
	end   time.Time
}

// parseFHIRTime parses a FHIR date, dateTime or instant. Values without a
// time of day, and times without a zone, are read in loc.
func parseFHIRTime(s string, loc *time.Location) (timeRange, error) {
	if loc == nil {
		loc = time.UTC
	}
	switch len(s) {
	case 4:
		y, err := atoiDigits(s)
		if err != nil {
			return timeRange{}, fmt.Errorf("invalid FHIR date %q", s)
		}
		start := time.Date(y, 1, 1, 0, 0, 0, 0, loc)
		return timeRange{start, start.AddDate(1, 0, 0)}, nil
	case 7:
		t, err := time.ParseInLocation("2006-01", s, loc)
		if err != nil {
			return timeRange{}, fmt.Errorf("invalid FHIR date %q", s)
		}
		return timeRange{t, t.AddDate(0, 1, 0)}, nil
	case 10:
		t, err := time.ParseInLocation("2006-01-02", s, loc)
		if err != nil {
			return timeRange{}, fmt.Errorf("invalid FHIR date %q", s)
		}
		return timeRange{t, t.AddDate(0, 0, 1)}, nil
	}
	return parseFHIRDateTime(s, loc)
}

// parseFHIRDateTime parses a dateTime with a time of day. The precision is
// that of the written value: seconds, fractions of a second, or minutes.
func parseFHIRDateTime(s string, loc *time.Location) (timeRange, error) {
	layouts := []struct {
		layout string
		unit   time.Duration
	}{
		{time.RFC3339Nano, time.Second},
		{"2006-01-02T15:04:05.999999999", time.Second},
		{"2006-01-02T15:04Z07:00", time.Minute},
		{"2006-01-02T15:04", time.Minute},
	}
	for _, l := range layouts {
		t, err := time.ParseInLocation(l.layout, s, loc)
		if err != nil {
			continue
		}
		unit := l.unit
		if digits := fractionDigits(s); digits > 0 {
			unit = time.Second
			for range min(digits, 9) {
				unit /= 10
			}
		}
		return timeRange{t, t.Add(unit)}, nil
	}
	return timeRange{}, fmt.Errorf("invalid FHIR dateTime %q", s)
}

// fractionDigits counts the digits after the decimal point of the seconds.
func fractionDigits(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			continue
		}
		n := 0
		for j := i + 1; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
			n++
		}
		return n
	}
	return 0
}

func atoiDigits(s string) (int, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a number: %q", s)
		}
	}
	return strconv.Atoi(s)
}

// period is a parsed FHIR Period. A missing start or end leaves the
// period open on that side. Invalid is set when a bound failed to parse,
// and the engine then cannot tell whether a time is inside.
type period struct {
	set      bool
	hasStart bool
	hasEnd   bool
	start    time.Time // inclusive
	end      time.Time // exclusive: the end of the end value's precision
	invalid  bool
	empty    bool // the end lies before the start
}

func parsePeriod(v any, loc *time.Location) period {
	m, ok := v.(map[string]any)
	if !ok {
		return period{set: v != nil, invalid: v != nil}
	}
	p := period{set: true}
	if s, ok := m["start"].(string); ok {
		r, err := parseFHIRTime(s, loc)
		if err != nil {
			p.invalid = true
		}
		p.hasStart, p.start = true, r.start
	}
	if s, ok := m["end"].(string); ok {
		r, err := parseFHIRTime(s, loc)
		if err != nil {
			p.invalid = true
		}
		p.hasEnd, p.end = true, r.end
	}
	if p.hasStart && p.hasEnd && !p.end.After(p.start) {
		p.empty = true
	}
	return p
}

// contains reports whether t lies inside the period. The result is
// unknown when t is zero or the period could not be parsed.
func (p period) contains(t time.Time) match {
	if !p.set {
		return matchYes
	}
	if p.invalid || t.IsZero() {
		return matchUnknown
	}
	if p.empty {
		return matchNo
	}
	if p.hasStart && t.Before(p.start) {
		return matchNo
	}
	if p.hasEnd && !t.Before(p.end) {
		return matchNo
	}
	return matchYes
}
