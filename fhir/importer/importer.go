// Package importer loads NDJSON files and Bundle or resource JSON files
// into the repository: resources keep their ids, unchanged resources get
// no new version, and a bad line is reported and skipped while the rest
// load.
package importer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/custos/custos/fhir/model"
	"github.com/custos/custos/fhir/outcome"
	"github.com/custos/custos/fhir/repository"
)

// MaxLine is the longest NDJSON line or JSON file read, in bytes.
const MaxLine = 64 << 20

// batchSize is how many resources go to the store in one write.
const batchSize = 256

// Problem is an input that failed to load.
type Problem struct {
	File   string
	Line   int // 1-based line of an NDJSON file, or entry number of a Bundle
	Reason string
}

// String formats the problem as file:line: reason.
func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason) }

// Summary counts what an import did.
type Summary struct {
	Files     int
	Created   int
	Updated   int
	Unchanged int
	Failed    int
}

// Loaded returns the number of resources read without error.
func (s Summary) Loaded() int { return s.Created + s.Updated + s.Unchanged }

// Importer loads files into a repository.
type Importer struct {
	Repo *repository.Repository
	// Progress, when set, is called with the number of input bytes read so
	// far after each batch.
	Progress func(read int64)
	// Problems, when set, receives each problem as it happens.
	Problems func(Problem)
	// Workers is how many goroutines parse; 0 means GOMAXPROCS.
	Workers int
}

// Files expands paths (files or folders) into the .ndjson and .json files
// they name, in lexical order, and returns their total size.
func Files(paths []string) ([]string, int64, error) {
	var files []string
	var size int64
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, 0, err
		}
		if !info.IsDir() {
			files = append(files, p)
			size += info.Size()
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if !d.IsDir() && (ext == ".ndjson" || ext == ".json") {
				found = append(found, path)
				if fi, err := d.Info(); err == nil {
					size += fi.Size()
				}
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, size, nil
}

// item is one input resource on its way to the store.
type item struct {
	file string
	line int
	raw  []byte
	res  *model.Resource
	err  error
}

// Run imports the files. It returns an error only when the store fails;
// bad input is counted in the summary and reported through Problems.
func (im *Importer) Run(ctx context.Context, files []string) (Summary, error) {
	var sum Summary
	var read int64
	for _, f := range files {
		n, err := im.file(ctx, f, read, &sum)
		read += n
		if im.Progress != nil {
			im.Progress(read)
		}
		if err != nil {
			return sum, err
		}
		sum.Files++
	}
	return sum, nil
}

func (im *Importer) file(ctx context.Context, path string, base int64, sum *Summary) (
	int64, error) {
	f, err := os.Open(path)
	if err != nil {
		im.problem(sum, Problem{File: path, Line: 0, Reason: err.Error()})
		return 0, nil
	}
	defer f.Close()

	items := make(chan *item, 1024)
	var readErr error
	var read atomic.Int64
	go func() {
		defer close(items)
		var n int64
		if strings.EqualFold(filepath.Ext(path), ".ndjson") {
			n, readErr = readNDJSON(f, path, items, &read)
		} else {
			n, readErr = readJSON(f, path, items)
		}
		read.Store(n)
	}()

	parsed := im.parse(items)
	batch := make([]*item, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := im.store(ctx, batch, sum); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}

	// Results arrive in input order, so problems are reported in order.
	for it := range parsed {
		if it.err != nil {
			im.problem(sum, Problem{File: it.file, Line: it.line, Reason: reason(it.err)})
			continue
		}
		batch = append(batch, it)
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				drain(parsed)
				return read.Load(), err
			}
			if im.Progress != nil {
				im.Progress(base + read.Load())
			}
		}
	}
	if err := flush(); err != nil {
		return read.Load(), err
	}
	// parsed is closed only after the reader finished, so readErr is set.
	if readErr != nil {
		im.problem(sum, Problem{File: path, Line: 0, Reason: readErr.Error()})
	}
	return read.Load(), nil
}

// parse parses items on several goroutines and returns them in order.
func (im *Importer) parse(in <-chan *item) <-chan *item {
	workers := im.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Each item travels with a channel of its own, so that the output keeps
	// the input's order while parsing runs in parallel.
	type slot struct {
		it   *item
		done chan struct{}
	}
	slots := make(chan slot, 4*workers)
	work := make(chan slot, 4*workers)
	go func() {
		defer close(slots)
		defer close(work)
		for it := range in {
			s := slot{it: it, done: make(chan struct{})}
			work <- s
			slots <- s
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if s.it.err == nil {
					s.it.res, s.it.err = im.parseOne(s.it.raw)
					s.it.raw = nil
				}
				close(s.done)
			}
		}()
	}
	out := make(chan *item, 4*workers)
	go func() {
		defer close(out)
		for s := range slots {
			<-s.done
			out <- s.it
		}
		wg.Wait()
	}()
	return out
}

func (im *Importer) parseOne(raw []byte) (*model.Resource, error) {
	res, err := im.Repo.Codec().Parse(raw)
	if err != nil {
		return nil, err
	}
	if !model.Served(res.Type) {
		return nil, fmt.Errorf("resource type %s is not served; served types are %s",
			res.Type, strings.Join(model.Types, ", "))
	}
	if id := res.ID(); id != "" && !model.ValidID(id) {
		return nil, fmt.Errorf("id is not a valid resource id")
	}
	return res, nil
}

func (im *Importer) store(ctx context.Context, batch []*item, sum *Summary) error {
	resources := make([]*model.Resource, len(batch))
	for i, it := range batch {
		resources[i] = it.res
	}
	res, err := im.Repo.Import(ctx, resources)
	if err != nil {
		return err
	}
	sum.Created += res.Created
	sum.Updated += res.Updated
	sum.Unchanged += res.Unchanged
	return nil
}

func (im *Importer) problem(sum *Summary, p Problem) {
	sum.Failed++
	if im.Problems != nil {
		im.Problems(p)
	}
}

// reason formats a parse failure in one line.
func reason(err error) string {
	if e, ok := err.(*outcome.Error); ok {
		parts := make([]string, 0, len(e.Issues))
		for _, is := range e.Issues {
			parts = append(parts, is.Diagnostics)
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

func drain(c <-chan *item) {
	for range c {
	}
}

func readNDJSON(r io.Reader, path string, out chan<- *item, progress *atomic.Int64) (
	int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var read int64
	for line := 1; ; line++ {
		raw, err := readLine(br)
		read += int64(len(raw)) + 1
		progress.Store(read)
		if len(bytes.TrimSpace(raw)) > 0 {
			it := &item{file: path, line: line, raw: raw}
			if len(raw) > MaxLine {
				it.raw, it.err = nil, fmt.Errorf("line is longer than %d bytes", MaxLine)
			}
			out <- it
		}
		if err == io.EOF {
			return read, nil
		}
		if err != nil {
			return read, err
		}
	}
}

// readLine reads one line without its newline; lines over MaxLine are cut
// short and the rest discarded, so that the caller can report them.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) <= MaxLine {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		return line, err
	}
}

// readJSON reads a file holding one resource or a Bundle; each entry of a
// Bundle is an item numbered from 1.
func readJSON(r io.Reader, path string, out chan<- *item) (int64, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxLine+1))
	if err != nil {
		return int64(len(raw)), err
	}
	if len(raw) > MaxLine {
		out <- &item{file: path, line: 1, err: fmt.Errorf("file is larger than %d bytes", MaxLine)}
		return int64(len(raw)), nil
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ResourceType != "Bundle" {
		out <- &item{file: path, line: 1, raw: raw}
		return int64(len(raw)), nil
	}
	for i, e := range head.Entry {
		it := &item{file: path, line: i + 1, raw: e.Resource}
		if len(e.Resource) == 0 {
			it.err = fmt.Errorf("bundle entry %d has no resource", i+1)
		}
		out <- it
	}
	return int64(len(raw)), nil
}
