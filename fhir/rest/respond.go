package rest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
)

// ContentType is the media type of every FHIR response body.
const ContentType = "application/fhir+json; charset=utf-8"

// send records the exchange and writes body with the FHIR content type,
// indented when the request asked for _pretty=true.
func (s *Server) send(c *gin.Context, status int, body []byte) {
	if !s.commit(c, status) {
		return
	}
	c.Data(status, ContentType, pretty(c, body))
}

// pretty indents body when the request asked for _pretty=true.
func pretty(c *gin.Context, body []byte) []byte {
	if c.Query("_pretty") == "true" {
		var out bytes.Buffer
		if json.Indent(&out, body, "", "  ") == nil {
			return out.Bytes()
		}
	}
	return body
}

// fail sends err as an OperationOutcome. Errors that are not
// *outcome.Error are logged with the request id and sent as a 500
// that reveals nothing.
func (s *Server) fail(c *gin.Context, err error) {
	var se *repository.SealError
	if asSealError(err, &se) {
		logger(c).Error().Str("type", se.Type).Str("id", se.ID).
			Int64("version", se.VersionID).Msg("stored version failed to open")
		s.failStatus(c, outcome.New(http.StatusInternalServerError, "exception",
			"%s/%s version %d could not be opened: the stored data failed its "+
				"integrity check, so it is not sent", se.Type, se.ID, se.VersionID))
		return
	}
	e := outcome.As(err)
	if e.Status >= 500 && e != err {
		logger(c).Error().Err(err).Msg("request failed")
	}
	s.failStatus(c, e)
}

// failStatus sends an OperationOutcome and records the failure's reason.
func (s *Server) failStatus(c *gin.Context, e *outcome.Error) {
	if e.Status == http.StatusMethodNotAllowed {
		if allow, ok := c.Get(allowKey); ok {
			c.Header("Allow", allow.(string))
		}
	}
	if len(e.Issues) > 0 && exchange(c).Reason == "" {
		exchange(c).Reason = e.Issues[0].Code
	}
	s.send(c, e.Status, outcome.JSON(e.Issues...))
	c.Abort()
}

// writeStatus records the exchange and sends a status without a body.
func (s *Server) writeStatus(c *gin.Context, status int) {
	if !s.commit(c, status) {
		return
	}
	c.Status(status)
	c.Writer.WriteHeaderNow()
}

// sendEntry sends the resource of a read or write with its version
// headers, honouring Prefer: return=.
func (s *Server) sendEntry(c *gin.Context, status int, e repository.Entry, base string) {
	setVersionHeaders(c, e)
	if status == http.StatusCreated {
		c.Header("Location", base+"/"+e.Type+"/"+e.ID+"/_history/"+
			strconv.FormatInt(e.VersionID, 10))
	}
	switch preferReturn(c) {
	case "minimal":
		s.writeStatus(c, status)
	case "OperationOutcome":
		s.send(c, status, outcome.JSON(outcome.Information("%s/%s version %d stored",
			e.Type, e.ID, e.VersionID)))
	default:
		s.send(c, status, e.Body)
	}
}

func setVersionHeaders(c *gin.Context, e repository.Entry) {
	c.Header("ETag", etag(e.VersionID))
	c.Header("Last-Modified", e.LastUpdated.UTC().Format(http.TimeFormat))
}

func etag(versionID int64) string { return `W/"` + strconv.FormatInt(versionID, 10) + `"` }

// preferReturn returns the return= preference of the Prefer header.
func preferReturn(c *gin.Context) string {
	for _, h := range c.Request.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ";") {
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(part, "return="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// parseETag reads a version from an ETag value: W/"3", "3" or 3.
func parseETag(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0
}

// notModified reports whether a conditional read can respond 304.
func notModified(c *gin.Context, e repository.Entry) bool {
	if inm := c.GetHeader("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			if strings.TrimSpace(tag) == "*" {
				return true
			}
			if n, ok := parseETag(tag); ok && n == e.VersionID {
				return true
			}
		}
		return false
	}
	if ims := c.GetHeader("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		if err == nil && !e.LastUpdated.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}

const loggerKey = "custos.logger"

func logger(c *gin.Context) *zerolog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*zerolog.Logger)
	}
	nop := zerolog.Nop()
	return &nop
}
