// Package rest serves the FHIR R4 RESTful API of Custos over gin: the
// instance, type and system interactions, their HTTP semantics (versions,
// conditional requests, Prefer, content negotiation) and OperationOutcome
// errors.
package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/fhir/search"
)

// DefaultMaxBody is the largest request body accepted unless configured.
const DefaultMaxBody = 8 << 20

// Config configures a Server.
type Config struct {
	// BaseURL is the external FHIR base, for example
	// "http://127.0.0.1:8080/fhir", used in links and Location headers.
	BaseURL string
	// MaxBody is the largest request body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	// Version is the server's software version for the CapabilityStatement.
	Version string
	Logger  zerolog.Logger
	// Ready, when set, reports whether the server can serve requests;
	// /readyz responds 503 while it returns an error.
	Ready func() error
	// Capability returns the CapabilityStatement as JSON.
	Capability func() []byte
	// Verifier authenticates bearer tokens. Nil turns authentication off,
	// which only tests of other parts should do.
	Verifier *auth.Verifier
	// Guard decides access from scopes and consent; nil permits all.
	Guard *access.Guard
	// Audit records each exchange before its response; nil records none.
	Audit AuditFunc
	// SmartConfiguration is served at /fhir/.well-known/smart-configuration.
	SmartConfiguration func() []byte
	// Search runs searches; nil leaves search unrouted.
	Search *search.Engine
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies
	// whose X-Forwarded-For names the client. By default none is trusted
	// and the audit trail records the socket peer, so that a client
	// cannot choose the address recorded for it.
	TrustedProxies []string
	// BeforeSearch, when set, runs before each search of a type, for
	// indexes that are written after their records (the audit trail's).
	BeforeSearch func(ctx context.Context, typ string) error
}

// Server is the FHIR REST API.
type Server struct {
	cfg     Config
	repo    *repository.Repository
	engine  *gin.Engine
	metrics *metrics

	operations map[string]Operation
}

// New returns a Server over repo.
func New(cfg Config, repo *repository.Repository) *Server {
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, repo: repo, engine: gin.New(), metrics: newMetrics()}
	if err := s.engine.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		// An invalid entry trusts nothing rather than everything.
		cfg.Logger.Error().Err(err).Msg("invalid trusted proxy; trusting none")
		_ = s.engine.SetTrustedProxies(nil)
	}
	s.routes()
	return s
}

// Engine returns the gin engine, so that other packages can add
// middleware and routes before serving.
func (s *Server) Engine() *gin.Engine { return s.engine }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) routes() {
	e := s.engine
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.UseRawPath = true
	e.UnescapePathValues = true
	e.Use(s.requestLog, s.recover, s.negotiate, s.limitBody)

	e.NoRoute(func(c *gin.Context) {
		s.failStatus(c, outcome.New(http.StatusNotFound, "not-found",
			"no FHIR interaction is served at %s", c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		s.failStatus(c, outcome.New(http.StatusMethodNotAllowed, "not-supported",
			"%s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	e.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", s.metrics.handler())

	f := e.Group("/fhir")
	if s.cfg.Verifier != nil {
		f.Use(auth.Middleware(s.cfg.Verifier, auth.WithRejectHook(s.rejected)))
	}
	f.GET("/metadata", s.metadata)
	f.GET("/.well-known/smart-configuration", s.smartConfiguration)
	f.GET("/_history", s.historySystem)

	f.POST("/:type", s.typed(s.create))
	f.GET("/:type/_history", s.typed(s.historyType))
	if s.cfg.Search != nil {
		f.GET("/:type", s.typed(s.searchType))
		f.HEAD("/:type", s.typed(s.searchType))
		f.POST("/:type/_search", s.typed(s.searchType))
		f.GET("/:type/:id/:compartment", s.instance(s.compartment))
	}
	f.GET("/:type/:id", s.instance(s.read))
	f.PUT("/:type/:id", s.instance(s.update))
	f.DELETE("/:type/:id", s.instance(s.delete))
	f.GET("/:type/:id/_history", s.instance(s.historyInstance))
	f.GET("/:type/:id/_history/:vid", s.instance(s.vread))
	// HEAD responds like GET; net/http drops the body.
	f.HEAD("/metadata", s.metadata)
	f.HEAD("/:type/:id", s.instance(s.read))
	f.HEAD("/:type/:id/_history/:vid", s.instance(s.vread))
}

// Handle registers an extra handler on the FHIR base, for the packages
// that add search and operations.
func (s *Server) Handle(method, path string, h gin.HandlerFunc) {
	s.engine.Group("/fhir").Handle(method, path, h)
}

func (s *Server) ready(c *gin.Context) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			c.String(http.StatusServiceUnavailable, "not ready\n")
			return
		}
	}
	c.String(http.StatusOK, "ready\n")
}

// rejected records a request whose token was missing or bad; the auth
// middleware then responds 401.
func (s *Server) rejected(c *gin.Context, _ error) {
	x := exchange(c)
	x.Interaction = "authenticate"
	x.Reason = "invalid or missing bearer token"
	// The middleware sends the 401 whatever happens here, and it carries
	// no data, so a failed record is logged rather than turned into a 503.
	if err := s.record(c, http.StatusUnauthorized); err != nil {
		logger(c).Error().Err(err).Msg("audit record of a rejected token failed")
	}
}

func (s *Server) smartConfiguration(c *gin.Context) {
	if s.cfg.SmartConfiguration == nil {
		s.failStatus(c, outcome.New(http.StatusNotFound, "not-supported",
			"this server does not use SMART on FHIR authorization"))
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.cfg.SmartConfiguration())
}

func (s *Server) metadata(c *gin.Context) {
	if s.cfg.Capability == nil {
		s.failStatus(c, outcome.New(http.StatusNotImplemented, "not-supported",
			"no CapabilityStatement is configured"))
		return
	}
	c.Data(http.StatusOK, ContentType, pretty(c, s.cfg.Capability()))
}

// typed wraps a type-level handler with the check that the type is served.
func (s *Server) typed(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		typ := c.Param("type")
		if !model.Served(typ) {
			s.failStatus(c, outcome.New(http.StatusNotFound, "not-supported",
				"resource type %q is not served here; served types are %s",
				truncate(typ, 64), strings.Join(model.Types, ", ")))
			return
		}
		h(c)
	}
}

// instance wraps an instance-level handler with the type and id checks.
func (s *Server) instance(h gin.HandlerFunc) gin.HandlerFunc {
	return s.typed(func(c *gin.Context) {
		if id := c.Param("id"); strings.HasPrefix(id, "$") && c.Request.Method == http.MethodGet {
			s.typeOperation(c, c.Param("type"), id)
			return
		}
		if id := c.Param("id"); !model.ValidID(id) {
			s.failStatus(c, outcome.New(http.StatusBadRequest, "value",
				"%q is not a valid resource id: ids are 1 to 64 characters of "+
					"A-Z, a-z, 0-9, '-' and '.'", truncate(id, 80)))
			return
		}
		h(c)
	})
}

// requestLog logs one line per request: method, route pattern, status,
// duration and request id. It never logs the query or the body, which may
// carry PHI.
func (s *Server) requestLog(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		id = newRequestID()
	}
	c.Header("X-Request-Id", id)
	exchange(c).RequestID = id
	l := s.cfg.Logger.With().Str("request_id", id).Logger()
	c.Set(loggerKey, &l)

	c.Next()

	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	s.metrics.observe(c, route, elapsed)
	l.Info().Str("method", c.Request.Method).Str("route", route).
		Int("status", c.Writer.Status()).
		Float64("duration_ms", float64(elapsed.Microseconds())/1000).
		Msg("request")
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-_.]{1,64}$`)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recover turns a panic into a 500 OperationOutcome.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			logger(c).Error().Interface("panic", sanitizePanic(r)).Msg("handler panicked")
			s.fail(c, errors.New("panic"))
		}
	}()
	c.Next()
}

// sanitizePanic keeps only the type of a panic value, which could hold PHI.
func sanitizePanic(r any) string {
	if err, ok := r.(error); ok {
		return "error of type " + typeName(err)
	}
	return "value of type " + typeName(r)
}

// negotiate rejects requests for formats other than JSON: 406 when the
// client asks for a response it cannot get, 415 when it sends a body in
// another format.
func (s *Server) negotiate(c *gin.Context) {
	if f := c.Query("_format"); f != "" && !jsonFormat(f) {
		s.failStatus(c, outcome.New(http.StatusNotAcceptable, "not-supported",
			"_format %q is not supported; this server speaks application/fhir+json only",
			truncate(f, 64)))
		return
	}
	if c.Query("_format") == "" && !acceptsJSON(c.GetHeader("Accept")) {
		s.failStatus(c, outcome.New(http.StatusNotAcceptable, "not-supported",
			"none of the media types in Accept can be served; this server speaks "+
				"application/fhir+json only"))
		return
	}
	if c.Request.ContentLength != 0 && c.Request.Method != http.MethodGet {
		ct := c.GetHeader("Content-Type")
		if ct != "" && !jsonMedia(ct) && !formMedia(ct, c) {
			s.failStatus(c, outcome.New(http.StatusUnsupportedMediaType, "not-supported",
				"Content-Type %q is not supported; send application/fhir+json",
				truncate(ct, 64)))
			return
		}
	}
	c.Next()
}

func jsonFormat(f string) bool {
	switch strings.ToLower(strings.TrimSpace(strings.SplitN(f, ";", 2)[0])) {
	case "json", "application/json", "application/fhir+json", "application/json+fhir":
		return true
	}
	return false
}

func jsonMedia(ct string) bool { return jsonFormat(ct) }

// formMedia allows a form body on POST [type]/_search.
func formMedia(ct string, c *gin.Context) bool {
	media := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	return media == "application/x-www-form-urlencoded" &&
		strings.HasSuffix(c.Request.URL.Path, "/_search")
}

// acceptsJSON reports whether an Accept header admits JSON. An empty
// header, */* and application/* admit it.
func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		media := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if q := qualityOf(part); q == 0 {
			continue
		}
		switch media {
		case "*/*", "application/*", "text/*", "text/plain", "text/html":
			return true
		}
		if jsonFormat(media) {
			return true
		}
	}
	return false
}

func qualityOf(part string) float64 {
	for _, p := range strings.Split(part, ";")[1:] {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
			if v == "0" || v == "0.0" || v == "0.00" || v == "0.000" {
				return 0
			}
		}
	}
	return 1
}

// limitBody responds 413 for bodies over the limit, whether or not they
// declare their length.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.cfg.MaxBody {
		s.failStatus(c, outcome.New(http.StatusRequestEntityTooLarge, "too-costly",
			"the request body is %d bytes; the limit is %d bytes",
			c.Request.ContentLength, s.cfg.MaxBody))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBody)
	c.Next()
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
