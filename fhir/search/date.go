package search

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/custos/custos/fhir/search/fhirpath"
	"github.com/custos/custos/store"
)

// dateRange is the span of time a date, dateTime, instant or Period
// covers, as a half-open interval [lo, hi) in UTC. An open end of a Period
// is unbounded, which minTime and maxTime stand for.
type dateRange struct {
	lo, hi time.Time
}

var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

var dateRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})` +
	`(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// parseDate reads a FHIR date, dateTime or instant and returns the range
// its precision covers: "2020" is the whole year and "2020-03-15T10:00Z"
// the whole minute. A value without a time zone, which includes every
// date without a time, is read as UTC.
func parseDate(s string) (dateRange, error) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return dateRange{}, fmt.Errorf("invalid date: want YYYY, YYYY-MM, YYYY-MM-DD or " +
			"YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm]")
	}
	num := func(i, def int) int {
		if m[i] == "" {
			return def
		}
		n, _ := strconv.Atoi(m[i])
		return n
	}
	year, month, day := num(1, 0), num(2, 1), num(3, 1)
	hour, minute, sec := num(4, 0), num(5, 0), num(6, 0)
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 ||
		minute > 59 || sec > 60 {
		return dateRange{}, fmt.Errorf("invalid date: a month, day, hour, minute or " +
			"second is out of range")
	}
	nanos, step := fraction(m[7])
	lo := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, zone(m[8])).UTC()

	// The range ends one unit of the finest field given later.
	var hi time.Time
	switch {
	case m[2] == "":
		hi = lo.AddDate(1, 0, 0)
	case m[3] == "":
		hi = lo.AddDate(0, 1, 0)
	case m[4] == "":
		hi = lo.AddDate(0, 0, 1)
	case m[6] == "":
		hi = lo.Add(time.Minute)
	case m[7] == "":
		hi = lo.Add(time.Second)
	default:
		hi = lo.Add(step)
	}
	return dateRange{lo: lo, hi: hi}, nil
}

// zone returns the location of a "Z" or "+hh:mm" suffix, UTC when empty.
func zone(tz string) *time.Location {
	if tz == "" || tz == "Z" {
		return time.UTC
	}
	h, _ := strconv.Atoi(tz[1:3])
	mm, _ := strconv.Atoi(tz[4:6])
	off := h*3600 + mm*60
	if tz[0] == '-' {
		off = -off
	}
	return time.FixedZone(tz, off)
}

// fraction returns the nanoseconds of a fractional-second text and the
// duration of one unit of its last digit.
func fraction(frac string) (int, time.Duration) {
	if frac == "" {
		return 0, 0
	}
	n, _ := strconv.Atoi(frac)
	for i := len(frac); i < 9; i++ {
		n *= 10
	}
	return n, time.Duration(pow10(9 - len(frac)))
}

func pow10(n int) int {
	p := 1
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dateValues reads the ranges of a date parameter's values: date, dateTime
// and instant strings, and Periods, whose missing start or end is open.
// Values that do not parse are skipped: they can match no date search.
func dateValues(values []any) []dateRange {
	var out []dateRange
	for _, v := range values {
		switch x := v.(type) {
		case string:
			if r, err := parseDate(x); err == nil {
				out = append(out, r)
			}
		case map[string]any:
			r := dateRange{lo: minTime, hi: maxTime}
			start, hasStart := x["start"].(string)
			end, hasEnd := x["end"].(string)
			if !hasStart && !hasEnd {
				continue
			}
			if hasStart {
				s, err := parseDate(start)
				if err != nil {
					continue
				}
				r.lo = s.lo
			}
			if hasEnd {
				e, err := parseDate(end)
				if err != nil {
					continue
				}
				r.hi = e.hi
			}
			out = append(out, r)
		}
	}
	return out
}

// dateMatches applies the FHIR comparison prefix rule to a target range r
// and a search range q.
func dateMatches(prefix string, r, q dateRange, now time.Time) bool {
	contained := !r.lo.Before(q.lo) && !r.hi.After(q.hi)
	switch prefix {
	case "eq":
		return contained
	case "ne":
		return !contained
	case "gt":
		return r.hi.After(q.hi)
	case "lt":
		return r.lo.Before(q.lo)
	case "ge":
		return r.hi.After(q.hi) || contained
	case "le":
		return r.lo.Before(q.lo) || contained
	case "sa":
		return !r.lo.Before(q.hi)
	case "eb":
		return !r.hi.After(q.lo)
	case "ap":
		a := approximate(q, now)
		return r.lo.Before(a.hi) && r.hi.After(a.lo)
	}
	return false
}

// approximate widens q by a tenth of its distance from now on each side,
// the tolerance the FHIR specification suggests for the ap prefix, and by
// at least one day.
func approximate(q dateRange, now time.Time) dateRange {
	gap := now.Sub(q.lo)
	if gap < 0 {
		gap = q.lo.Sub(now)
	}
	d := gap / 10
	if d < 24*time.Hour {
		d = 24 * time.Hour
	}
	lo, hi := q.lo.Add(-d), q.hi.Add(d)
	if lo.Before(minTime) {
		lo = minTime
	}
	if hi.After(maxTime) {
		hi = maxTime
	}
	return dateRange{lo: lo, hi: hi}
}

// searchRegion returns the span that any target matching prefix and q
// must overlap; the blind-index lookup covers it with buckets. The second
// result is false for ne, whose matches cannot be narrowed this way.
func searchRegion(prefix string, q dateRange, now time.Time) (dateRange, bool) {
	switch prefix {
	case "eq":
		return q, true
	case "gt", "sa":
		return dateRange{lo: q.hi, hi: maxTime}, true
	case "ge":
		return dateRange{lo: q.lo, hi: maxTime}, true
	case "lt", "eb":
		return dateRange{lo: minTime, hi: q.lo}, true
	case "le":
		return dateRange{lo: minTime, hi: q.hi}, true
	case "ap":
		return approximate(q, now), true
	}
	return dateRange{}, false
}

// Date buckets nest: millennium, century, decade, year, month, day. A
// target posts an "in" token for each bucket of its covering and every
// ancestor of those, and a "cover" token for each covering bucket. A search
// region posts "in" tokens for its own covering and "cover" tokens for the
// strict ancestors of its buckets, so the two share a token exactly when a
// target bucket and a search bucket overlap.
type bucketLevel int

const (
	levelMillennium bucketLevel = iota
	levelCentury
	levelDecade
	levelYear
	levelMonth
	levelDay
)

type bucket struct {
	level bucketLevel
	start time.Time
}

func (b bucket) key() string {
	y := b.start.Year()
	switch b.level {
	case levelMillennium:
		return fmt.Sprintf("K%d", y/1000)
	case levelCentury:
		return fmt.Sprintf("C%d", y/100)
	case levelDecade:
		return fmt.Sprintf("X%d", y/10)
	case levelYear:
		return fmt.Sprintf("Y%04d", y)
	case levelMonth:
		return fmt.Sprintf("M%04d-%02d", y, b.start.Month())
	}
	return fmt.Sprintf("D%s", b.start.Format("2006-01-02"))
}

func (b bucket) end() time.Time {
	switch b.level {
	case levelMillennium:
		return b.start.AddDate(1000, 0, 0)
	case levelCentury:
		return b.start.AddDate(100, 0, 0)
	case levelDecade:
		return b.start.AddDate(10, 0, 0)
	case levelYear:
		return b.start.AddDate(1, 0, 0)
	case levelMonth:
		return b.start.AddDate(0, 1, 0)
	}
	return b.start.AddDate(0, 0, 1)
}

func (b bucket) parent() (bucket, bool) {
	y := b.start.Year()
	switch b.level {
	case levelDay:
		return bucket{levelMonth, time.Date(y, b.start.Month(), 1, 0, 0, 0, 0, time.UTC)}, true
	case levelMonth:
		return bucket{levelYear, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)}, true
	case levelYear:
		return bucket{levelDecade, time.Date(y-y%10, 1, 1, 0, 0, 0, 0, time.UTC)}, true
	case levelDecade:
		return bucket{levelCentury, time.Date(y-y%100, 1, 1, 0, 0, 0, 0, time.UTC)}, true
	case levelCentury:
		return bucket{levelMillennium, time.Date(y-y%1000, 1, 1, 0, 0, 0, 0, time.UTC)}, true
	}
	return bucket{}, false
}

// aligned reports whether a bucket of level may start at t, a UTC
// midnight.
func aligned(level bucketLevel, t time.Time) bool {
	y := t.Year()
	switch level {
	case levelDay:
		return true
	case levelMonth:
		return t.Day() == 1
	}
	if t.Day() != 1 || t.Month() != time.January {
		return false
	}
	switch level {
	case levelDecade:
		return y%10 == 0
	case levelCentury:
		return y%100 == 0
	case levelMillennium:
		return y%1000 == 0
	}
	return true
}

// cover returns the fewest nested buckets that together span r widened
// to whole UTC days, largest first where they fit.
func cover(r dateRange) []bucket {
	lo, hi := clampRange(r)
	cur := time.Date(lo.Year(), lo.Month(), lo.Day(), 0, 0, 0, 0, time.UTC)
	end := time.Date(hi.Year(), hi.Month(), hi.Day(), 0, 0, 0, 0, time.UTC)
	if end.Before(hi) {
		end = end.AddDate(0, 0, 1)
	}
	var out []bucket
	for cur.Before(end) {
		b := bucket{levelDay, cur}
		for level := levelMillennium; level < levelDay; level++ {
			c := bucket{level, cur}
			if aligned(level, cur) && !c.end().After(end) {
				b = c
				break
			}
		}
		out = append(out, b)
		cur = b.end()
	}
	return out
}

func clampRange(r dateRange) (time.Time, time.Time) {
	lo, hi := r.lo, r.hi
	if lo.Before(minTime) {
		lo = minTime
	}
	if hi.After(maxTime) {
		hi = maxTime
	}
	return lo, hi
}

// targetBucketKeys returns the "in" and "cover" bucket keys that a target
// range posts.
func targetBucketKeys(r dateRange) (in, covering []string) {
	seen := map[string]bool{}
	for _, b := range cover(r) {
		covering = append(covering, b.key())
		for a, ok := b, true; ok; a, ok = a.parent() {
			if k := a.key(); !seen[k] {
				seen[k] = true
				in = append(in, k)
			}
		}
	}
	return in, covering
}

// regionBucketKeys returns the "in" and "cover" bucket keys that a search
// region looks up.
func regionBucketKeys(r dateRange) (in, covering []string) {
	seen := map[string]bool{}
	for _, b := range cover(r) {
		in = append(in, b.key())
		for a, ok := b.parent(); ok; a, ok = a.parent() {
			if k := a.key(); !seen[k] {
				seen[k] = true
				covering = append(covering, k)
			}
		}
	}
	return in, covering
}

// dateQuery is one parsed date search value.
type dateQuery struct {
	prefix string
	r      dateRange
}

var datePrefixes = map[string]bool{
	"eq": true, "ne": true, "gt": true, "lt": true, "ge": true, "le": true,
	"sa": true, "eb": true, "ap": true,
}

func (e *Engine) dateMatcher(param *Param, modifier string,
	values []string) (matcher, error) {
	if modifier != "" {
		return matcher{}, invalid("modifier :%s is not valid for date parameter %s",
			safeName(modifier), param.Code)
	}
	now := e.now()
	queries := make([]dateQuery, len(values))
	for i, v := range values {
		q := dateQuery{prefix: "eq"}
		if len(v) >= 2 && datePrefixes[v[:2]] {
			q.prefix, v = v[:2], v[2:]
		}
		r, err := parseDate(v)
		if err != nil {
			return matcher{}, invalid("parameter %s: %v", param.Code, err)
		}
		q.r = r
		queries[i] = q
	}
	m := matcher{match: func(items []fhirpath.Item) bool {
		for _, r := range dateValues(itemValues(items)) {
			for _, q := range queries {
				if dateMatches(q.prefix, r, q.r, now) {
					return true
				}
			}
		}
		return false
	}}
	var clause store.Clause
	seen := map[string]bool{}
	add := func(kind byte, key string) {
		if k := string(kind) + key; !seen[k] {
			seen[k] = true
			clause = append(clause, e.token(param.Code, kind, key))
		}
	}
	for _, q := range queries {
		region, ok := searchRegion(q.prefix, q.r, now)
		if !ok {
			return m, nil // ne cannot narrow the lookup
		}
		in, covering := regionBucketKeys(region)
		for _, k := range in {
			add(kindDateIn, k)
		}
		for _, k := range covering {
			add(kindDateCover, k)
		}
	}
	m.clauses = []store.Clause{clause}
	return m, nil
}
