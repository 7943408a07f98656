package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/audit"
)

func auditCommand(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Check and report on the audit trail"}
	cmd.AddCommand(auditVerifyCommand(cfg), auditReportCommand(cfg))
	return cmd
}

// openQuiet opens the app without starting an audit chain of its own.
func openQuiet(ctx context.Context, cfg *config) (*app.App, error) {
	log, err := cfg.logger()
	if err != nil {
		return nil, err
	}
	opts := cfg.options(log)
	opts.Audit.Off = true
	return app.Open(ctx, opts)
}

func auditVerifyCommand(cfg *config) *cobra.Command {
	var heads []string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that no AuditEvent was altered, inserted or removed",
		Long: "Walk every audit chain in order and report each AuditEvent that was altered,\n" +
			"inserted or removed, by id. A chain head logged by the server\n" +
			"(CHAIN:SEQ:HASH, from its debug log) also catches a cut-off chain end.\n" +
			"The exit code is 1 when anything is wrong.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := ctxOrBackground(cmd.Context())
			var known []audit.ChainHead
			for _, h := range heads {
				head, err := parseHead(h)
				if err != nil {
					return err
				}
				known = append(known, head)
			}
			a, err := openQuiet(ctx, cfg)
			if err != nil {
				return err
			}
			defer a.Close()
			report, err := audit.Verify(ctx, a.Repository, a.Store, known...)
			if err != nil {
				return err
			}
			for _, f := range report.Findings {
				fmt.Printf("%s AuditEvent/%s (chain %s, seq %d): %s\n", f.Kind, f.ID, f.Chain,
					f.Seq, f.Reason)
			}
			if !report.OK() {
				return exitError{code: 1, msg: fmt.Sprintf("the audit trail failed verification: "+
					"%d findings", len(report.Findings))}
			}
			fmt.Printf("audit trail verified: %d records in %d chains\n", report.Records,
				len(report.Chains))
			if n := len(report.Unchained); n > 0 {
				fmt.Printf("%d AuditEvents are outside any chain: submitted by clients or "+
					"imported, not recorded by this server\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&heads, "head", nil, "a known chain head CHAIN:SEQ:HASH (repeatable)")
	return cmd
}

func parseHead(v string) (audit.ChainHead, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return audit.ChainHead{}, fmt.Errorf("--head %q is not CHAIN:SEQ:HASH", v)
	}
	seq, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return audit.ChainHead{}, fmt.Errorf("--head %q: invalid sequence number", v)
	}
	return audit.ChainHead{Chain: parts[0], Seq: seq, Hash: parts[2]}, nil
}

func auditReportCommand(cfg *config) *cobra.Command {
	var from, to, hours, zone string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report --from DATE --to DATE",
		Short: "Summarise accesses: by interaction, purpose, users, patients, anomalies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := ctxOrBackground(cmd.Context())
			start, err := parseDate(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			end, err := parseDate(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if !start.Before(end) {
				return fmt.Errorf("--from must be before --to")
			}
			opts := app.ReportOptions{}
			if hours != "" {
				wh, err := parseHours(hours, zone)
				if err != nil {
					return err
				}
				opts.Hours = wh
			}
			a, err := openQuiet(ctx, cfg)
			if err != nil {
				return err
			}
			defer a.Close()
			sum, err := a.Report(ctx, start, end, opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			}
			printSummary(sum)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "start, a date (2026-01-31) or an instant (required)")
	f.StringVar(&to, "to", "", "end, exclusive, a date or an instant (required)")
	f.StringVar(&hours, "working-hours", "", "flag accesses outside these hours, e.g. 07:00-19:00")
	f.StringVar(&zone, "time-zone", "UTC", "time zone of the working hours, e.g. Europe/Oslo")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func parseDate(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-01-31) or an instant", v)
}

func parseHours(v, zone string) (*audit.WorkingHours, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("--time-zone %q: %w", zone, err)
	}
	start, end, ok := strings.Cut(v, "-")
	s, err1 := time.Parse("15:04", start)
	e, err2 := time.Parse("15:04", end)
	if !ok || err1 != nil || err2 != nil || !s.Before(e) {
		return nil, fmt.Errorf("--working-hours %q is not HH:MM-HH:MM", v)
	}
	day := func(t time.Time) time.Duration {
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	return &audit.WorkingHours{Location: loc, Start: day(s), End: day(e)}, nil
}

func printSummary(s audit.Summary) {
	fmt.Printf("accesses from %s to %s: %d\n", s.From.Format(time.RFC3339),
		s.To.Format(time.RFC3339), s.Accesses)
	fmt.Printf("unique users: %d, unique patients: %d, break-glass: %d\n", s.UniqueUsers,
		s.UniquePatients, s.BreakGlass)
	printCounts("by interaction", s.ByInteraction)
	printCounts("by purpose", s.ByPurpose)
	printCounts("by outcome", s.ByOutcome)
	for _, f := range s.Flags {
		fmt.Printf("flag %s: user %s, %d (%s)\n", f.Kind, f.User, f.Count, f.Detail)
	}
}

func printCounts(title string, counts map[string]int) {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println(title + ":")
	for _, k := range keys {
		fmt.Printf("  %-40s %d\n", k, counts[k])
	}
}
