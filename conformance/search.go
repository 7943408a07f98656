package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// searchChecks drives search through the RESTful API.
func searchChecks(t *testing.T, c *Client) {
	marker := fmt.Sprintf("Srch%d", time.Now().UnixNano()%1e9)
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, create(t, c, "Patient", samplePatient(marker)))
	}
	sort.Strings(ids)

	t.Run("string match and paging", func(t *testing.T) {
		got := walk(t, c, "Patient?family="+strings.ToLower(marker)+"&_count=3")
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("paged search found %v, want %v", got, ids)
		}
	})
	t.Run("bundle shape", func(t *testing.T) {
		r := c.Do(t, "GET", "Patient?family="+marker+"&_total=accurate", nil)
		expectStatus(t, r, http.StatusOK, "search")
		b := r.JSON(t)
		if b["type"] != "searchset" {
			t.Errorf("type %v", b["type"])
		}
		if fmt.Sprint(b["total"]) != "7" {
			t.Errorf("total %v, want 7", b["total"])
		}
		for _, e := range entriesOf(b) {
			m := e.(map[string]any)
			if m["search"].(map[string]any)["mode"] != "match" {
				t.Errorf("entry mode %v", m["search"])
			}
			if !strings.HasSuffix(m["fullUrl"].(string), "/Patient/"+m["resource"].(map[string]any)["id"].(string)) {
				t.Errorf("fullUrl %v", m["fullUrl"])
			}
		}
		if link(b, "self") == "" || link(b, "first") == "" {
			t.Errorf("links %v", b["link"])
		}
	})
	t.Run("post form", func(t *testing.T) {
		r := c.Do(t, "POST", "Patient/_search", []byte("family="+marker+"&_count=100"),
			"Content-Type", "application/x-www-form-urlencoded")
		expectStatus(t, r, http.StatusOK, "POST _search")
		if n := len(entriesOf(r.JSON(t))); n != 7 {
			t.Errorf("POST _search found %d, want 7", n)
		}
	})
	t.Run("unknown parameter", func(t *testing.T) {
		strict := c.Do(t, "GET", "Patient?family="+marker+"&colour=blue", nil,
			"Prefer", "handling=strict")
		expectOutcome(t, strict, http.StatusBadRequest, "strict unknown parameter")
		lenient := c.Do(t, "GET", "Patient?family="+marker+"&colour=blue", nil,
			"Prefer", "handling=lenient")
		expectStatus(t, lenient, http.StatusOK, "lenient unknown parameter")
		b := lenient.JSON(t)
		if strings.Contains(link(b, "self"), "colour") {
			t.Errorf("self link keeps the ignored parameter: %s", link(b, "self"))
		}
		outcomes := 0
		for _, e := range entriesOf(b) {
			if e.(map[string]any)["search"].(map[string]any)["mode"] == "outcome" {
				outcomes++
			}
		}
		if outcomes != 1 {
			t.Errorf("lenient search has %d outcome entries, want 1", outcomes)
		}
	})
	t.Run("deleted are not hits", func(t *testing.T) {
		c.Do(t, "DELETE", "Patient/"+ids[0], nil)
		got := walk(t, c, "Patient?family="+marker)
		if len(got) != 6 || got[0] == ids[0] {
			t.Errorf("after delete search found %v", got)
		}
	})
	t.Run("compartment and everything", func(t *testing.T) {
		pid := ids[1]
		doc := `{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/` +
			pid + `"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`
		did := create(t, c, "DocumentReference", []byte(doc))
		other := create(t, c, "DocumentReference", []byte(strings.Replace(doc, pid, ids[2], 1)))

		got := walk(t, c, "Patient/"+pid+"/DocumentReference")
		if strings.Join(got, ",") != did {
			t.Errorf("compartment search found %v, want [%s] (not %s)", got, did, other)
		}
		every := walk(t, c, "Patient/"+pid+"/$everything?_count=1")
		if len(every) != 2 || !contains(every, pid) || !contains(every, did) {
			t.Errorf("$everything found %v, want %s and %s", every, pid, did)
		}
		inc := c.Do(t, "GET", "DocumentReference?_id="+did+"&_include=DocumentReference:subject", nil)
		expectStatus(t, inc, http.StatusOK, "_include")
		modes := map[string]string{}
		for _, e := range entriesOf(inc.JSON(t)) {
			m := e.(map[string]any)
			modes[m["resource"].(map[string]any)["id"].(string)] = m["search"].(map[string]any)["mode"].(string)
		}
		if modes[did] != "match" || modes[pid] != "include" {
			t.Errorf("_include modes %v", modes)
		}
	})
	t.Run("hostile values", func(t *testing.T) {
		for _, v := range []string{`{"$where":"1"}`, `$ne`, `.*`, `^`, `\`, `[`, "a\x00b",
			strings.Repeat("x", 100_000)} {
			r := c.Do(t, "GET", "Patient?family="+url.QueryEscape(v), nil)
			if r.Status != http.StatusOK && r.Status != http.StatusBadRequest {
				t.Errorf("family=%.20q: status %d", v, r.Status)
			}
			if r.Status == http.StatusOK && len(entriesOf(r.JSON(t))) != 0 {
				t.Errorf("family=%.20q matched something", v)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// walk follows next links and returns the ids of the matches, sorted.
func walk(t *testing.T, c *Client, path string) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	for pages := 0; path != "" && pages < 100; pages++ {
		r := c.Do(t, "GET", path, nil)
		expectStatus(t, r, http.StatusOK, "search page")
		b := r.JSON(t)
		for _, e := range entriesOf(b) {
			m := e.(map[string]any)
			if m["search"].(map[string]any)["mode"] != "match" {
				continue
			}
			id := m["resource"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("%s returned twice while paging", id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
		path = link(b, "next")
	}
	sort.Strings(ids)
	return ids
}

func link(b map[string]any, rel string) string {
	links, _ := b["link"].([]any)
	for _, l := range links {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}
