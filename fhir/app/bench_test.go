package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/custos/custos/fhir/importer"
	"github.com/custos/custos/fhir/model"
)

var patients1000 = filepath.Join(testdata, "synthea-1000", "Patient.ndjson")

// BenchmarkImportPatients imports the 1,144 Synthea patients into a fresh
// SQLite store per iteration; compare with BenchmarkParsePatients.
func BenchmarkImportPatients(b *testing.B) {
	inputs := readInputs(b, patients1000)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := start(b, "")
		files, _, _ := importer.Files([]string{patients1000})
		b.StartTimer()
		sum, err := (&importer.Importer{Repo: s.app.Repository}).Run(context.Background(), files)
		if err != nil || sum.Created != len(inputs) {
			b.Fatalf("import: %v, %d created", err, sum.Created)
		}
	}
	b.ReportMetric(float64(len(inputs)*b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkParsePatients parses and validates the same file with
// google/fhir/go alone, on as many goroutines as the importer uses: the
// ceiling for the import.
func BenchmarkParsePatients(b *testing.B) {
	inputs := readInputs(b, patients1000)
	codec, err := model.NewCodec()
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)
	b.ReportAllocs()
	for b.Loop() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(len(inputs)); i = next.Add(1) - 1 {
					if _, err := codec.Parse(inputs[i].Raw); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(len(inputs)*b.N)/b.Elapsed().Seconds(), "resources/s")
}

func drainAndClose(resp *http.Response) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}
