package rest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
)

const allowKey = "custos.allow"

// appendOnly lists the types whose resources are never changed or
// deleted through the API.
var appendOnly = map[string]bool{"AuditEvent": true}

func (s *Server) read(c *gin.Context) {
	e, err := s.repo.Read(c, c.Param("type"), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if e.Deleted {
		setVersionHeaders(c, e)
		failStatus(c, outcome.New(http.StatusGone, "deleted",
			"%s/%s was deleted in version %d", e.Type, e.ID, e.VersionID))
		return
	}
	if notModified(c, e) {
		setVersionHeaders(c, e)
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	setVersionHeaders(c, e)
	send(c, http.StatusOK, e.Body)
}

func (s *Server) vread(c *gin.Context) {
	vid, err := strconv.ParseInt(c.Param("vid"), 10, 64)
	if err != nil || vid < 1 {
		failStatus(c, outcome.New(http.StatusBadRequest, "value",
			"%q is not a version id: versions are whole numbers from 1",
			truncate(c.Param("vid"), 32)))
		return
	}
	e, err := s.repo.VRead(c, c.Param("type"), c.Param("id"), vid)
	if err != nil {
		fail(c, err)
		return
	}
	setVersionHeaders(c, e)
	if e.Deleted {
		failStatus(c, outcome.New(http.StatusGone, "deleted",
			"version %d of %s/%s is a deletion", e.VersionID, e.Type, e.ID))
		return
	}
	if notModified(c, e) {
		c.Status(http.StatusNotModified)
		c.Writer.WriteHeaderNow()
		return
	}
	send(c, http.StatusOK, e.Body)
}

func (s *Server) create(c *gin.Context) {
	res, err := s.parseBody(c)
	if err != nil {
		fail(c, err)
		return
	}
	// The server assigns the id of a created resource; one in the body is
	// ignored, as the specification says.
	e, err := s.repo.Create(c, res)
	if err != nil {
		fail(c, err)
		return
	}
	sendEntry(c, http.StatusCreated, e, s.cfg.BaseURL)
}

func (s *Server) update(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	if appendOnly[typ] {
		s.methodNotAllowed(c, typ, "GET")
		return
	}
	ifMatch, err := ifMatchVersion(c)
	if err != nil {
		fail(c, err)
		return
	}
	res, err := s.parseBody(c)
	if err != nil {
		fail(c, err)
		return
	}
	switch bodyID := res.ID(); {
	case bodyID == "":
		fail(c, outcome.At(http.StatusBadRequest, "required", typ+".id",
			"the resource has no id; an update must carry the id of the URL, %q", id))
		return
	case bodyID != id:
		fail(c, outcome.At(http.StatusBadRequest, "invariant", typ+".id",
			"the resource id %q does not match the id in the URL, %q",
			truncate(bodyID, 64), id))
		return
	}
	e, created, err := s.repo.Update(c, res, id, ifMatch)
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	sendEntry(c, status, e, s.cfg.BaseURL)
}

func (s *Server) delete(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	if appendOnly[typ] {
		s.methodNotAllowed(c, typ, "GET")
		return
	}
	ifMatch, err := ifMatchVersion(c)
	if err != nil {
		fail(c, err)
		return
	}
	if _, err := s.repo.Delete(c, typ, id, ifMatch); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
}

func (s *Server) methodNotAllowed(c *gin.Context, typ, allow string) {
	c.Set(allowKey, allow)
	failStatus(c, outcome.New(http.StatusMethodNotAllowed, "not-supported",
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
func (s *Server) parseBody(c *gin.Context) (*model.Resource, error) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, outcome.New(http.StatusRequestEntityTooLarge, "too-costly",
				"the request body is larger than the limit of %d bytes", tooLarge.Limit)
		}
		return nil, outcome.New(http.StatusBadRequest, "structure",
			"the request body could not be read")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, outcome.New(http.StatusBadRequest, "required",
			"the request has no body; send a %s resource as application/fhir+json",
			c.Param("type"))
	}
	want := c.Param("type")
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(body, &head) == nil && head.ResourceType != "" && head.ResourceType != want {
		return nil, outcome.At(http.StatusBadRequest, "invariant", "resourceType",
			"the body is a %s, but the URL names %s", truncate(head.ResourceType, 64), want)
	}
	res, err := s.repo.Codec().Parse(body)
	if err != nil {
		return nil, err
	}
	if res.Type != want {
		return nil, outcome.At(http.StatusBadRequest, "invariant", "resourceType",
			"the body is a %s, but the URL names %s", res.Type, want)
	}
	return res, nil
}

func asSealError(err error, target **repository.SealError) bool {
	return errors.As(err, target)
}

func typeName(v any) string { return reflect.TypeOf(v).String() }
