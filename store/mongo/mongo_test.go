package mongo

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/custos/custos/store"
	"github.com/custos/custos/store/mongo/ferrettest"
	"github.com/custos/custos/store/storetest"
)

// uriEnv names a real MongoDB deployment to run the contract suite
// against as well. A replica set also runs the atomic Put check.
const uriEnv = "CUSTOS_TEST_MONGODB_URI"

var databaseCounter atomic.Int64

// opener returns a function that opens a store on a new database of the
// deployment at uri and drops that database when the test ends.
func opener(uri string) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store { return openNew(t, uri) }
}

func openNew(tb testing.TB, uri string) *Store {
	tb.Helper()
	name := fmt.Sprintf("custos_test_%d_%d", os.Getpid(), databaseCounter.Add(1))
	s, err := Open(context.Background(), uri, name)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = s.client.Database(name).Drop(context.Background())
		s.Close()
	})
	return s
}

func TestContractFerretDB(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	storetest.Run(t, opener(uri), storetest.WithoutAtomicPut())
}

func TestContractMongoDB(t *testing.T) {
	uri := os.Getenv(uriEnv)
	if uri == "" {
		t.Skipf("skipped: set %s to a MongoDB URI to run the suite against it", uriEnv)
	}
	s := openNew(t, uri)
	var opts []storetest.Option
	if !s.Transactions() {
		t.Logf("%s is not a replica set or sharded cluster: atomic Put is not checked", uriEnv)
		opts = append(opts, storetest.WithoutAtomicPut())
	}
	storetest.Run(t, opener(uri), opts...)
}

func TestFerretDBHasNoTransactions(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	s := openNew(t, uri)
	assert.False(t, s.Transactions(), "FerretDB v1 runs no transactions")
}

func TestPutRejectsSlash(t *testing.T) {
	uri, _ := ferrettest.Start(t)
	s := openNew(t, uri)
	for _, v := range []store.Version{
		{Type: "Patient", ID: "a/b", VersionID: 1},
		{Type: "Pa/tient", ID: "a", VersionID: 1},
		{Type: "", ID: "a", VersionID: 1},
	} {
		err := s.Put(context.Background(), store.Write{Version: v})
		assert.Error(t, err, "%q/%q", v.Type, v.ID)
		assert.NotErrorIs(t, err, store.ErrConflict, "%q/%q", v.Type, v.ID)
	}
}

// benchResources is the number of resources seeded for the read
// benchmarks. FerretDB v1 scans the collection for every query, so it is
// far smaller than the SQLite benchmarks' figure.
const benchResources = 200

func benchStore(b *testing.B) *Store {
	uri := os.Getenv(uriEnv)
	if uri == "" {
		uri, _ = ferrettest.Start(b)
	}
	return openNew(b, uri)
}

func BenchmarkPut(b *testing.B) {
	storetest.BenchmarkPut(b, benchStore(b))
}

func BenchmarkCurrent(b *testing.B) {
	s := benchStore(b)
	storetest.Seed(b, s, benchResources)
	storetest.BenchmarkCurrent(b, s, benchResources)
}

func BenchmarkMatchUnique(b *testing.B) {
	s := benchStore(b)
	storetest.Seed(b, s, benchResources)
	storetest.BenchmarkMatchUnique(b, s, benchResources)
}

func BenchmarkMatchPage(b *testing.B) {
	s := benchStore(b)
	storetest.Seed(b, s, benchResources)
	storetest.BenchmarkMatchPage(b, s, benchResources)
}
