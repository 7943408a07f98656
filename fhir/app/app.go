// Package app assembles a Custos server from its parts: the store (SQLite
// or MongoDB), the key manager, the sealer, the repository and the REST
// API. The command and the end-to-end tests both build servers with it.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/custos/custos/capability"
	"github.com/custos/custos/fhir/access"
	"github.com/custos/custos/fhir/audit"
	"github.com/custos/custos/fhir/auth"
	"github.com/custos/custos/fhir/consent"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/fhir/rest"
	"github.com/custos/custos/fhir/search"
	"github.com/custos/custos/store"
	"github.com/custos/custos/store/kms"
	"github.com/custos/custos/store/mongo"
	"github.com/custos/custos/store/seal"
	"github.com/custos/custos/store/sqlite"
)

// Version is the software version reported in logs and the
// CapabilityStatement.
var Version = "0.1.0"

// SQLiteFile is the name of the embedded store in the data directory.
const SQLiteFile = "custos.db"

// Options configure an App.
type Options struct {
	DataDir       string
	MongoURI      string // empty: the embedded SQLite store
	MongoDatabase string // default "custos"
	KMS           string // "local" (default) or "vault"
	VaultMount    string // default "transit"
	VaultKey      string
	BaseURL       string
	MaxBody       int64
	Logger        zerolog.Logger
	Auth          AuthOptions
	Consent       ConsentOptions
	Audit         AuditOptions
	// TrustedProxies are reverse proxies whose X-Forwarded-For is
	// believed; see rest.Config.
	TrustedProxies []string
}

// App is an assembled server.
type App struct {
	Options    Options
	Store      store.Store
	StoreName  string
	Keys       kms.KeyManager
	Sealer     *seal.Sealer
	Codec      *model.Codec
	Repository *repository.Repository
	Search     *search.Engine
	REST       *rest.Server
	Verifier   *auth.Verifier
	DevIssuer  *auth.DevIssuer // nil when an external issuer is configured
	Guard      *access.Guard
	Consents   *consent.Cache
	Audit      *audit.Recorder // nil when Options.Audit.Off

	issuer auth.Issuer
	stop   context.CancelFunc

	// The CapabilityStatement depends only on what is registered, so it
	// is built on the first request and then reused.
	capabilityOnce sync.Once
	capabilityJSON []byte
}

// Open assembles an App. Close releases it.
func Open(ctx context.Context, opts Options) (*App, error) {
	if opts.DataDir == "" {
		opts.DataDir = "custos-data"
	}
	if opts.MongoDatabase == "" {
		opts.MongoDatabase = "custos"
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", opts.DataDir, err)
	}
	a := &App{Options: opts}

	keys, err := openKMS(opts)
	if err != nil {
		return nil, err
	}
	a.Keys = keys

	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	a.Sealer = seal.New(a.Keys, a.Store)
	if a.Codec, err = model.NewCodec(); err != nil {
		a.Close()
		return nil, err
	}
	a.Repository, err = repository.New(ctx, a.Codec, a.Store, a.Sealer, nil)
	if err != nil {
		a.Close()
		return nil, err
	}
	indexKey, err := a.Sealer.RawKey(ctx, seal.IndexKeyID)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Search = search.NewEngine(indexKey, a.Repository)
	a.Repository.SetIndexer(a.Search)

	if err := a.openVerifier(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.openGuard(); err != nil {
		a.Close()
		return nil, err
	}
	a.Repository.OnWrite(func(typ, _ string, compartments ...string) {
		if typ == "Consent" {
			for _, p := range compartments {
				a.Consents.Invalidate(p)
			}
		}
	})
	background, stop := context.WithCancel(context.Background())
	a.stop = stop
	poll := opts.Consent.ConsentPoll
	if poll <= 0 {
		poll = time.Second
	}
	go a.watchConsents(background, poll)

	var record rest.AuditFunc
	if !opts.Audit.Off {
		if err := a.startAudit(ctx); err != nil {
			a.Close()
			return nil, err
		}
		record = a.record
		go a.runRetention(background, a.Audit.Chain())
	}

	a.REST = rest.New(rest.Config{
		BaseURL: opts.BaseURL, MaxBody: opts.MaxBody, Version: Version,
		Logger: opts.Logger, Ready: func() error { return a.Store.Ping(context.Background()) },
		Capability: a.capability, Verifier: a.Verifier, Guard: a.Guard,
		SmartConfiguration: a.smartConfiguration, Search: a.Search, Audit: record,
		BeforeSearch: a.beforeSearch, TrustedProxies: opts.TrustedProxies,
	}, a.Repository)
	a.REST.RegisterOperation("Patient", "$access-report", a.accessReport)
	a.REST.RegisterOperation("Patient", "$consent-decision", a.consentDecision)
	a.REST.RegisterTypeOperation("AuditEvent", "$report", a.reportOperation)
	return a, nil
}

func (a *App) smartConfiguration() []byte {
	body, _ := json.Marshal(auth.SmartConfiguration(a.issuer))
	return body
}

// Token mints a development token for tests and local use; it fails when
// an external issuer is configured.
func (a *App) Token(opts auth.MintOptions) (string, error) {
	if a.DevIssuer == nil {
		return "", errors.New("no development issuer: an external issuer is configured")
	}
	if opts.Audience == "" {
		opts.Audience = a.Options.BaseURL
	}
	return a.DevIssuer.Mint(opts)
}

// beforeSearch brings the audit index up to date before an AuditEvent
// search, so that an auditor's search returns every access recorded before it.
func (a *App) beforeSearch(ctx context.Context, typ string) error {
	if typ != "AuditEvent" || a.Audit == nil {
		return nil
	}
	return a.Audit.Flush(ctx)
}

func compartmentOf(keyID string) string { return repository.CompartmentOf(keyID) }

func decodeJSON(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode stored resource: %w", err)
	}
	return m, nil
}

func openKMS(opts Options) (kms.KeyManager, error) {
	switch opts.KMS {
	case "", "local":
		return kms.OpenLocal(opts.DataDir)
	case "vault":
		mount := opts.VaultMount
		if mount == "" {
			mount = "transit"
		}
		return kms.OpenVault(mount, opts.VaultKey)
	}
	return nil, fmt.Errorf("unknown key manager %q: use local or vault", opts.KMS)
}

func (a *App) openStore(ctx context.Context) error {
	if a.Options.MongoURI != "" {
		st, err := mongo.Open(ctx, a.Options.MongoURI, a.Options.MongoDatabase)
		if err != nil {
			return fmt.Errorf("open MongoDB store: %w", err)
		}
		a.Store, a.StoreName = st, "mongodb"
		return nil
	}
	path := filepath.Join(a.Options.DataDir, SQLiteFile)
	st, err := sqlite.Open(path)
	if err != nil {
		return fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	a.Store, a.StoreName = st, "sqlite:"+path
	return nil
}

// capability generates the CapabilityStatement from what is registered.
func (a *App) capability() []byte {
	a.capabilityOnce.Do(func() { a.capabilityJSON = a.buildCapability() })
	return a.capabilityJSON
}

func (a *App) buildCapability() []byte {
	st := capability.Statement{Software: "Custos", Version: Version,
		BaseURL: a.Options.BaseURL, System: []string{"history-system"},
		Security: auth.SecurityComponent(a.issuer)}
	for _, typ := range model.Types {
		interactions := []string{"read", "vread", "create", "update", "delete",
			"history-instance", "history-type"}
		if typ == "AuditEvent" {
			interactions = []string{"read", "vread", "create", "history-instance",
				"history-type"}
		}
		interactions = append(interactions, "search-type")
		res := capability.Resource{Type: typ, Interactions: interactions}
		for _, p := range a.Search.Params(typ) {
			res.SearchParams = append(res.SearchParams, capability.SearchParam{
				Name: p.Code, Type: p.Type, Definition: p.URL})
			if p.Type == "reference" {
				res.Includes = append(res.Includes, typ+":"+p.Code)
			}
		}
		for _, other := range model.Types {
			for _, p := range a.Search.Params(other) {
				if p.Type == "reference" && (len(p.Targets) == 0 || slices.Contains(p.Targets, typ)) {
					res.RevIncludes = append(res.RevIncludes, other+":"+p.Code)
				}
			}
		}
		if typ == "Patient" {
			res.Operations = []capability.Operation{{Name: "everything",
				Definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}
		}
		st.Resources = append(st.Resources, res)
	}
	return st.JSON()
}

// Close stops background work and releases the store.
func (a *App) Close() error {
	if a.stop != nil {
		a.stop()
	}
	if a.Audit != nil {
		if err := a.Audit.Close(); err != nil {
			a.Options.Logger.Error().Err(err).Msg("closing the audit trail failed")
		}
		a.Audit = nil
	}
	if a.Store == nil {
		return nil
	}
	err := a.Store.Close()
	if errors.Is(err, store.ErrUnavailable) {
		return nil
	}
	return err
}
