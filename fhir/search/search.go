package search

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/custos/custos/store"
)

// Entry is one resource of a search result with its opened canonical
// JSON. For matches, Resource is already trimmed by _summary or _elements.
type Entry struct {
	Type     string
	ID       string
	Resource []byte
}

// Page is one page of a search result.
type Page struct {
	Matches  []Entry // search.mode = match, in result order
	Includes []Entry // search.mode = include: _include and _revinclude results
	// Total is the number of matches when HasTotal is set: exact unless
	// _total=estimate was requested, in which case it counts candidates
	// before the exact rule and Filter and may be too high.
	Total    int
	HasTotal bool
	// Next continues the search at the following page (Query.Cursor);
	// empty when this is the last page.
	Next string
	// Ignored lists the parameters that lenient handling skipped, for the
	// OperationOutcome the REST layer may attach.
	Ignored []string
	// Summary and Elements echo the _summary and _elements the page was
	// trimmed with; Summary is "count" when only Total is returned.
	Summary  string
	Elements []string
}

// candidateBatch is how many candidate ids one Store.Match call fetches.
const candidateBatch = 256

// Search runs q against st and returns one page. Candidates come from the
// blind index in id order. Each is opened through the Loader and checked
// against the exact FHIR rule and q.Filter until the page is full. The
// cursor in Page.Next holds the id of the last match returned, so later
// pages stay correct while resources are added or removed.
func (e *Engine) Search(ctx context.Context, st store.Store, q Query) (Page, error) {
	p, err := e.parse(ctx, st, q, 0)
	if err != nil {
		return Page{}, err
	}
	page := Page{Ignored: p.ignored, Summary: p.summary, Elements: p.elements}
	if p.summary == "count" {
		n, err := e.countAccurate(ctx, st, p, q)
		if err != nil {
			return Page{}, err
		}
		page.Total, page.HasTotal = n, true
		return page, nil
	}
	if len(p.sort) > 0 {
		err = e.searchSorted(ctx, st, p, q, &page)
	} else {
		err = e.searchByID(ctx, st, p, q, &page)
	}
	if err != nil {
		return Page{}, err
	}
	if page.Includes, err = e.includes(ctx, st, p, q, page.Matches); err != nil {
		return Page{}, err
	}
	for i := range page.Matches {
		trimmed, err := trim(p, page.Matches[i].Resource)
		if err != nil {
			return Page{}, err
		}
		page.Matches[i].Resource = trimmed
	}
	return page, nil
}

func (e *Engine) searchByID(ctx context.Context, st store.Store, p *plan, q Query,
	page *Page) error {
	after := ""
	if q.Cursor != "" {
		id, ok := strings.CutPrefix(q.Cursor, "a")
		if !ok {
			return invalid("the page cursor is not valid for this search")
		}
		after = id
	}
	exhausted := true
	if p.count > 0 {
		err := e.walk(ctx, st, p, q, after, func(en Entry) bool {
			if len(page.Matches) == p.count {
				exhausted = false
				return false
			}
			page.Matches = append(page.Matches, en)
			return true
		})
		if err != nil {
			return err
		}
		if !exhausted {
			page.Next = "a" + page.Matches[len(page.Matches)-1].ID
		}
	}
	switch {
	case p.total == "estimate":
		n, err := e.countEstimate(ctx, st, p)
		if err != nil {
			return err
		}
		page.Total, page.HasTotal = n, true
	case p.total == "accurate" || p.count == 0 && p.total == "":
		// With _count=0 the total is the whole result, unless _total=none.
		n, err := e.countAccurate(ctx, st, p, q)
		if err != nil {
			return err
		}
		page.Total, page.HasTotal = n, true
	case exhausted && after == "" && p.count > 0:
		page.Total, page.HasTotal = len(page.Matches), true
	}
	return nil
}

func (e *Engine) searchSorted(ctx context.Context, st store.Store, p *plan, q Query,
	page *Page) error {
	offset := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(q.Cursor, "o"))
		if !strings.HasPrefix(q.Cursor, "o") || err != nil || n < 0 {
			return invalid("the page cursor is not valid for this search")
		}
		offset = n
	}
	var all []Entry
	err := e.walk(ctx, st, p, q, "", func(en Entry) bool {
		all = append(all, en)
		return len(all) <= e.limits.MaxSort
	})
	if err != nil {
		return err
	}
	if len(all) > e.limits.MaxSort {
		return tooCostly("_sort orders at most %d matches and this search has more; "+
			"add search parameters to narrow it, or search without _sort", e.limits.MaxSort)
	}
	if err := e.sortEntries(p, all); err != nil {
		return err
	}
	page.Total, page.HasTotal = len(all), true // every match was walked
	if offset > len(all) {
		offset = len(all)
	}
	end := offset + p.count
	if end > len(all) {
		end = len(all)
	}
	page.Matches = all[offset:end]
	if end < len(all) {
		page.Next = "o" + strconv.Itoa(end)
	}
	return nil
}

// storeClauses gathers the clauses of every condition. The second result
// is false when some condition cannot match anything.
func storeClauses(p *plan) ([]store.Clause, bool) {
	var out []store.Clause
	for _, c := range p.conditions {
		if c.none {
			return nil, false
		}
		for _, cl := range c.clauses {
			if len(cl) == 0 {
				return nil, false
			}
			out = append(out, cl)
		}
	}
	return out, true
}

// walk visits the matches of p in id order after the given id, opening
// each candidate and applying the exact rule and q.Filter, until visit
// returns false or the candidates run out.
func (e *Engine) walk(ctx context.Context, st store.Store, p *plan, q Query, after string,
	visit func(Entry) bool) error {
	clauses, ok := storeClauses(p)
	if !ok {
		return nil
	}
	opened := 0
	for {
		ids, err := st.Match(ctx, store.MatchQuery{Type: p.typ, Clauses: clauses,
			AfterID: after, Limit: candidateBatch})
		if err != nil {
			return fmt.Errorf("search %s: %w", p.typ, err)
		}
		for _, id := range ids {
			if opened++; opened > e.limits.MaxScan {
				return tooCostly("the search would open more than %d candidates; add "+
					"search parameters that narrow it", e.limits.MaxScan)
			}
			en, ok, err := e.open(ctx, p, q, id)
			if err != nil {
				return err
			}
			if ok && !visit(en) {
				return nil
			}
		}
		if len(ids) < candidateBatch {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// open loads one candidate and reports whether it matches. A candidate
// deleted since the lookup is skipped.
func (e *Engine) open(ctx context.Context, p *plan, q Query, id string) (Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	body, err := e.loader.Load(ctx, p.typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("search: load %s/%s: %w", p.typ, id, err)
	}
	var res map[string]any
	for _, c := range p.conditions {
		if c.match == nil || c.exact && !e.verifyExact {
			continue
		}
		if res == nil {
			if res, err = decode(p.typ, body); err != nil {
				return Entry{}, false, fmt.Errorf("%s/%s: %w", p.typ, id, err)
			}
		}
		ok, err := c.match(res)
		if err != nil {
			return Entry{}, false, fmt.Errorf("search %s/%s: %w", p.typ, id, err)
		}
		if !ok {
			return Entry{}, false, nil
		}
	}
	if q.Filter != nil && !q.Filter(p.typ, id, body) {
		return Entry{}, false, nil
	}
	return Entry{Type: p.typ, ID: id, Resource: body}, true, nil
}

// collect returns every match of q, or an error when there are more than
// limit. Chained and _has parameters use it for their inner searches.
func (e *Engine) collect(ctx context.Context, st store.Store, q Query, depth,
	limit int) ([]Entry, error) {
	p, err := e.parse(ctx, st, q, depth)
	if err != nil {
		return nil, err
	}
	var out []Entry
	err = e.walk(ctx, st, p, q, "", func(en Entry) bool {
		out = append(out, en)
		return len(out) <= limit
	})
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, tooCostly("an inner chained or _has search on %s finds more than %d "+
			"resources; narrow it", q.Type, limit)
	}
	return out, nil
}

func (e *Engine) countEstimate(ctx context.Context, st store.Store, p *plan) (int, error) {
	clauses, ok := storeClauses(p)
	if !ok {
		return 0, nil
	}
	n, err := st.CountMatch(ctx, store.MatchQuery{Type: p.typ, Clauses: clauses})
	if err != nil {
		return 0, fmt.Errorf("search %s: count: %w", p.typ, err)
	}
	return n, nil
}

func (e *Engine) countAccurate(ctx context.Context, st store.Store, p *plan,
	q Query) (int, error) {
	n := 0
	err := e.walk(ctx, st, p, q, "", func(Entry) bool {
		n++
		return true
	})
	return n, err
}
