package rest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Link is one Bundle.link.
type Link struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one Bundle.entry whose resource is already encoded.
type BundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *EntrySearch    `json:"search,omitempty"`
	Request  *EntryRequest   `json:"request,omitempty"`
	Response *EntryResponse  `json:"response,omitempty"`
}

// EntrySearch is Bundle.entry.search.
type EntrySearch struct {
	Mode string `json:"mode"`
}

// EntryRequest is Bundle.entry.request.
type EntryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// EntryResponse is Bundle.entry.response.
type EntryResponse struct {
	Status       string `json:"status"`
	Location     string `json:"location,omitempty"`
	Etag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

// Bundle is a Bundle resource whose entries carry encoded resources.
type Bundle struct {
	Type  string
	Total *int
	Links []Link
	Entry []BundleEntry
}

// MarshalJSON encodes the bundle with a fresh id and meta.lastUpdated.
func (b Bundle) MarshalJSON() ([]byte, error) {
	out := struct {
		ResourceType string        `json:"resourceType"`
		ID           string        `json:"id"`
		Meta         bundleMeta    `json:"meta"`
		Type         string        `json:"type"`
		Total        *int          `json:"total,omitempty"`
		Link         []Link        `json:"link,omitempty"`
		Entry        []BundleEntry `json:"entry,omitempty"`
	}{"Bundle", newRequestID(), bundleMeta{time.Now().UTC().Format(instantLayout)},
		b.Type, b.Total, b.Links, b.Entry}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

// instantLayout is the FHIR instant format at millisecond precision.
const instantLayout = "2006-01-02T15:04:05.000Z07:00"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
