package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkRecord stores read events through one Recorder into a SQLite
// file, from 1, 16 and 64 goroutines at once. It reports events per
// second, events per store write and the bytes each event adds, both its
// sealed body and its share of the database file with indexes.
func BenchmarkRecord(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			tr := openTrail(b)
			commits := 0
			rec := tr.recorder(b, Config{OnCommit: func(ChainHead) { commits++ }})
			db := tr.sqlDB(b)
			var before int64
			if err := db.QueryRow(`SELECT page_count * page_size FROM pragma_page_count(),
				pragma_page_size()`).Scan(&before); err != nil {
				b.Fatal(err)
			}

			b.ResetTimer()
			began := time.Now()
			var wg sync.WaitGroup
			for c := 0; c < callers; c++ {
				n := b.N / callers
				if c < b.N%callers {
					n++
				}
				wg.Add(1)
				go func(c, n int) {
					defer wg.Done()
					for i := 0; i < n; i++ {
						if err := rec.Record(context.Background(), readEvent(c*n+i)); err != nil {
							b.Error(err)
							return
						}
					}
				}(c, n)
			}
			wg.Wait()
			elapsed := time.Since(began)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")

			if err := rec.Close(); err != nil {
				b.Fatal(err)
			}
			var count, bodyBytes, after int64
			if err := db.QueryRow(`SELECT count(*), sum(length(body)) FROM versions
				WHERE type = 'AuditEvent'`).Scan(&count, &bodyBytes); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				b.Fatal(err)
			}
			if err := db.QueryRow(`SELECT page_count * page_size FROM pragma_page_count(),
				pragma_page_size()`).Scan(&after); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(count)/float64(commits), "events/commit")
			b.ReportMetric(float64(bodyBytes)/float64(count), "body-B/event")
			b.ReportMetric(float64(after-before)/float64(count), "file-B/event")
		})
	}
}

// BenchmarkBuild encodes one read event, the committer's work per event.
func BenchmarkBuild(b *testing.B) {
	e := readEvent(1)
	link := testLink(1, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		link.Seq = uint64(i + 1)
		Build(e, testServer, link)
	}
}
