package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// loadedServer is shared by the read benchmarks: the 1,144 patients in
// SQLite behind HTTP on loopback.
func loadedServer(b *testing.B) (*server, []input) {
	s := start(b, "")
	s.importFiles(b, patients1000)
	return s, readInputs(b, patients1000)
}

// BenchmarkReadHTTP reads patients by id over loopback HTTP with 16
// concurrent clients and reports p50 and p99 latency.
func BenchmarkReadHTTP(b *testing.B) {
	s, inputs := loadedServer(b)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: transport}
	var mu sync.Mutex
	var latencies []time.Duration
	var n atomic.Int64
	b.SetParallelism(16 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			in := inputs[int(n.Add(1))%len(inputs)]
			t0 := time.Now()
			resp, err := client.Get(s.client.Base + "/Patient/" + in.ID)
			if err != nil {
				b.Error(err)
				return
			}
			drainAndClose(resp)
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatency(b, latencies)
}

// BenchmarkReadStore reads the same rows from the store directly, with
// the same concurrency: the ceiling for BenchmarkReadHTTP.
func BenchmarkReadStore(b *testing.B) {
	s, inputs := loadedServer(b)
	var n atomic.Int64
	b.SetParallelism(16 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in := inputs[int(n.Add(1))%len(inputs)]
			if _, err := s.app.Store.Current(context.Background(), "Patient", in.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func reportLatency(b *testing.B, latencies []time.Duration) {
	if len(latencies) == 0 {
		return
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
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
