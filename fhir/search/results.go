package search

import (
	"strconv"
	"strings"
)

// sortKey is one _sort key.
type sortKey struct {
	param      *Param
	descending bool
}

// includeSpec is one _include or _revinclude value.
type includeSpec struct {
	source  string // the resource type whose reference parameter is followed
	param   *Param // nil for the wildcard *
	target  string // optional target type
	iterate bool
}

func (e *Engine) parseResultParam(p *plan, key, raw string) error {
	switch {
	case key == "_count":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return invalid("_count must be a whole number of 0 or more")
		}
		p.count = min(n, e.limits.MaxCount)
	case key == "_total":
		if raw != "none" && raw != "estimate" && raw != "accurate" {
			return invalid("_total must be none, estimate or accurate")
		}
		p.total = raw
	case key == "_sort":
		return e.parseSort(p, raw)
	case key == "_summary":
		switch raw {
		case "true", "text", "data", "count", "false":
			p.summary = raw
		default:
			return invalid("_summary must be true, text, data, count or false")
		}
	case key == "_elements":
		for _, el := range strings.Split(raw, ",") {
			if el = strings.TrimSpace(el); el != "" {
				if strings.Contains(el, ".") {
					return notSupported("_elements supports top-level element names only")
				}
				p.elements = append(p.elements, el)
			}
		}
	case key == "_format" || key == "_pretty":
		// The REST layer reads these.
	default:
		return e.parseInclude(p, key, raw)
	}
	return nil
}

func (e *Engine) parseSort(p *plan, raw string) error {
	for _, k := range strings.Split(raw, ",") {
		desc := strings.HasPrefix(k, "-")
		code := strings.TrimPrefix(k, "-")
		param := e.param(p.typ, code)
		if param == nil || param.Type == "special" {
			return invalid("_sort: %s is not a search parameter of %s", safeName(code), p.typ)
		}
		p.sort = append(p.sort, sortKey{param: param, descending: desc})
	}
	return nil
}

func (e *Engine) parseInclude(p *plan, key, raw string) error {
	base, mod, _ := strings.Cut(key, ":")
	if base != "_include" && base != "_revinclude" || mod != "" && mod != "iterate" &&
		mod != "recurse" {
		return invalid("unknown result parameter %s", safeName(key))
	}
	spec := includeSpec{iterate: mod != ""}
	if raw == "*" {
		spec.source = p.typ
	} else {
		parts := strings.Split(raw, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return invalid("%s takes Type:parameter or Type:parameter:targetType", base)
		}
		spec.source = parts[0]
		if spec.param = e.param(parts[0], parts[1]); spec.param == nil ||
			spec.param.Type != "reference" {
			return invalid("%s: %s has no reference parameter %s", base,
				safeName(parts[0]), safeName(parts[1]))
		}
		if len(parts) == 3 {
			spec.target = parts[2]
		}
	}
	if base == "_include" {
		if !spec.iterate && spec.source != p.typ {
			return invalid("_include must start from %s unless it is :iterate", p.typ)
		}
		p.includes = append(p.includes, spec)
	} else {
		if spec.param == nil {
			return notSupported("_revinclude=* is not supported; name Type:parameter")
		}
		p.revincl = append(p.revincl, spec)
	}
	return nil
}
