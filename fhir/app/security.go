package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/consent"
	"github.com/custos/custos/fhir/search"
	"github.com/custos/custos/store"
)

// AuthOptions configure token validation.
type AuthOptions struct {
	// Issuer is the iss of an external authorization server; empty trusts
	// the development issuer in the data directory instead.
	Issuer   string
	JWKSURL  string
	JWKSFile string
	// Claim names; empty takes the SMART defaults.
	PurposeClaim  string
	FHIRUserClaim string
	PatientClaim  string
	// TokenEndpoint and AuthorizeEndpoint of the external issuer, for
	// discovery.
	TokenEndpoint     string
	AuthorizeEndpoint string
}

// ConsentOptions configure consent decisions.
type ConsentOptions struct {
	// Default is "opt-out" (permit without a Consent, the default) or
	// "opt-in" (deny without a Consent).
	Default string
	// BreakGlass lets a purpose of use of ETREAT pass a consent deny; each
	// such access is recorded as break-glass.
	BreakGlass bool
	// CacheTTL bounds how long a patient's Consents are used before they
	// are read again. Changes made on this instance apply at once, and
	// changes made on other instances within ConsentPoll.
	CacheTTL    time.Duration
	ConsentPoll time.Duration
}

func (a *App) openVerifier() error {
	o := a.Options.Auth
	var issuer auth.Issuer
	if o.Issuer == "" {
		dev, err := auth.LoadOrCreateDevIssuer(a.Options.DataDir)
		if err != nil {
			return err
		}
		a.DevIssuer = dev
		issuer = dev.Issuer()
	} else {
		issuer = auth.Issuer{URL: o.Issuer, JWKSURL: o.JWKSURL, JWKSFile: o.JWKSFile,
			Endpoints: auth.Endpoints{Token: o.TokenEndpoint, Authorization: o.AuthorizeEndpoint}}
	}
	issuer.Claims = auth.ClaimNames{PurposeOfUse: o.PurposeClaim, FHIRUser: o.FHIRUserClaim,
		Patient: o.PatientClaim}
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.Issuer{issuer},
		Audience: a.Options.BaseURL})
	if err != nil {
		return err
	}
	a.Verifier, a.issuer = v, issuer
	return nil
}

func (a *App) openGuard() error {
	o := a.Options.Consent
	policy := consent.Policy{Default: consent.OptOut, BreakGlass: o.BreakGlass}
	switch o.Default {
	case "", "opt-out":
	case "opt-in":
		policy.Default = consent.OptIn
	default:
		return fmt.Errorf("unknown consent default %q: use opt-in or opt-out", o.Default)
	}
	ttl := o.CacheTTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	cache, err := consent.NewCache(consent.CacheConfig{Load: a.loadConsents, TTL: ttl})
	if err != nil {
		return err
	}
	a.Consents = cache
	a.Guard = access.New(cache, policy)
	return nil
}

// loadConsents reads every current Consent of a patient. The stamp lists
// their ids and versions, so equal stamps mean equal Consents.
func (a *App) loadConsents(ctx context.Context, patientID string) ([]map[string]any,
	string, error) {
	var out []map[string]any
	var stamp strings.Builder
	cursor := ""
	for page := 0; page < 100; page++ {
		q := search.Query{Type: "Consent", Cursor: cursor, Handling: "strict",
			Params: url.Values{"patient": {"Patient/" + patientID}, "_count": {"200"}}}
		res, err := a.Search.Search(ctx, a.Store, q)
		if err != nil {
			return nil, "", fmt.Errorf("search the patient's Consents: %w", err)
		}
		for _, e := range res.Matches {
			m, err := decodeJSON(e.Resource)
			if err != nil {
				return nil, "", err
			}
			out = append(out, m)
			meta, _ := m["meta"].(map[string]any)
			fmt.Fprintf(&stamp, "%s@%v;", e.ID, meta["versionId"])
		}
		if res.Next == "" {
			return out, stamp.String(), nil
		}
		cursor = res.Next
	}
	return nil, "", errors.New("the patient has more Consents than the server reads")
}

// watchConsents invalidates cached Consents of patients whose Consents
// changed, by polling the Consent history, so that writes through other
// instances take effect within the poll interval.
func (a *App) watchConsents(ctx context.Context, every time.Duration) {
	since := time.Now().Add(-every)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		// Overlap the windows a little: clocks of instances differ.
		from := since.Add(-every)
		since = time.Now()
		versions, err := a.Store.History(ctx, store.HistoryFilter{Type: "Consent", Since: from,
			Limit: 10000})
		if err != nil {
			a.Options.Logger.Warn().Err(err).Msg("consent change poll failed")
			continue
		}
		for _, v := range versions {
			if p := compartmentOf(v.KeyID); p != "" {
				a.Consents.Invalidate(p)
			}
		}
	}
}
