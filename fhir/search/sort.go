package search

import (
	"sort"
	"strings"
	"time"

	"github.com/custos/custos/fhir/search/fhirpath"
)

// sortValue is the value a resource sorts by for one key; ok is false
// when the resource has none, and such resources sort last.
type sortValue struct {
	text string
	when time.Time
	ok   bool
}

func (e *Engine) sortEntries(p *plan, entries []Entry) error {
	values := make([][]sortValue, len(entries))
	for i, en := range entries {
		res, err := decode(en.Type, en.Resource)
		if err != nil {
			return err
		}
		values[i] = make([]sortValue, len(p.sort))
		for k, key := range p.sort {
			items, err := key.param.expr.Evaluate(res)
			if err != nil {
				return err
			}
			values[i][k] = sortValueOf(key, items)
		}
	}
	idx := make([]int, len(entries))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		for k, key := range p.sort {
			if c := compareSort(values[idx[a]][k], values[idx[b]][k], key.descending); c != 0 {
				return c < 0
			}
		}
		return entries[idx[a]].ID < entries[idx[b]].ID
	})
	sorted := make([]Entry, len(entries))
	for i, j := range idx {
		sorted[i] = entries[j]
	}
	copy(entries, sorted)
	return nil
}

func compareSort(a, b sortValue, desc bool) int {
	switch {
	case !a.ok && !b.ok:
		return 0
	case !a.ok:
		return 1
	case !b.ok:
		return -1
	}
	c := a.when.Compare(b.when)
	if c == 0 {
		c = strings.Compare(a.text, b.text)
	}
	if desc {
		c = -c
	}
	return c
}

// sortValueOf picks the value a resource sorts by: the smallest of its
// values for an ascending key and the largest for a descending one.
func sortValueOf(key sortKey, items []fhirpath.Item) sortValue {
	var best sortValue
	better := func(v sortValue) bool {
		if !best.ok {
			return true
		}
		c := v.when.Compare(best.when)
		if c == 0 {
			c = compareStrings(v.text, best.text)
		}
		return key.descending && c > 0 || !key.descending && c < 0
	}
	consider := func(v sortValue) {
		if better(v) {
			best = v
		}
	}
	switch key.param.Type {
	case "date":
		for _, r := range dateValues(itemValues(items)) {
			if key.descending {
				consider(sortValue{when: r.hi, ok: true})
			} else {
				consider(sortValue{when: r.lo, ok: true})
			}
		}
	case "string":
		for _, s := range stringValues(items) {
			consider(sortValue{text: normalize(s), ok: true})
		}
	case "token":
		for _, v := range tokenValues(items) {
			consider(sortValue{text: v.code, ok: true})
		}
	case "reference":
		for _, v := range referenceValues(items) {
			consider(sortValue{text: v.typ + "/" + v.id + v.url, ok: true})
		}
	case "uri":
		for _, s := range uriValues(items) {
			consider(sortValue{text: s, ok: true})
		}
	}
	return best
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
