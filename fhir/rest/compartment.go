package rest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/search"
)

// compartmentParam names, per type, the search parameter that puts a
// resource in a patient's compartment. The R4 compartment definition
// also lists DocumentReference.author, which Custos does not follow:
// patients are rarely the authors of their documents.
var compartmentParam = map[string]string{
	"Patient":           "_id",
	"DocumentReference": "patient",
	"Consent":           "patient",
	"AuditEvent":        "patient",
}

// everythingTypes are the types $everything and Patient/{id}/* return, in
// order. AuditEvents are left out: the trail of who saw a record is not
// part of the record, and $access-report serves it.
var everythingTypes = []string{"Patient", "DocumentReference", "Consent"}

// Operation is an instance-level operation handler registered by another
// package.
type Operation func(c *gin.Context, typ, id string)

// RegisterOperation adds an operation such as "$access-report" on
// [type]/[id]/$name.
func (s *Server) RegisterOperation(typ, name string, op Operation) {
	if s.operations == nil {
		s.operations = map[string]Operation{}
	}
	s.operations[typ+"/"+name] = op
}

// RegisterTypeOperation adds an operation such as "$report" on
// [type]/$name.
func (s *Server) RegisterTypeOperation(typ, name string, op Operation) {
	s.RegisterOperation(typ, "type:"+name, op)
}

// typeOperation serves GET [type]/$name.
func (s *Server) typeOperation(c *gin.Context, typ, name string) {
	op, ok := s.operations[typ+"/type:"+name]
	if !ok {
		s.failStatus(c, outcome.New(http.StatusNotFound, "not-supported",
			"operation %s is not supported on %s", truncate(name, 64), typ))
		return
	}
	setInteraction(c, name)
	op(c, typ, "")
}

// compartment serves [type]/[id]/[compartment type], [type]/[id]/* and
// instance operations.
func (s *Server) compartment(c *gin.Context) {
	typ, id, part := c.Param("type"), c.Param("id"), c.Param("compartment")
	if strings.HasPrefix(part, "$") {
		if part == "$everything" && typ == "Patient" {
			s.everything(c, id, c.Request.URL.Query())
			return
		}
		if op, ok := s.operations[typ+"/"+part]; ok {
			setInteraction(c, part)
			op(c, typ, id)
			return
		}
		s.failStatus(c, outcome.New(http.StatusNotFound, "not-supported",
			"operation %s is not supported on %s", truncate(part, 64), typ))
		return
	}
	if typ != "Patient" {
		s.failStatus(c, outcome.New(http.StatusNotFound, "not-supported",
			"only the Patient compartment is supported, not %s", typ))
		return
	}
	if part == "*" {
		s.everything(c, id, c.Request.URL.Query())
		return
	}
	param, ok := compartmentParam[part]
	if !ok {
		s.failStatus(c, outcome.New(http.StatusNotFound, "not-supported",
			"resource type %q is not served in the Patient compartment", truncate(part, 64)))
		return
	}
	if !s.allowType(c, access.SearchType, part) {
		return
	}
	params := c.Request.URL.Query()
	params.Add(param, compartmentValue(param, id))
	s.runSearch(c, part, params, s.cfg.BaseURL+"/Patient/"+id+"/"+part)
}

func compartmentValue(param, id string) string {
	if param == "_id" {
		return id
	}
	return "Patient/" + id
}

// everything serves Patient/{id}/$everything: the patient and the
// resources of their compartment, one type after another, with _since,
// _type and _count. Its cursor is the index of the type and the cursor of
// the search in that type.
func (s *Server) everything(c *gin.Context, id string, params url.Values) {
	in := access.Operation("$everything")
	setInteraction(c, in.Name)
	types := everythingTypes
	if v := params.Get("_type"); v != "" {
		types = nil
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if !model.Served(t) {
				s.failStatus(c, outcome.New(http.StatusBadRequest, "value",
					"_type names %q, which is not served", truncate(t, 64)))
				return
			}
			types = append(types, t)
		}
	}
	for _, t := range types {
		if !s.allowType(c, in, t) {
			return
		}
	}
	if patient, ok := principal(c).PatientScoped("Patient"); ok && s.cfg.Guard != nil &&
		patient != id {
		s.failStatus(c, outcome.New(http.StatusForbidden, "forbidden",
			"Patient/%s is outside the patient compartment of the token", id))
		return
	}
	count, err := ParseCount(params.Get("_count"))
	if err != nil {
		s.fail(c, err)
		return
	}
	typeIndex, cursor, err := everythingCursor(params.Get(cursorParam), len(types))
	if err != nil {
		s.fail(c, err)
		return
	}
	self := s.cfg.BaseURL + "/Patient/" + id + "/$everything"
	exchange(c).Query = "Patient/" + id + "/$everything?" + params.Encode()

	var page search.Page
	filter := s.filter(c, in)
	next := ""
	for typeIndex < len(types) && len(page.Matches) < count {
		t := types[typeIndex]
		q := url.Values{compartmentParam[t]: {compartmentValue(compartmentParam[t], id)},
			"_count": {strconv.Itoa(count - len(page.Matches))}}
		if since := params.Get("_since"); since != "" {
			q.Set("_lastUpdated", "ge"+since)
		}
		res, err := s.cfg.Search.Search(c, s.repo.Store(),
			search.Query{Type: t, Params: q, Handling: "strict", Cursor: cursor,
				Filter: filter.visible})
		if err == nil {
			err = filter.err
		}
		if err != nil {
			s.fail(c, searchError(err))
			return
		}
		page.Matches = append(page.Matches, res.Matches...)
		if res.Next != "" {
			next = strconv.Itoa(typeIndex) + "." + res.Next
			break
		}
		typeIndex, cursor = typeIndex+1, ""
		if typeIndex < len(types) && len(page.Matches) >= count {
			next = strconv.Itoa(typeIndex) + "."
		}
	}
	page.Next = next

	kept := url.Values{}
	for _, k := range []string{"_since", "_type", "_count"} {
		if v := params.Get(k); v != "" {
			kept.Set(k, v)
		}
	}
	s.sendSearchset(c, page, kept, self, params.Get(cursorParam), params[backParam])
}

func everythingCursor(v string, types int) (int, string, error) {
	if v == "" {
		return 0, "", nil
	}
	idx, rest, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || n < 0 || n >= types {
		return 0, "", outcome.New(http.StatusBadRequest, "value",
			"_cursor is not a cursor this server issued")
	}
	return n, rest, nil
}
