package app

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/custos/custos/fhir/audit"
	"github.com/custos/custos/fhir/rest"
	"github.com/custos/custos/fhir/search"
)

// AuditOptions configure the audit trail.
type AuditOptions struct {
	// Off turns recording off; only tools that must not write (such as
	// custos audit verify) and the importer use it.
	Off bool
	// Retention is how long AuditEvents are kept; 0 means seven years.
	Retention time.Duration
	// RetentionEvery is how often the retention job runs; 0 means hourly.
	RetentionEvery time.Duration
	// Timeout bounds how long a request waits for its record to be
	// stored before the server responds 503; 0 means five seconds.
	Timeout time.Duration
}

// DefaultRetention keeps AuditEvents for seven years.
const DefaultRetention = 7 * 365 * 24 * time.Hour

// startAudit starts the recorder and the retention job.
func (a *App) startAudit(ctx context.Context) error {
	rec, err := audit.NewRecorder(ctx, a.Repository, audit.Config{
		// The base URL goes into source.site, a token, and not into the
		// server agent's network address, a string parameter: every
		// record would post some fifty prefix and trigram tokens of the
		// same URL, doubling the cost of the trail.
		Server:  audit.ServerInfo{Name: "Custos", Site: a.Options.BaseURL},
		Timeout: a.Options.Audit.Timeout,
		OnIndexError: func(err error) {
			a.Options.Logger.Warn().Err(err).Msg("audit index write failed; the sweep retries it")
		},
		OnSweep: func(n int) {
			a.Options.Logger.Info().Int("records", n).Msg("audit sweep indexed records")
		},
		OnCommit: func(h audit.ChainHead) {
			// The chain head holds no PHI; logging it keeps a copy outside
			// the store, against which a truncated chain can be detected.
			a.Options.Logger.Debug().Str("chain", h.Chain).Uint64("seq", h.Seq).
				Str("hash", h.Hash).Msg("audit chain head")
		},
	})
	if err != nil {
		return err
	}
	a.Audit = rec
	return nil
}

// runRetention removes expired AuditEvents periodically; the lease makes
// one instance at a time do it.
func (a *App) runRetention(ctx context.Context, owner string) {
	o := a.Options.Audit
	every := o.RetentionEvery
	if every <= 0 {
		every = time.Hour
	}
	maxAge := o.Retention
	if maxAge <= 0 {
		maxAge = DefaultRetention
	}
	job := audit.NewRetention(a.Repository, a.Store, a.Audit,
		audit.RetentionConfig{MaxAge: maxAge, Owner: owner})
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		res, err := job.Run(ctx)
		if err != nil && ctx.Err() == nil {
			a.Options.Logger.Error().Err(err).Msg("audit retention run failed")
		} else if err == nil {
			a.Options.Logger.Info().Interface("result", res).Msg("audit retention run")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// record is the REST layer's audit hook: it turns an exchange into an
// AuditEvent and waits until it is stored.
func (a *App) record(ctx context.Context, x *rest.Exchange) error {
	e := audit.Event{
		Interaction: x.Interaction, Method: x.Method, Status: x.Status, Reason: x.Reason,
		Time: time.Now(), RequestID: x.RequestID, BreakGlass: x.BreakGlass,
		Patients: x.Patients, Resources: x.Entities, Query: x.Query,
		User: audit.Requestor{Address: x.Address},
	}
	if e.Interaction == "" {
		e.Interaction = "unknown"
	}
	if p := x.Principal; p != nil {
		e.User.FHIRUser, e.User.Subject, e.User.Issuer = p.FHIRUser, p.Subject, p.Issuer
		e.User.TokenID, e.User.ClientID = p.TokenID, p.ClientID
		e.Purposes = p.Purposes
	}
	// The request's own context may be cancelled when the client goes;
	// the record must be stored all the same.
	return a.Audit.Record(context.WithoutCancel(ctx), e)
}

// AccessEvents returns the opened AuditEvents that name a patient, for
// $access-report.
func (a *App) AccessEvents(ctx context.Context, patientID string) ([]audit.Access, error) {
	if a.Audit != nil {
		if err := a.Audit.Flush(ctx); err != nil {
			return nil, fmt.Errorf("bring the audit index up to date: %w", err)
		}
	}
	var out []audit.Access
	cursor := ""
	for page := 0; page < 1000; page++ {
		res, err := a.Search.Search(ctx, a.Store, search.Query{Type: "AuditEvent",
			Cursor: cursor, Handling: "strict",
			Params: url.Values{"patient": {"Patient/" + patientID}, "_count": {"1000"}}})
		if err != nil {
			return nil, fmt.Errorf("search the patient's AuditEvents: %w", err)
		}
		for _, e := range res.Matches {
			acc, err := audit.ParseAccess(e.Resource)
			if err != nil {
				return nil, err
			}
			out = append(out, acc)
		}
		if res.Next == "" {
			return out, nil
		}
		cursor = res.Next
	}
	return nil, fmt.Errorf("the patient's access history is longer than the report reads")
}
