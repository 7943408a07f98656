package rest

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
)

// principal returns the request's authenticated principal.
func principal(c *gin.Context) auth.Principal {
	p, _ := auth.FromContext(c)
	return p
}

// allowType answers 403 and returns false unless the token's scopes allow
// the interaction on typ. It runs before anything is read, so a refused
// request learns nothing about what exists.
func (s *Server) allowType(c *gin.Context, in access.Interaction, typ string) bool {
	setInteraction(c, in.Name)
	if s.cfg.Guard == nil {
		return true
	}
	if err := s.cfg.Guard.Type(principal(c), in, typ); err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

// allowEntry answers 403 and returns false unless the principal may
// perform in on the entry; on success it records the entry in the
// exchange.
func (s *Server) allowEntry(c *gin.Context, in access.Interaction, e repository.Entry) bool {
	ok, err := s.checkEntry(c, in, e)
	if err != nil {
		s.fail(c, err)
		return false
	}
	return ok
}

// checkEntry decides access to e without answering. A consent denial
// comes back as ok false with a nil error, so that searches can drop the
// entry; other refusals are errors.
func (s *Server) checkEntry(c *gin.Context, in access.Interaction, e repository.Entry) (
	bool, error) {
	if s.cfg.Guard != nil {
		d, err := s.cfg.Guard.Resource(c, principal(c), in, access.Target{Type: e.Type,
			ID: e.ID, Compartment: e.Compartment, Body: e.Body})
		if err != nil {
			return false, err
		}
		if d.BreakGlass {
			exchange(c).BreakGlass = true
		}
	}
	x := exchange(c)
	x.AddPatient(e.Compartment)
	if e.ID != "" {
		x.AddEntity(e.Type + "/" + e.ID + "/_history/" + itoa(e.VersionID))
	}
	return true, nil
}

// visible reports whether a search or history hit may be shown; consent
// denials and compartment refusals hide it, other errors fail the request.
func (s *Server) visible(c *gin.Context, in access.Interaction, e repository.Entry) (bool, error) {
	ok, err := s.checkEntry(c, in, e)
	if err == nil {
		return ok, nil
	}
	var denied *access.ConsentDenied
	if errors.As(err, &denied) {
		return false, nil
	}
	if oe := outcome.As(err); oe.Status == http.StatusForbidden {
		return false, nil
	}
	return false, err
}
