// Package app assembles a Custos server from its parts: the store (SQLite
// or MongoDB), the key manager, the sealer, the repository and the REST
// API. The command and the end-to-end tests both build servers with it.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/custos/custos/capability"
	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/fhir/rest"
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
	REST       *rest.Server
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
	a.REST = rest.New(rest.Config{
		BaseURL: opts.BaseURL, MaxBody: opts.MaxBody, Version: Version,
		Logger: opts.Logger, Ready: func() error { return a.Store.Ping(context.Background()) },
		Capability: a.capability,
	}, a.Repository)
	return a, nil
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
	st := capability.Statement{Software: "Custos", Version: Version,
		BaseURL: a.Options.BaseURL, System: []string{"history-system"}}
	for _, typ := range model.Types {
		interactions := []string{"read", "vread", "create", "update", "delete",
			"history-instance", "history-type"}
		if typ == "AuditEvent" {
			interactions = []string{"read", "vread", "create", "history-instance",
				"history-type"}
		}
		st.Resources = append(st.Resources, capability.Resource{Type: typ,
			Interactions: interactions})
	}
	return st.JSON()
}

// Close releases the store.
func (a *App) Close() error {
	if a.Store == nil {
		return nil
	}
	err := a.Store.Close()
	if errors.Is(err, store.ErrUnavailable) {
		return nil
	}
	return err
}
