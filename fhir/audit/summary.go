package audit

import (
	"fmt"
	"sort"
	"time"
)

// SummaryOptions configure Summarize. Zero fields take the defaults.
type SummaryOptions struct {
	// Window is the period in which distinct patients per user are
	// counted, aligned to from (default 24h).
	Window time.Duration
	// Factor: a window is unusual when its count exceeds Factor times the
	// median of the user's other active windows (default 3).
	Factor float64
	// MinPatients is the least count that can be unusual (default 20), so
	// that a user going from two patients to seven raises nothing.
	MinPatients int
	// MinBaseline is how many other active windows a user needs before any
	// window of theirs can be unusual (default 3).
	MinBaseline int
	// Hours, when set, flags successful accesses outside working hours.
	Hours *WorkingHours
}

// WorkingHours are the hours in which access is expected.
type WorkingHours struct {
	Location *time.Location // time zone of the hours (default UTC)
	Start    time.Duration  // from midnight, for example 7*time.Hour
	End      time.Duration  // from midnight, after Start
	// Days are the working days (default Monday to Friday).
	Days []time.Weekday
}

// Flag kinds that Summarize raises.
const (
	FlagPatientVolume = "patient-volume" // far more distinct patients than usual
	FlagOffHours      = "off-hours"      // access outside working hours
	FlagBreakGlass    = "break-glass"    // emergency access
)

// Flag is one anomaly for a privacy officer to review.
type Flag struct {
	Kind     string    `json:"kind"`
	User     string    `json:"user"`
	Window   time.Time `json:"window,omitzero"` // start of the window, for FlagPatientVolume
	Count    int       `json:"count"`           // distinct patients, or accesses otherwise
	Baseline float64   `json:"baseline"`        // median of the user's other windows
	EventIDs []string  `json:"eventIds,omitempty"`
	Detail   string    `json:"detail"`
}

// Summary is the access report of a period (custos audit report).
type Summary struct {
	From           time.Time      `json:"from"`
	To             time.Time      `json:"to"`
	Accesses       int            `json:"accesses"`      // REST accesses in [From, To)
	ByInteraction  map[string]int `json:"byInteraction"` // by restful-interaction or operation
	ByPurpose      map[string]int `json:"byPurpose"`     // by "system|code"; "none" when absent
	ByOutcome      map[string]int `json:"byOutcome"`     // by AuditEvent.outcome code
	UniqueUsers    int            `json:"uniqueUsers"`
	UniquePatients int            `json:"uniquePatients"`
	BreakGlass     int            `json:"breakGlass"`
	Flags          []Flag         `json:"flags"`
}

// Summarize reports the REST accesses among events recorded in
// [from, to): counts, unique users and patients, and anomaly flags.
func Summarize(events []Access, from, to time.Time, opts SummaryOptions) Summary {
	opts.setDefaults()
	s := Summary{From: from, To: to, ByInteraction: map[string]int{},
		ByPurpose: map[string]int{}, ByOutcome: map[string]int{}}
	users := map[string]bool{}
	patients := map[string]bool{}
	// perWindow[user][window] is the set of patients the user accessed.
	perWindow := map[string]map[int64]map[string]bool{}
	offHours := map[string][]string{}
	breakGlass := map[string][]string{}

	for _, e := range events {
		if !e.Rest || e.Recorded.Before(from) || !e.Recorded.Before(to) {
			continue
		}
		s.Accesses++
		s.ByInteraction[e.Interaction]++
		s.ByOutcome[e.Outcome]++
		if len(e.Purposes) == 0 {
			s.ByPurpose["none"]++
		}
		for _, p := range e.Purposes {
			s.ByPurpose[p]++
		}
		user := e.UserKey()
		users[user] = true
		for _, p := range e.Patients {
			patients[p] = true
		}
		if e.BreakGlass {
			s.BreakGlass++
			breakGlass[user] = append(breakGlass[user], e.ID)
		}
		if e.Outcome != "0" {
			continue // nothing was disclosed
		}
		if opts.Hours != nil && !opts.Hours.contains(e.Recorded) {
			offHours[user] = append(offHours[user], e.ID)
		}
		w := int64(e.Recorded.Sub(from) / opts.Window)
		if perWindow[user] == nil {
			perWindow[user] = map[int64]map[string]bool{}
		}
		if perWindow[user][w] == nil {
			perWindow[user][w] = map[string]bool{}
		}
		for _, p := range e.Patients {
			perWindow[user][w][p] = true
		}
	}
	s.UniqueUsers, s.UniquePatients = len(users), len(patients)

	s.Flags = append(s.Flags, volumeFlags(perWindow, from, opts)...)
	s.Flags = append(s.Flags, eventFlags(FlagOffHours, offHours,
		"successful accesses outside working hours")...)
	s.Flags = append(s.Flags, eventFlags(FlagBreakGlass, breakGlass,
		"emergency accesses that bypassed consent")...)
	return s
}

func (o *SummaryOptions) setDefaults() {
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Factor <= 0 {
		o.Factor = 3
	}
	if o.MinPatients <= 0 {
		o.MinPatients = 20
	}
	if o.MinBaseline <= 0 {
		o.MinBaseline = 3
	}
}

// contains reports whether t falls in working hours.
func (h *WorkingHours) contains(t time.Time) bool {
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	days := h.Days
	if len(days) == 0 {
		days = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday,
			time.Friday}
	}
	workday := false
	for _, d := range days {
		if local.Weekday() == d {
			workday = true
		}
	}
	// Wall-clock time, so that hours keep their meaning across a
	// daylight-saving change.
	sinceMidnight := time.Duration(local.Hour())*time.Hour +
		time.Duration(local.Minute())*time.Minute + time.Duration(local.Second())*time.Second
	return workday && sinceMidnight >= h.Start && sinceMidnight < h.End
}

// volumeFlags flags each window in which a user accessed far more distinct
// patients than in their other active windows.
func volumeFlags(perWindow map[string]map[int64]map[string]bool, from time.Time,
	opts SummaryOptions) []Flag {
	var flags []Flag
	for _, user := range sortedKeys(perWindow) {
		windows := perWindow[user]
		if len(windows) <= opts.MinBaseline {
			continue
		}
		starts := make([]int64, 0, len(windows))
		for w := range windows {
			starts = append(starts, w)
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for _, w := range starts {
			count := len(windows[w])
			others := make([]int, 0, len(windows)-1)
			for _, o := range starts {
				if o != w {
					others = append(others, len(windows[o]))
				}
			}
			baseline := median(others)
			if count < opts.MinPatients || float64(count) <= opts.Factor*baseline {
				continue
			}
			flags = append(flags, Flag{Kind: FlagPatientVolume, User: user,
				Window: from.Add(time.Duration(w) * opts.Window), Count: count,
				Baseline: baseline, Detail: fmt.Sprintf(
					"%d distinct patients in one window; the median of %d other windows is %g",
					count, len(others), baseline)})
		}
	}
	return flags
}

func eventFlags(kind string, byUser map[string][]string, what string) []Flag {
	var flags []Flag
	for _, user := range sortedKeys(byUser) {
		ids := byUser[user]
		flags = append(flags, Flag{Kind: kind, User: user, Count: len(ids), EventIDs: ids,
			Detail: fmt.Sprintf("%d %s", len(ids), what)})
	}
	return flags
}

func median(values []int) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := append([]int(nil), values...)
	sort.Ints(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return float64(sorted[n/2])
	}
	return float64(sorted[n/2-1]+sorted[n/2]) / 2
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
