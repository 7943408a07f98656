package search

import (
	"context"
	"net/url"
	"strings"

	"github.com/custos/custos/store"
)

// chainCondition handles a chained parameter such as subject:Patient.name
// or patient.identifier: it runs the inner search on every target type
// that has the chained parameter, then matches resources whose reference
// points at one of the inner results.
func (e *Engine) chainCondition(ctx context.Context, st store.Store, q Query, param *Param,
	modifier, chain, raw string, depth int) (condition, error) {
	if param.Type != "reference" {
		return condition{}, invalid("parameter %s is not a reference and cannot be chained",
			param.Code)
	}
	if depth+1 > e.limits.MaxChainDepth {
		return condition{}, tooCostly("chains may be at most %d references deep",
			e.limits.MaxChainDepth)
	}
	inner, _, _ := strings.Cut(chain, ".")
	innerCode, _, _ := strings.Cut(inner, ":")
	var types []string
	switch {
	case modifier != "":
		if !isResourceType(modifier) || !targets(param, modifier) {
			return condition{}, invalid("modifier :%s is not a target type of %s",
				safeName(modifier), param.Code)
		}
		types = []string{modifier}
	default:
		for _, t := range param.Targets {
			if e.param(t, innerCode) != nil {
				types = append(types, t)
			}
		}
	}
	if len(types) == 0 {
		return condition{}, invalid("no searchable target of %s has a parameter %s",
			param.Code, safeName(innerCode))
	}
	refs := map[string]bool{}
	var clause store.Clause
	for _, t := range types {
		innerQ := Query{Type: t, Params: url.Values{chain: {raw}}, Handling: "strict",
			Filter: q.Filter}
		entries, err := e.collect(ctx, st, innerQ, depth+1, e.limits.MaxChainMatches)
		if err != nil {
			return condition{}, err
		}
		for _, en := range entries {
			ref := en.Type + "/" + en.ID
			refs[ref] = true
			clause = append(clause, e.token(param.Code, kindRefLocal, ref))
		}
	}
	if len(refs) == 0 {
		return condition{none: true}, nil
	}
	c := condition{clauses: []store.Clause{clause}, exact: true}
	c.match = func(res map[string]any) (bool, error) {
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
	}
	return c, nil
}

// hasCondition handles reverse chaining, _has:Type:reference:parameter=value:
// it finds the resources of Type that match the inner parameter and keeps
// the resources of the searched type that their reference points at.
func (e *Engine) hasCondition(ctx context.Context, st store.Store, q Query,
	key, raw string, depth int) (condition, error) {
	parts := strings.SplitN(key, ":", 4)
	if len(parts) != 4 || parts[1] == "" || parts[2] == "" || parts[3] == "" {
		return condition{}, invalid("_has takes the form _has:Type:reference:parameter")
	}
	typ, refCode, rest := parts[1], parts[2], parts[3]
	if depth+1 > e.limits.MaxChainDepth {
		return condition{}, tooCostly("_has may be nested at most %d deep",
			e.limits.MaxChainDepth)
	}
	if _, ok := e.reg[typ]; !ok {
		return condition{}, notSupported("_has: resource type %s is not searchable",
			safeName(typ))
	}
	refParam := e.param(typ, refCode)
	if refParam == nil || refParam.Type != "reference" {
		return condition{}, invalid("_has: %s has no reference parameter %s", typ,
			safeName(refCode))
	}
	innerQ := Query{Type: typ, Params: url.Values{rest: {raw}}, Handling: "strict",
		Filter: q.Filter}
	entries, err := e.collect(ctx, st, innerQ, depth+1, e.limits.MaxChainMatches)
	if err != nil {
		return condition{}, err
	}
	ids := map[string]bool{}
	var clause store.Clause
	for _, en := range entries {
		res, err := decode(en.Type, en.Resource)
		if err != nil {
			return condition{}, err
		}
		items, err := refParam.expr.Evaluate(res)
		if err != nil {
			return condition{}, err
		}
		for _, rv := range referenceValues(items) {
			if rv.url == "" && rv.typ == q.Type && !ids[rv.id] {
				ids[rv.id] = true
				clause = append(clause, e.token("_id", kindCode, rv.id))
			}
		}
	}
	if len(ids) == 0 {
		return condition{code: "_has", none: true}, nil
	}
	c := condition{code: "_has", clauses: []store.Clause{clause}, exact: true}
	c.match = func(res map[string]any) (bool, error) {
		id, _ := res["id"].(string)
		return ids[id], nil
	}
	return c, nil
}
