package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/custos/custos/fhir/app"
)

// shutdownGrace is how long in-flight requests may run after a signal.
const shutdownGrace = 30 * time.Second

func serveCommand(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the FHIR server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cfg)
		},
	}
}

func serve(ctx context.Context, cfg *config) error {
	log, err := cfg.logger()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctxOrBackground(ctx), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := app.Open(ctx, cfg.options(log))
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{Handler: a.REST, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute}
	issuer := "external"
	if a.DevIssuer != nil {
		issuer = "development issuer in the data directory (custos token)"
		if !loopback(cfg.addr) {
			log.Warn().Msg("listening beyond loopback with the development issuer: " +
				"anyone with access to the data directory can mint tokens")
		}
	}
	log.Info().Str("version", app.Version).Str("store", a.StoreName).
		Str("kms", a.Keys.Name()).Str("addr", ln.Addr().String()).
		Str("base_url", cfg.base()).Str("token_issuer", issuer).
		Str("consent_default", a.Guard.Policy().Default.String()).
		Bool("break_glass", a.Guard.Policy().BreakGlass).Msg("custos serving")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	log.Info().Msg("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error().Err(err).Msg("shutdown did not finish in time")
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error().Err(err).Msg("server stopped with an error")
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	log.Info().Msg("custos stopped")
	return nil
}

func ctxOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
