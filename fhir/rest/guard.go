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

// allowType responds 403 and returns false unless the token's scopes allow
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

// allowEntry responds 403 and returns false unless the principal may
// perform in on the entry. On success it records the entry in the
// exchange.
func (s *Server) allowEntry(c *gin.Context, in access.Interaction, e repository.Entry) bool {
	x := exchange(c)
	if err := s.checkEntry(c, in, e); err != nil {
		// A refusal names the patient too: "who tried to see X" needs it.
		x.AddPatient(e.Compartment)
		s.fail(c, err)
		return false
	}
	x.AddPatient(e.Compartment)
	if e.ID != "" && e.VersionID > 0 {
		x.AddEntity(e.Type + "/" + e.ID + "/_history/" + itoa(e.VersionID))
	}
	return true
}

// checkEntry decides access to e without responding or recording it.
func (s *Server) checkEntry(c *gin.Context, in access.Interaction, e repository.Entry) error {
	if s.cfg.Guard == nil {
		return nil
	}
	d, err := s.cfg.Guard.Resource(c, principal(c), in, access.Target{Type: e.Type,
		ID: e.ID, Compartment: e.Compartment, Body: e.Body})
	if err != nil {
		return err
	}
	if d.BreakGlass {
		exchange(c).BreakGlass = true
	}
	return nil
}

// visible reports whether a search or history hit may be shown; consent
// denials and compartment refusals hide it, other errors fail the request.
// The caller records the hits it returns.
func (s *Server) visible(c *gin.Context, in access.Interaction, e repository.Entry) (bool, error) {
	err := s.checkEntry(c, in, e)
	if err == nil {
		return true, nil
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
