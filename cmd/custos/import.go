package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/importer"
)

func importCommand(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "import PATH...",
		Short: "Load NDJSON files and Bundle or resource JSON files, or folders of them",
		Long: "Load NDJSON files and Bundle or resource JSON files, or folders of them.\n" +
			"Resources keep their ids; a resource that equals its stored version gets no\n" +
			"new version. Bad lines are reported as file:line: reason and skipped; the\n" +
			"exit code is 2 when any failed. A server may use the same data directory\n" +
			"at the same time: the embedded store serialises the writers.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(ctxOrBackground(cmd.Context()), cfg, args)
		},
	}
}

func runImport(ctx context.Context, cfg *config, paths []string) error {
	log, err := cfg.logger()
	if err != nil {
		return err
	}
	files, size, err := importer.Files(paths)
	if err != nil {
		return err
	}
	opts := cfg.options(log)
	// The import writes through the repository, not the REST API, so no
	// AuditEvent is recorded for it; the summary line is its record.
	opts.Audit.Off = true
	a, err := app.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer a.Close()

	im := &importer.Importer{Repo: a.Repository}
	var bar *progressbar.ProgressBar
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar = progressbar.DefaultBytes(size, "importing")
		im.Progress = func(read int64) { _ = bar.Set64(read) }
	}
	im.Problems = func(p importer.Problem) {
		if bar != nil {
			_ = bar.Clear()
		}
		fmt.Fprintln(os.Stderr, p.String())
	}

	start := time.Now()
	sum, err := im.Run(ctx, files)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	elapsed := time.Since(start)
	fmt.Printf("imported %d resources from %d files in %.1fs: %d created, %d updated, "+
		"%d unchanged, %d failed\n", sum.Loaded(), sum.Files, elapsed.Seconds(),
		sum.Created, sum.Updated, sum.Unchanged, sum.Failed)
	if err != nil {
		return fmt.Errorf("import stopped: %w", err)
	}
	if sum.Failed > 0 {
		return exitError{code: 2, msg: fmt.Sprintf("%d inputs failed to load", sum.Failed)}
	}
	return nil
}
