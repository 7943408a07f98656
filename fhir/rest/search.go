package rest

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/fhir/search"
)

// cursorParam carries the engine's cursor in page links; backParam the
// cursors of earlier pages, newest first, for the previous link.
const (
	cursorParam = "_cursor"
	backParam   = "_back"
	// maxBack bounds how many earlier pages a previous link can reach
	// back through; beyond that, the first link still works.
	maxBack = 32
)

// searchType serves GET [type] and POST [type]/_search.
func (s *Server) searchType(c *gin.Context) {
	typ := c.Param("type")
	if !s.allowType(c, access.SearchType, typ) {
		return
	}
	params, err := searchParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.runSearch(c, typ, params, s.cfg.BaseURL+"/"+typ)
}

// searchParams merges the query string with a form body on POST.
func searchParams(c *gin.Context) (url.Values, error) {
	params := c.Request.URL.Query()
	if c.Request.Method != http.MethodPost {
		return params, nil
	}
	if err := c.Request.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, outcome.New(http.StatusRequestEntityTooLarge, "too-costly",
				"the search form is larger than %d bytes", tooLarge.Limit)
		}
		return nil, outcome.New(http.StatusBadRequest, "invalid",
			"the search form body is not application/x-www-form-urlencoded")
	}
	for k, vs := range c.Request.PostForm {
		params[k] = append(params[k], vs...)
	}
	return params, nil
}

// handling returns the Prefer: handling= mode.
func handling(c *gin.Context) string {
	for _, h := range c.Request.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "handling="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return "lenient"
}

// runSearch runs one search and sends the searchset Bundle. self is the
// URL of the search without its query.
func (s *Server) runSearch(c *gin.Context, typ string, params url.Values, self string) {
	x := exchange(c)
	x.Query = strings.TrimPrefix(self, s.cfg.BaseURL+"/") + "?" + params.Encode()

	cursor := params.Get(cursorParam)
	back := params[backParam]
	params.Del(cursorParam)
	params.Del(backParam)
	q := search.Query{Type: typ, Params: params, Handling: handling(c), Cursor: cursor}

	if s.cfg.BeforeSearch != nil {
		if err := s.cfg.BeforeSearch(c, typ); err != nil {
			s.fail(c, err)
			return
		}
	}
	filter := s.filter(c, access.SearchType)
	q.Filter = filter.visible
	page, err := s.cfg.Search.Search(c, s.repo.Store(), q)
	if err == nil {
		err = filter.err
	}
	if err != nil {
		s.fail(c, searchError(err))
		return
	}
	s.sendSearchset(c, page, params, self, cursor, back)
}

// hitFilter decides which search hits the requester may see. The search
// engine's filter cannot return an error, so the first one is kept and
// returned to the client after the search.
type hitFilter struct {
	s   *Server
	c   *gin.Context
	in  access.Interaction
	err error
}

func (s *Server) filter(c *gin.Context, in access.Interaction) *hitFilter {
	return &hitFilter{s: s, c: c, in: in}
}

func (f *hitFilter) visible(typ, id string, body []byte) bool {
	ok, err := f.s.visible(f.c, f.in, repository.Entry{Type: typ, ID: id,
		Compartment: model.CompartmentOfJSON(typ, body), Body: body})
	if err != nil && f.err == nil {
		f.err = err
	}
	return ok
}

func searchError(err error) error {
	var se *search.Error
	if errors.As(err, &se) {
		return outcome.New(se.Status, se.Code, "%s", se.Msg)
	}
	return err
}

// sendSearchset encodes a page as a searchset Bundle with its links.
func (s *Server) sendSearchset(c *gin.Context, page search.Page, params url.Values,
	self, cursor string, back []string) {
	x := exchange(c)
	for _, e := range append(page.Matches, page.Includes...) {
		x.AddPatient(model.CompartmentOfJSON(e.Type, e.Resource))
	}
	b := Bundle{Type: "searchset"}
	if page.HasTotal {
		total := page.Total
		b.Total = &total
	}
	for _, e := range page.Matches {
		b.Entry = append(b.Entry, BundleEntry{FullURL: s.cfg.BaseURL + "/" + e.Type + "/" + e.ID,
			Resource: e.Resource, Search: &EntrySearch{Mode: "match"}})
	}
	for _, e := range page.Includes {
		b.Entry = append(b.Entry, BundleEntry{FullURL: s.cfg.BaseURL + "/" + e.Type + "/" + e.ID,
			Resource: e.Resource, Search: &EntrySearch{Mode: "include"}})
	}
	if len(page.Ignored) > 0 {
		b.Entry = append(b.Entry, BundleEntry{Resource: outcome.JSON(outcome.Issue{
			Severity: "warning", Code: "not-supported",
			Diagnostics: "these parameters are not supported and were ignored: " +
				strings.Join(page.Ignored, ", "),
		}), Search: &EntrySearch{Mode: "outcome"}})
	}

	kept := url.Values{}
	ignored := map[string]bool{}
	for _, p := range page.Ignored {
		ignored[p] = true
	}
	for k, vs := range params {
		if !ignored[k] && k != "_format" {
			kept[k] = vs
		}
	}
	link := func(cur string, earlier []string) string {
		v := url.Values{}
		for k, vs := range kept {
			v[k] = vs
		}
		if cur != "" {
			v.Set(cursorParam, cur)
			if len(earlier) > 0 {
				v[backParam] = earlier
			}
		}
		return self + "?" + encodeSorted(v)
	}
	b.Links = []Link{{"self", link(cursor, back)}, {"first", link("", nil)}}
	if page.Next != "" {
		next := append([]string{cursorOrStart(cursor)}, back...)
		if len(next) > maxBack {
			next = next[:maxBack]
		}
		b.Links = append(b.Links, Link{"next", link(page.Next, next)})
	}
	if cursor != "" && len(back) > 0 {
		prev := back[0]
		if prev == startCursor {
			prev = ""
		}
		b.Links = append(b.Links, Link{"previous", link(prev, back[1:])})
	} else if cursor != "" {
		b.Links = append(b.Links, Link{"previous", link("", nil)})
	}

	// MarshalJSON directly: json.Marshal would escape the & of every link.
	body, err := b.MarshalJSON()
	if err != nil {
		s.fail(c, err)
		return
	}
	s.send(c, http.StatusOK, body)
}

// startCursor stands for the first page in a list of earlier cursors.
const startCursor = "-"

func cursorOrStart(c string) string {
	if c == "" {
		return startCursor
	}
	return c
}

// encodeSorted encodes values with keys in order, keeping the order of
// repeated values, so that links are stable.
func encodeSorted(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(val))
		}
	}
	return b.String()
}
