package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/custos/custos/fhir/app"
)

// config holds the flags shared by every subcommand. Each flag has an
// environment variable that sets its default.
type config struct {
	addr       string
	dataDir    string
	mongoURI   string
	mongoDB    string
	kms        string
	vaultMount string
	vaultKey   string
	baseURL    string
	maxBody    int64
	logLevel   string
	proxies    []string
	auth       app.AuthOptions
	consent    app.ConsentOptions
}

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

func (c *config) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.addr, "addr", env("CUSTOS_ADDR", "127.0.0.1:8080"),
		"address to listen on, host:port (env CUSTOS_ADDR)")
	f.StringVar(&c.dataDir, "data-dir", env("CUSTOS_DATA_DIR", "./custos-data"),
		"folder for the embedded store, the local keyring and keys (env CUSTOS_DATA_DIR)")
	f.StringVar(&c.mongoURI, "mongodb-uri", env("CUSTOS_MONGODB_URI", ""),
		"MongoDB connection string; empty uses the embedded SQLite store (env CUSTOS_MONGODB_URI)")
	f.StringVar(&c.mongoDB, "mongodb-database", env("CUSTOS_MONGODB_DATABASE", "custos"),
		"MongoDB database name (env CUSTOS_MONGODB_DATABASE)")
	f.StringVar(&c.kms, "kms", env("CUSTOS_KMS", "local"),
		"key manager: local (keyring file in the data directory) or vault (env CUSTOS_KMS)")
	f.StringVar(&c.vaultMount, "vault-transit-mount", env("CUSTOS_VAULT_TRANSIT_MOUNT", "transit"),
		"mount path of Vault's Transit engine (env CUSTOS_VAULT_TRANSIT_MOUNT)")
	f.StringVar(&c.vaultKey, "vault-transit-key", env("CUSTOS_VAULT_TRANSIT_KEY", ""),
		"name of the Transit key that wraps data keys (env CUSTOS_VAULT_TRANSIT_KEY)")
	f.StringVar(&c.baseURL, "base-url", env("CUSTOS_BASE_URL", ""),
		"external FHIR base URL for links and token audience; default http://ADDR/fhir "+
			"(env CUSTOS_BASE_URL)")
	f.Int64Var(&c.maxBody, "max-body", 8<<20, "largest request body in bytes")
	f.StringVar(&c.logLevel, "log-level", env("CUSTOS_LOG_LEVEL", "info"),
		"log level: debug, info, warn or error (env CUSTOS_LOG_LEVEL)")

	f.StringSliceVar(&c.proxies, "trusted-proxies", splitList(env("CUSTOS_TRUSTED_PROXIES", "")),
		"reverse proxies (addresses or CIDRs) whose X-Forwarded-For names the client; "+
			"default none (env CUSTOS_TRUSTED_PROXIES, comma-separated)")
	f.StringVar(&c.auth.Issuer, "auth-issuer", env("CUSTOS_AUTH_ISSUER", ""),
		"iss of the trusted authorization server; empty trusts the development issuer "+
			"in the data directory (env CUSTOS_AUTH_ISSUER)")
	f.StringVar(&c.auth.JWKSURL, "auth-jwks-url", env("CUSTOS_AUTH_JWKS_URL", ""),
		"JWKS URL of the authorization server (env CUSTOS_AUTH_JWKS_URL)")
	f.StringVar(&c.auth.JWKSFile, "auth-jwks-file", env("CUSTOS_AUTH_JWKS_FILE", ""),
		"JWKS file of the authorization server, instead of a URL (env CUSTOS_AUTH_JWKS_FILE)")
	f.StringVar(&c.auth.TokenEndpoint, "auth-token-endpoint", env("CUSTOS_AUTH_TOKEN_ENDPOINT", ""),
		"token endpoint to advertise in SMART discovery (env CUSTOS_AUTH_TOKEN_ENDPOINT)")
	f.StringVar(&c.auth.AuthorizeEndpoint, "auth-authorize-endpoint",
		env("CUSTOS_AUTH_AUTHORIZE_ENDPOINT", ""),
		"authorization endpoint to advertise in SMART discovery (env CUSTOS_AUTH_AUTHORIZE_ENDPOINT)")
	f.StringVar(&c.auth.PurposeClaim, "auth-purpose-claim", env("CUSTOS_AUTH_PURPOSE_CLAIM", ""),
		"claim with the purposes of use; default purpose_of_use (env CUSTOS_AUTH_PURPOSE_CLAIM)")
	f.StringVar(&c.auth.FHIRUserClaim, "auth-fhir-user-claim", env("CUSTOS_AUTH_FHIR_USER_CLAIM", ""),
		"claim with the fhirUser reference; default fhirUser (env CUSTOS_AUTH_FHIR_USER_CLAIM)")
	f.StringVar(&c.auth.PatientClaim, "auth-patient-claim", env("CUSTOS_AUTH_PATIENT_CLAIM", ""),
		"claim with the launch patient; default patient (env CUSTOS_AUTH_PATIENT_CLAIM)")
	f.StringVar(&c.consent.Default, "consent-default", env("CUSTOS_CONSENT_DEFAULT", "opt-out"),
		"decision for patients without a Consent: opt-out permits, opt-in denies "+
			"(env CUSTOS_CONSENT_DEFAULT)")
	f.BoolVar(&c.consent.BreakGlass, "break-glass", env("CUSTOS_BREAK_GLASS", "") == "true",
		"let purpose of use ETREAT pass a consent deny, recorded as break-glass "+
			"(env CUSTOS_BREAK_GLASS=true)")
}

// base returns the FHIR base URL that the flags give.
func (c *config) base() string {
	if c.baseURL != "" {
		return strings.TrimRight(c.baseURL, "/")
	}
	return "http://" + c.addr + "/fhir"
}

func (c *config) logger() (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.logLevel)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("invalid --log-level %q: %w", c.logLevel, err)
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	return zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger(), nil
}

func (c *config) options(log zerolog.Logger) app.Options {
	return app.Options{DataDir: c.dataDir, MongoURI: c.mongoURI, MongoDatabase: c.mongoDB,
		KMS: c.kms, VaultMount: c.vaultMount, VaultKey: c.vaultKey, BaseURL: c.base(),
		MaxBody: c.maxBody, Logger: log, Auth: c.auth, Consent: c.consent,
		TrustedProxies: c.proxies}
}

// loopback reports whether addr listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// exitError carries a process exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func asExit(err error, target *exitError) bool { return errors.As(err, target) }

func splitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
