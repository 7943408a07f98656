package search

import (
	"fmt"
	"net/http"
)

// Limits bound the work one search may cause. A query that would pass a
// limit fails with an *Error that names the limit and how to narrow the
// search.
type Limits struct {
	MaxValueBytes   int // maximum length of one parameter value, in bytes
	MaxOrValues     int // most comma-separated values in one parameter
	MaxParams       int // most parameter occurrences in one query
	MaxChainDepth   int // most reference hops in a chain or nested _has
	MaxChainMatches int // most resources an inner chain or _has search may find
	DefaultCount    int // page size when _count is absent
	MaxCount        int // largest _count honoured; larger values are lowered
	MaxSort         int // most matches _sort orders in memory
	MaxScan         int // most candidates one request opens
	MaxIncludes     int // most resources _include and _revinclude add
	MaxIterate      int // most rounds of :iterate
}

// DefaultLimits returns the limits a new Engine starts with.
func DefaultLimits() Limits {
	return Limits{
		MaxValueBytes:   2048,
		MaxOrValues:     100,
		MaxParams:       40,
		MaxChainDepth:   3,
		MaxChainMatches: 1000,
		DefaultCount:    50,
		MaxCount:        1000,
		MaxSort:         10000,
		MaxScan:         200000,
		MaxIncludes:     1000,
		MaxIterate:      3,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.MaxValueBytes, d.MaxValueBytes)
	fill(&l.MaxOrValues, d.MaxOrValues)
	fill(&l.MaxParams, d.MaxParams)
	fill(&l.MaxChainDepth, d.MaxChainDepth)
	fill(&l.MaxChainMatches, d.MaxChainMatches)
	fill(&l.DefaultCount, d.DefaultCount)
	fill(&l.MaxCount, d.MaxCount)
	fill(&l.MaxSort, d.MaxSort)
	fill(&l.MaxScan, d.MaxScan)
	fill(&l.MaxIncludes, d.MaxIncludes)
	fill(&l.MaxIterate, d.MaxIterate)
	return l
}

// Error is a search failure that the REST layer returns to the client as
// an OperationOutcome. Its message names parameters but never repeats
// search values, which may be PHI.
type Error struct {
	Status int    // HTTP status: 400 for a bad query, 422 or 500 otherwise
	Code   string // OperationOutcome issue code: invalid, not-supported, too-costly
	Msg    string
}

func (e *Error) Error() string { return "search: " + e.Msg }

func invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid",
		Msg: fmt.Sprintf(format, args...)}
}

func notSupported(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "not-supported",
		Msg: fmt.Sprintf(format, args...)}
}

func tooCostly(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "too-costly",
		Msg: fmt.Sprintf(format, args...)}
}
