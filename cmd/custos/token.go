package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/custos/custos/fhir/auth"
)

func tokenCommand(cfg *config) *cobra.Command {
	var opts auth.MintOptions
	var purpose string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a JWT signed by the local development issuer",
		Long: "Print a JWT signed by the development issuer whose key is in the data\n" +
			"directory (created on first use). A server on the same data directory\n" +
			"trusts it when no external issuer is configured. Use it for local work\n" +
			"and tests, never in production.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(opts.Scope) == "" {
				return fmt.Errorf("--scope is required, for example --scope 'user/*.cruds'")
			}
			if opts.Audience == "" {
				opts.Audience = cfg.base()
			}
			for _, p := range strings.Split(purpose, ",") {
				if p = strings.TrimSpace(p); p != "" {
					opts.Purposes = append(opts.Purposes, p)
				}
			}
			issuer, err := auth.LoadOrCreateDevIssuer(cfg.dataDir)
			if err != nil {
				return err
			}
			token, err := issuer.Mint(opts)
			if err != nil {
				return err
			}
			fmt.Println(token)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Scope, "scope", "", "space-separated SMART scopes, e.g. \"patient/*.rs\"")
	f.StringVar(&opts.Patient, "patient", "", "patient id of the launch context")
	f.StringVar(&opts.FHIRUser, "fhir-user", "", "fhirUser reference, e.g. Practitioner/123")
	f.StringVar(&purpose, "purpose", "", "purposes of use, comma-separated HL7 v3 codes "+
		"(TREAT, ETREAT, HPAYMT, ...)")
	f.StringVar(&opts.Audience, "audience", "", "token audience; default the FHIR base URL "+
		"that --addr and --base-url give")
	f.StringVar(&opts.ClientID, "client-id", "", "client_id claim")
	f.DurationVar(&opts.TTL, "ttl", time.Hour, "token lifetime")
	return cmd
}
