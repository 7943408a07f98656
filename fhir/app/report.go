package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/custos/custos/fhir/audit"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/rest"
	"github.com/custos/custos/store"
)

// AuditEvents returns the REST accesses recorded in [from, to), opened.
func (a *App) AuditEvents(ctx context.Context, from, to time.Time) ([]audit.Access, error) {
	var out []audit.Access
	f := store.HistoryFilter{Type: "AuditEvent", Since: from, Limit: 1000}
	for {
		page, err := a.Repository.History(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.Deleted || !e.LastUpdated.Before(to.Add(time.Second)) {
				continue
			}
			acc, err := audit.ParseAccess(e.Body)
			if err != nil {
				return nil, err
			}
			if !acc.Recorded.Before(from) && acc.Recorded.Before(to) {
				out = append(out, acc)
			}
		}
		if len(page) < f.Limit {
			return out, nil
		}
		last := page[len(page)-1]
		f.Before = &store.Position{LastUpdated: last.LastUpdated, Type: last.Type,
			ID: last.ID, VersionID: last.VersionID}
	}
}

// ReportOptions configure an access report.
type ReportOptions = audit.SummaryOptions

// Report summarises the accesses in [from, to).
func (a *App) Report(ctx context.Context, from, to time.Time, opts ReportOptions) (
	audit.Summary, error) {
	events, err := a.AuditEvents(ctx, from, to)
	if err != nil {
		return audit.Summary{}, err
	}
	return audit.Summarize(events, from, to, opts), nil
}

// reportOperation serves AuditEvent/$report?from=...&to=...: the content
// of custos audit report as JSON, for auditors.
func (a *App) reportOperation(c *gin.Context, _, _ string) {
	p, _ := auth.FromContext(c)
	if _, scoped := p.PatientScoped("AuditEvent"); scoped ||
		!p.AllowsExplicitly(auth.Read|auth.Search, "AuditEvent") {
		a.REST.Fail(c, outcome.New(http.StatusForbidden, "forbidden",
			"$report needs read and search scopes on AuditEvent without a patient context"))
		return
	}
	from, err1 := parseDay(c.Query("from"))
	to, err2 := parseDay(c.Query("to"))
	if err1 != nil || err2 != nil || !from.Before(to) {
		a.REST.Fail(c, outcome.New(http.StatusBadRequest, "value",
			"$report needs from and to as dates or instants, from before to"))
		return
	}
	sum, err := a.Report(c, from, to, ReportOptions{})
	if err != nil {
		a.REST.Fail(c, err)
		return
	}
	rest.ExchangeOf(c).Query = "AuditEvent/$report?" + c.Request.URL.RawQuery
	body, err := json.Marshal(sum)
	if err != nil {
		a.REST.Fail(c, err)
		return
	}
	c.Header("Content-Type", "application/json")
	a.REST.SendJSON(c, http.StatusOK, body)
}

func parseDay(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date: %q", v)
}
