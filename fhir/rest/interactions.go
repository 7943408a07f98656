package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/audit"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
)

const allowKey = "custos.allow"

// The tag that marks an AuditEvent a client submitted, so that it cannot
// be taken for one the server recorded.
const (
	ClientAuditTagSystem = "http://custos.example/fhir/CodeSystem/audit-origin"
	ClientAuditTagCode   = "client-submitted"
)

// appendOnly lists the types whose resources are never changed or
// deleted through the API.
var appendOnly = map[string]bool{"AuditEvent": true}

func (s *Server) read(c *gin.Context) {
	if !s.allowType(c, access.Read, c.Param("type")) {
		return
	}
	e, err := s.repo.Read(c, c.Param("type"), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.allowEntry(c, access.Read, e) {
		return
	}
	if e.Deleted {
		setVersionHeaders(c, e)
		s.failStatus(c, outcome.New(http.StatusGone, "deleted",
			"%s/%s was deleted in version %d", e.Type, e.ID, e.VersionID))
		return
	}
	setVersionHeaders(c, e)
	if notModified(c, e) {
		s.writeStatus(c, http.StatusNotModified)
		return
	}
	s.send(c, http.StatusOK, e.Body)
}

func (s *Server) vread(c *gin.Context) {
	vid, err := strconv.ParseInt(c.Param("vid"), 10, 64)
	if err != nil || vid < 1 {
		s.failStatus(c, outcome.New(http.StatusBadRequest, "value",
			"%q is not a version id: versions are whole numbers from 1",
			truncate(c.Param("vid"), 32)))
		return
	}
	if !s.allowType(c, access.VRead, c.Param("type")) {
		return
	}
	e, err := s.repo.VRead(c, c.Param("type"), c.Param("id"), vid)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.allowEntry(c, access.VRead, e) {
		return
	}
	setVersionHeaders(c, e)
	if e.Deleted {
		s.failStatus(c, outcome.New(http.StatusGone, "deleted",
			"version %d of %s/%s is a deletion", e.VersionID, e.Type, e.ID))
		return
	}
	if notModified(c, e) {
		s.writeStatus(c, http.StatusNotModified)
		return
	}
	s.send(c, http.StatusOK, e.Body)
}

func (s *Server) create(c *gin.Context) {
	if !s.allowType(c, access.Create, c.Param("type")) {
		return
	}
	res, body, err := s.parseBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.allowEntry(c, access.Create, repository.Entry{Type: res.Type,
		Compartment: res.Compartment(), Body: body}) {
		return
	}
	if res.Type == "AuditEvent" {
		// The server's own records carry the chain extension; one sent by
		// a client would pose as a link of the trail.
		if bytes.Contains(body, []byte(audit.ExtensionChain)) {
			s.fail(c, outcome.At(http.StatusUnprocessableEntity, "business-rule",
				"AuditEvent.extension", "the extension %s is reserved for the server's "+
					"own audit records", audit.ExtensionChain))
			return
		}
		res.AddTag(ClientAuditTagSystem, ClientAuditTagCode)
	}
	// The server assigns the id of a created resource; one in the body is
	// ignored, as the specification requires.
	e, err := s.repo.Create(c, res)
	if err != nil {
		s.fail(c, err)
		return
	}
	exchange(c).AddEntity(e.Type + "/" + e.ID + "/_history/" + itoa(e.VersionID))
	s.sendEntry(c, http.StatusCreated, e, s.cfg.BaseURL)
}

func (s *Server) update(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	setInteraction(c, access.Update.Name)
	if appendOnly[typ] {
		s.methodNotAllowed(c, typ, "GET, POST")
		return
	}
	if !s.allowType(c, access.Update, typ) {
		return
	}
	ifMatch, err := ifMatchVersion(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	res, body, err := s.parseBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	switch bodyID := res.ID(); {
	case bodyID == "":
		s.fail(c, outcome.At(http.StatusBadRequest, "required", typ+".id",
			"the resource has no id; an update must carry the id of the URL, %q", id))
		return
	case bodyID != id:
		s.fail(c, outcome.At(http.StatusBadRequest, "invariant", typ+".id",
			"the resource id %q does not match the id in the URL, %q",
			truncate(bodyID, 64), id))
		return
	}
	if !s.allowCurrent(c, access.Update, typ, id) || !s.allowEntry(c, access.Update,
		repository.Entry{Type: typ, ID: id, Compartment: res.Compartment(), Body: body}) {
		return
	}
	e, created, err := s.repo.Update(c, res, id, ifMatch)
	if err != nil {
		s.fail(c, err)
		return
	}
	exchange(c).AddEntity(e.Type + "/" + e.ID + "/_history/" + itoa(e.VersionID))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.sendEntry(c, status, e, s.cfg.BaseURL)
}

func (s *Server) delete(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	setInteraction(c, access.Delete.Name)
	if appendOnly[typ] {
		s.methodNotAllowed(c, typ, "GET, POST")
		return
	}
	if !s.allowType(c, access.Delete, typ) {
		return
	}
	ifMatch, err := ifMatchVersion(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.allowCurrent(c, access.Delete, typ, id) {
		return
	}
	if _, err := s.repo.Delete(c, typ, id, ifMatch); err != nil {
		s.fail(c, err)
		return
	}
	s.writeStatus(c, http.StatusNoContent)
}

// allowCurrent checks access to the current version of typ/id, when there
// is one, so that a write cannot change a resource its writer may not see.
func (s *Server) allowCurrent(c *gin.Context, in access.Interaction, typ, id string) bool {
	if s.cfg.Guard == nil {
		return true
	}
	cur, err := s.repo.Read(c, typ, id)
	if err != nil {
		if outcome.As(err).Status == http.StatusNotFound {
			return true
		}
		s.fail(c, err)
		return false
	}
	if cur.Deleted {
		return true
	}
	return s.allowEntry(c, in, cur)
}

func (s *Server) methodNotAllowed(c *gin.Context, typ, allow string) {
	c.Set(allowKey, allow)
	s.failStatus(c, outcome.New(http.StatusMethodNotAllowed, "not-supported",
		"%s resources are append-only: %s is not allowed", typ, c.Request.Method))
}

// ifMatchVersion reads If-Match; 0 means the header is absent.
func ifMatchVersion(c *gin.Context) (int64, error) {
	h := c.GetHeader("If-Match")
	if h == "" {
		return 0, nil
	}
	n, ok := parseETag(h)
	if !ok {
		return 0, outcome.New(http.StatusBadRequest, "value",
			"If-Match %q is not a version ETag such as W/\"3\"", truncate(h, 64))
	}
	return n, nil
}

// parseBody reads and validates the request body as a resource of the
// URL's type.
func (s *Server) parseBody(c *gin.Context) (*model.Resource, []byte, error) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, outcome.New(http.StatusRequestEntityTooLarge, "too-costly",
				"the request body is larger than the limit of %d bytes", tooLarge.Limit)
		}
		return nil, nil, outcome.New(http.StatusBadRequest, "structure",
			"the request body could not be read")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil, outcome.New(http.StatusBadRequest, "required",
			"the request has no body; send a %s resource as application/fhir+json",
			c.Param("type"))
	}
	want := c.Param("type")
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(body, &head) == nil && head.ResourceType != "" && head.ResourceType != want {
		return nil, nil, outcome.At(http.StatusBadRequest, "invariant", "resourceType",
			"the body is a %s, but the URL names %s", truncate(head.ResourceType, 64), want)
	}
	res, err := s.repo.Codec().Parse(body)
	if err != nil {
		return nil, nil, err
	}
	if res.Type != want {
		return nil, nil, outcome.At(http.StatusBadRequest, "invariant", "resourceType",
			"the body is a %s, but the URL names %s", res.Type, want)
	}
	return res, body, nil
}

func asSealError(err error, target **repository.SealError) bool {
	return errors.As(err, target)
}

func typeName(v any) string { return reflect.TypeOf(v).String() }
