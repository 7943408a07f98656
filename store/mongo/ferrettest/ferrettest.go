// Package ferrettest runs FerretDB in-process for tests, as a stand-in for
// MongoDB. FerretDB v1 scans the collection for almost every query and
// runs no multi-document transactions, so it checks correctness on small
// data only.
package ferrettest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// startTimeout bounds the wait for FerretDB's reply to its first ping.
const startTimeout = 30 * time.Second

// Start runs FerretDB with its SQLite handler on a free port of 127.0.0.1
// and stops it when the test ends. It returns the MongoDB URI to connect
// to and the folder that holds every file FerretDB writes.
func Start(tb testing.TB) (uri string, dir string) {
	tb.Helper()
	dir = tb.TempDir()

	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "ferretdb")
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		tb.Fatalf("ferrettest: start FerretDB: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ferrettest: stop FerretDB: %v", err)
		}
	})

	uri = f.MongoDBURI()
	if err := waitReady(uri); err != nil {
		tb.Fatalf("ferrettest: FerretDB at %s: %v", uri, err)
	}
	return uri, dir
}

// waitReady pings the server at uri until it replies or startTimeout
// passes.
func waitReady(uri string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	for {
		err := client.Ping(ctx, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("no reply to ping"), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
