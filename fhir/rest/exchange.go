package rest

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/outcome"
)

// Exchange is the audit trail's account of one request. Handlers fill it
// as they work, and it is recorded before the response leaves.
type Exchange struct {
	Interaction string // read, search-type, $everything, ...
	Method      string
	Type        string
	RequestID   string
	Address     string // the client's network address
	Principal   *auth.Principal
	// Patients are the ids of the patients whose data the response
	// returns or the request changed.
	Patients []string
	// Entities are the resources involved, as Type/id or
	// Type/id/_history/n.
	Entities []string
	// Query is the search URL of a search, relative to the base.
	Query string
	// BreakGlass marks an access that passed a consent deny for
	// emergency treatment.
	BreakGlass bool
	Status     int
	// Reason is why a request failed, in words without PHI.
	Reason string

	committed bool
	seen      map[string]bool
}

// AddPatient records that the response involves a patient's data.
func (x *Exchange) AddPatient(id string) {
	if id == "" || x.seen["p:"+id] {
		return
	}
	if x.seen == nil {
		x.seen = map[string]bool{}
	}
	x.seen["p:"+id] = true
	x.Patients = append(x.Patients, id)
}

// AddEntity records a resource involved in the exchange.
func (x *Exchange) AddEntity(ref string) {
	if x.seen["e:"+ref] {
		return
	}
	if x.seen == nil {
		x.seen = map[string]bool{}
	}
	x.seen["e:"+ref] = true
	x.Entities = append(x.Entities, ref)
}

// AuditFunc stores the audit record of an exchange. An error stops the
// response: the client gets a 503 and none of the data.
type AuditFunc func(ctx context.Context, x *Exchange) error

const exchangeKey = "custos.exchange"

// exchange returns the request's Exchange.
func exchange(c *gin.Context) *Exchange {
	if x, ok := c.Get(exchangeKey); ok {
		return x.(*Exchange)
	}
	x := &Exchange{}
	c.Set(exchangeKey, x)
	return x
}

// setInteraction names the interaction of the request for the audit trail.
func setInteraction(c *gin.Context, name string) { exchange(c).Interaction = name }

// commit records the exchange before any byte of the response is written.
// It returns false, having responded 503, when the record cannot be stored.
func (s *Server) commit(c *gin.Context, status int) bool {
	err := s.record(c, status)
	if err == nil {
		return true
	}
	logger(c).Error().Err(err).Str("interaction", exchange(c).Interaction).
		Msg("audit record failed; response withheld")
	e := outcome.New(http.StatusServiceUnavailable, "transient",
		"the audit trail cannot record this request, so no data is sent; retry later")
	c.Data(e.Status, ContentType, outcome.JSON(e.Issues...))
	c.Abort()
	return false
}

// record completes the exchange from the request itself and stores it.
// Later calls, and a server without an audit trail, store nothing.
func (s *Server) record(c *gin.Context, status int) error {
	x := exchange(c)
	if x.committed || s.cfg.Audit == nil {
		return nil
	}
	x.committed = true
	x.Status = status
	x.Method = c.Request.Method
	x.Address = c.ClientIP()
	if x.Type == "" {
		x.Type = c.Param("type")
	}
	if p, ok := auth.FromContext(c); ok {
		x.Principal = &p
	}
	return s.cfg.Audit(c.Request.Context(), x)
}

// Send records the exchange and sends a FHIR JSON body, for operations
// that other packages register.
func (s *Server) Send(c *gin.Context, status int, body []byte) { s.send(c, status, body) }

// Fail sends err as an OperationOutcome, for registered operations.
func (s *Server) Fail(c *gin.Context, err error) { s.fail(c, err) }

// ExchangeOf returns the request's exchange, for registered operations.
func ExchangeOf(c *gin.Context) *Exchange { return exchange(c) }

// SendJSON records the exchange and sends a plain JSON body that is not a
// FHIR resource.
func (s *Server) SendJSON(c *gin.Context, status int, body []byte) {
	if !s.commit(c, status) {
		return
	}
	c.Data(status, "application/json; charset=utf-8", pretty(c, body))
}
