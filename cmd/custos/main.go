// Command custos is the Custos FHIR R4 server and its tools: serve runs the
// server, import loads NDJSON and Bundle files, token mints development
// tokens and audit checks the audit trail.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "custos",
		Short:         "Custos, a FHIR R4 server that seals every record",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cfg := &config{}
	cfg.register(root)
	root.AddCommand(serveCommand(cfg), importCommand(cfg), tokenCommand(cfg), auditCommand(cfg))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "custos:", err)
		var exit exitError
		if asExit(err, &exit) {
			os.Exit(exit.code)
		}
		os.Exit(1)
	}
}
