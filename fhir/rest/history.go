package rest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/store"
)

// Paging limits for history and search.
const (
	DefaultCount = 50
	MaxCount     = 1000
)

func (s *Server) historySystem(c *gin.Context) {
	setInteraction(c, access.HistorySystem.Name)
	s.history(c, access.HistorySystem, "", "")
}

func (s *Server) historyType(c *gin.Context) {
	if s.allowType(c, access.HistoryType, c.Param("type")) {
		s.history(c, access.HistoryType, c.Param("type"), "")
	}
}

func (s *Server) historyInstance(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	if !s.allowType(c, access.HistoryInstance, typ) {
		return
	}
	// The current version decides access to the whole history, so that a
	// refusal does not depend on which page is asked for.
	if s.cfg.Guard != nil {
		cur, err := s.repo.Read(c, typ, id)
		if err != nil && outcome.As(err).Status != http.StatusNotFound {
			s.fail(c, err)
			return
		}
		if err == nil && !s.allowEntry(c, access.HistoryInstance, cur) {
			return
		}
	}
	s.history(c, access.HistoryInstance, typ, id)
}

func (s *Server) history(c *gin.Context, in access.Interaction, typ, id string) {
	q := c.Request.URL.Query()
	count, err := ParseCount(q.Get("_count"))
	if err != nil {
		s.fail(c, err)
		return
	}
	f := store.HistoryFilter{Type: typ, ID: id, Limit: count + 1}
	if v := q.Get("_since"); v != "" {
		t, err := parseInstant(v)
		if err != nil {
			s.fail(c, outcome.New(http.StatusBadRequest, "value",
				"_since %q is not an instant such as 2024-01-31T12:00:00Z", truncate(v, 64)))
			return
		}
		f.Since = t
	}
	if v := q.Get("_page"); v != "" {
		pos, err := decodePosition(v)
		if err != nil {
			s.fail(c, outcome.New(http.StatusBadRequest, "value",
				"_page is not a cursor this server issued"))
			return
		}
		f.Before = &pos
	}

	versions, err := s.repo.History(c, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	more := len(versions) > count
	if more {
		versions = versions[:count]
	}
	b := Bundle{Type: "history"}
	// Under access control a total would count versions the caller may
	// not see, so it is given only without it.
	if s.cfg.Guard == nil {
		total, err := s.repo.Store().CountHistory(c, f)
		if err != nil {
			s.fail(c, err)
			return
		}
		b.Total = &total
	}
	for _, v := range versions {
		if id == "" {
			ok, err := s.visible(c, in, v)
			if err != nil {
				s.fail(c, err)
				return
			}
			if !ok {
				continue
			}
		}
		exchange(c).AddPatient(v.Compartment)
		b.Entry = append(b.Entry, s.historyEntry(v.Type, v.ID, v.VersionID, v.LastUpdated,
			v.Deleted, v.Body))
	}

	path := s.cfg.BaseURL + "/_history"
	switch {
	case id != "":
		path = s.cfg.BaseURL + "/" + typ + "/" + id + "/_history"
	case typ != "":
		path = s.cfg.BaseURL + "/" + typ + "/_history"
	}
	keep := url.Values{}
	keep.Set("_count", strconv.Itoa(count))
	if v := q.Get("_since"); v != "" {
		keep.Set("_since", v)
	}
	first := path + "?" + keep.Encode()
	self := first
	if v := q.Get("_page"); v != "" {
		self = first + "&_page=" + url.QueryEscape(v)
	}
	b.Links = []Link{{"self", self}, {"first", first}}
	if more {
		last := versions[len(versions)-1]
		next := encodePosition(store.Position{LastUpdated: last.LastUpdated,
			Type: last.Type, ID: last.ID, VersionID: last.VersionID})
		b.Links = append(b.Links, Link{"next", first + "&_page=" + url.QueryEscape(next)})
	}
	body, err := b.MarshalJSON()
	if err != nil {
		s.fail(c, err)
		return
	}
	s.send(c, http.StatusOK, body)
}

func (s *Server) historyEntry(typ, id string, vid int64, lastUpdated time.Time,
	deleted bool, body []byte) BundleEntry {
	e := BundleEntry{FullURL: s.cfg.BaseURL + "/" + typ + "/" + id}
	resp := &EntryResponse{Etag: etag(vid), LastModified: lastUpdated.UTC().Format(instantLayout)}
	switch {
	case deleted:
		e.Request = &EntryRequest{Method: "DELETE", URL: typ + "/" + id}
		resp.Status = "204 No Content"
	case vid == 1:
		e.Request = &EntryRequest{Method: "POST", URL: typ}
		resp.Status = "201 Created"
		resp.Location = typ + "/" + id + "/_history/1"
	default:
		e.Request = &EntryRequest{Method: "PUT", URL: typ + "/" + id}
		resp.Status = "200 OK"
	}
	if !deleted {
		e.Resource = body
	}
	e.Response = resp
	return e
}

// ParseCount reads _count: empty gives DefaultCount, larger than MaxCount
// gives MaxCount, anything but a whole number from 0 is a 400.
func ParseCount(v string) (int, error) {
	if v == "" {
		return DefaultCount, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, outcome.New(http.StatusBadRequest, "value",
			"_count %q is not a whole number from 0", truncate(v, 32))
	}
	if n > MaxCount {
		n = MaxCount
	}
	return n, nil
}

// parseInstant reads an instant, or a date or dateTime at lower precision
// meaning its start.
func parseInstant(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05",
		"2006-01-02T15:04Z07:00", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an instant")
}

func encodePosition(p store.Position) string {
	raw := fmt.Sprintf("%d|%s|%s|%d", p.LastUpdated.UnixMilli(), p.Type, p.ID, p.VersionID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodePosition(v string) (store.Position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return store.Position{}, err
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 {
		return store.Position{}, fmt.Errorf("cursor has %d parts", len(parts))
	}
	ms, err1 := strconv.ParseInt(parts[0], 10, 64)
	vid, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return store.Position{}, fmt.Errorf("cursor numbers invalid")
	}
	return store.Position{LastUpdated: time.UnixMilli(ms).UTC(), Type: parts[1],
		ID: parts[2], VersionID: vid}, nil
}
