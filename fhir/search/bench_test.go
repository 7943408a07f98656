package search

import (
	"context"
	"net/url"
	"testing"
)

func BenchmarkTokensSyntheaPatient(b *testing.B) {
	lines, err := readNDJSON(testdata + "synthea-10/Patient.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(testIndexKey, nil)
	b.SetBytes(int64(len(lines[0])))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Tokens("Patient", lines[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokensSyntheaDocumentReference(b *testing.B) {
	lines, err := readNDJSON(testdata + "synthea-10/DocumentReference.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(testIndexKey, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Tokens("DocumentReference", lines[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchFamily searches the 1,144 Synthea patients (and the 22
// official examples) by a family-name prefix that 8 patients share.
func BenchmarkSearchFamily(b *testing.B) {
	c := loadCorpus(b)
	q := Query{Type: "Patient", Params: url.Values{"family": {"considine"}}}
	b.ReportAllocs()
	for b.Loop() {
		page, err := c.engine.Search(context.Background(), c.st, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Matches) != 8 {
			b.Fatalf("%d matches", len(page.Matches))
		}
	}
}

// BenchmarkSearchGenderPage fills one page of 50 from about 570 matches.
func BenchmarkSearchGenderPage(b *testing.B) {
	c := loadCorpus(b)
	q := Query{Type: "Patient", Params: url.Values{"gender": {"female"}}}
	for b.Loop() {
		if _, err := c.engine.Search(context.Background(), c.st, q); err != nil {
			b.Fatal(err)
		}
	}
}
