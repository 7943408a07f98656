package search

import (
	"context"
	"errors"
	"fmt"

	"github.com/custos/custos/store"
)

// includes resolves _include and _revinclude for the matches of a page,
// then repeats the :iterate ones on what they added, up to MaxIterate
// rounds. Resources already in the page are not repeated, and q.Filter
// drops what the requester may not see.
func (e *Engine) includes(ctx context.Context, st store.Store, p *plan, q Query,
	matches []Entry) ([]Entry, error) {
	if len(p.includes) == 0 && len(p.revincl) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, m := range matches {
		seen[m.Type+"/"+m.ID] = true
	}
	var out []Entry
	add := func(en Entry) error {
		key := en.Type + "/" + en.ID
		if seen[key] {
			return nil
		}
		seen[key] = true
		if len(out) >= e.limits.MaxIncludes {
			return tooCostly("_include and _revinclude would add more than %d resources; "+
				"lower _count or include less", e.limits.MaxIncludes)
		}
		out = append(out, en)
		return nil
	}
	frontier := matches
	for round := 0; round <= e.limits.MaxIterate && len(frontier) > 0; round++ {
		before := len(out)
		for _, spec := range p.includes {
			if round > 0 && !spec.iterate {
				continue
			}
			if err := e.forwardInclude(ctx, q, spec, frontier, add); err != nil {
				return nil, err
			}
		}
		for _, spec := range p.revincl {
			if round > 0 && !spec.iterate {
				continue
			}
			if err := e.reverseInclude(ctx, st, q, spec, frontier, add); err != nil {
				return nil, err
			}
		}
		frontier = out[before:]
	}
	return out, nil
}

func (e *Engine) forwardInclude(ctx context.Context, q Query, spec includeSpec,
	frontier []Entry, add func(Entry) error) error {
	for _, src := range frontier {
		if src.Type != spec.source {
			continue
		}
		res, err := decode(src.Type, src.Resource)
		if err != nil {
			return err
		}
		params := []*Param{spec.param}
		if spec.param == nil {
			params = e.referenceParams(src.Type)
		}
		for _, param := range params {
			items, err := param.expr.Evaluate(res)
			if err != nil {
				return err
			}
			for _, rv := range referenceValues(items) {
				if rv.url != "" || rv.id == "" || spec.target != "" && rv.typ != spec.target {
					continue
				}
				if _, ok := e.reg[rv.typ]; !ok {
					continue // a type this server does not keep
				}
				body, err := e.loader.Load(ctx, rv.typ, rv.id)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return fmt.Errorf("search: _include %s/%s: %w", rv.typ, rv.id, err)
				}
				if q.Filter != nil && !q.Filter(rv.typ, rv.id, body) {
					continue
				}
				if err := add(Entry{Type: rv.typ, ID: rv.id, Resource: body}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (e *Engine) referenceParams(typ string) []*Param {
	var out []*Param
	for _, p := range e.Params(typ) {
		if p.Type == "reference" {
			out = append(out, e.param(typ, p.Code))
		}
	}
	return out
}

// reverseInclude finds the resources of spec.source whose spec.param
// refers to one of the frontier resources.
func (e *Engine) reverseInclude(ctx context.Context, st store.Store, q Query,
	spec includeSpec, frontier []Entry, add func(Entry) error) error {
	refs := map[string]bool{}
	var clause store.Clause
	for _, f := range frontier {
		if spec.target != "" && f.Type != spec.target || !targets(spec.param, f.Type) {
			continue
		}
		ref := f.Type + "/" + f.ID
		refs[ref] = true
		clause = append(clause, e.token(spec.param.Code, kindRefLocal, ref))
	}
	if len(clause) == 0 {
		return nil
	}
	param := spec.param
	p := &plan{typ: spec.source, conditions: []condition{{
		clauses: []store.Clause{clause},
		match: func(res map[string]any) (bool, error) {
			items, err := param.expr.Evaluate(res)
			if err != nil {
				return false, err
			}
			for _, rv := range referenceValues(items) {
				if rv.url == "" && refs[rv.typ+"/"+rv.id] {
					return true, nil
				}
			}
			return false, nil
		},
	}}}
	var addErr error
	err := e.walk(ctx, st, p, q, "", func(en Entry) bool {
		addErr = add(en)
		return addErr == nil
	})
	if err != nil {
		return err
	}
	return addErr
}
