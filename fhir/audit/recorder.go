package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/store"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: recorder is closed")

// Config configures a Recorder. Zero fields take the defaults below.
type Config struct {
	Server ServerInfo
	// MaxBatch is the largest number of records stored in one write
	// (default 256).
	MaxBatch int
	// Window is how long the committer waits for more events once it has
	// one (default 0: it takes what is queued and writes at once, so the
	// batch grows only while the previous write runs).
	Window time.Duration
	// Timeout bounds both how long Record waits for its record to be
	// stored and each store write (default 5s).
	Timeout time.Duration
	// QueueSize is how many events may wait for the committer (default
	// 4 × MaxBatch). Record blocks, up to Timeout, while the queue is full.
	QueueSize int
	// OnCommit, when set, is called by the committer after each stored
	// batch with the new chain head, for example to log it outside the
	// store. It must return quickly.
	OnCommit func(ChainHead)
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// SweepEvery is how often records left unindexed are looked for and
	// indexed (default 30s). Records are searchable once indexed, which
	// is normally milliseconds after they are stored.
	SweepEvery time.Duration
	// OnIndexError and OnSweep, when set, hear of failed index writes
	// (the sweep retries them) and of records the sweep indexed.
	OnIndexError func(error)
	OnSweep      func(indexed int)
}

func (c *Config) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 4 * c.MaxBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = 30 * time.Second
	}
}

// Recorder stores AuditEvents with group commit: many goroutines call
// Record at once, and one committer goroutine stores their records in
// batches, each with one AppendRaw call, as consecutive links of this
// recorder's chain. A Recorder is safe for concurrent use.
type Recorder struct {
	repo  *repository.Repository
	cfg   Config
	chain string

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *pending
	done   chan struct{} // closed when the committer has returned

	// The fields below belong to the committer goroutine, and to Close
	// after the committer has returned. headMu guards them for Head.
	headMu     sync.Mutex
	head       ChainHead
	lastStored time.Time
	// uncertain is a batch whose write failed in a way that may still
	// have stored it, such as a timeout during commit.
	uncertain *batchEnd

	// Records are stored first and indexed for search afterwards, off the
	// request path: index carries committed batches to the indexer
	// goroutine, and a periodic sweep indexes whatever it missed.
	index     chan []repository.RawDoc
	indexDone chan struct{}
	stopSweep chan struct{}
	flush     chan chan struct{}
	skipped   atomic.Int64 // batches left to the sweep since the last one
	// gate orders the committer's and the indexer's store writes in this
	// process, and waiting counts committers queued at it, so that the
	// indexer steps aside for the writes that requests wait on.
	gate    sync.Mutex
	waiting atomic.Int32
}

type pending struct {
	event Event
	// trail, when set, builds one of the trail's own records instead.
	trail func(ChainLink) *auditJSON
	done  chan error
}

// batchEnd is the chain head after a batch, and the id of its first
// record by which the committer finds out whether it was stored.
type batchEnd struct {
	firstID string
	head    ChainHead
	stored  time.Time
}

// NewRecorder starts a new chain with a random chain id, stores its start
// record and starts the committer. It fails when the start record cannot
// be stored: a server that cannot audit must not serve.
func NewRecorder(ctx context.Context, repo *repository.Repository, cfg Config) (
	*Recorder, error) {
	cfg.setDefaults()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("audit: create chain id: %w", err)
	}
	r := &Recorder{repo: repo, cfg: cfg, chain: hex.EncodeToString(id[:]),
		queue: make(chan *pending, cfg.QueueSize), done: make(chan struct{}),
		index: make(chan []repository.RawDoc, indexQueue), indexDone: make(chan struct{}),
		stopSweep: make(chan struct{}), flush: make(chan chan struct{})}
	r.head.Chain = r.chain
	go r.indexLoop()

	start := &pending{trail: func(l ChainLink) *auditJSON {
		return trailRecord(cfg.Server, l, subtypeStart, "E")
	}, done: make(chan error, 1)}
	r.commit(ctx, []*pending{start})
	if err := <-start.done; err != nil {
		return nil, fmt.Errorf("audit: start chain: %w", err)
	}
	go r.run()
	return r, nil
}

// Chain returns the id of the recorder's chain.
func (r *Recorder) Chain() string { return r.chain }

// Head returns the last stored record of the recorder's chain.
func (r *Recorder) Head() ChainHead {
	r.headMu.Lock()
	defer r.headMu.Unlock()
	return r.head
}

// Record stores the AuditEvent of e and returns once it is durably
// stored. It fails, and the caller must then not send the data, when the
// store fails, when ctx ends or Config.Timeout passes first, or after
// Close. A record whose wait timed out may still be stored later.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	return r.submit(ctx, &pending{event: e, done: make(chan error, 1)})
}

func (r *Recorder) submit(ctx context.Context, p *pending) error {
	timer := time.NewTimer(r.cfg.Timeout)
	defer timer.Stop()

	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	select {
	case r.queue <- p:
		r.mu.RUnlock()
	case <-ctx.Done():
		r.mu.RUnlock()
		return fmt.Errorf("audit: record not stored: %w", ctx.Err())
	case <-timer.C:
		r.mu.RUnlock()
		return fmt.Errorf("audit: record not stored: queue still full after %v",
			r.cfg.Timeout)
	}

	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: record not confirmed: %w", ctx.Err())
	case <-timer.C:
		return fmt.Errorf("audit: record not confirmed within %v", r.cfg.Timeout)
	}
}

// Close stops accepting events, stores those already queued, then the
// chain's stop record, and returns the error of that last write.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.queue)
	r.mu.Unlock()
	<-r.done

	stop := &pending{trail: func(l ChainLink) *auditJSON {
		return trailRecord(r.cfg.Server, l, subtypeStop, "E")
	}, done: make(chan error, 1)}
	r.commit(context.Background(), []*pending{stop})
	err := <-stop.done
	close(r.stopSweep)
	close(r.index)
	<-r.indexDone
	return err
}

// indexQueue is how many committed batches may wait for the indexer
// before further batches are left to the sweep. With one request at a
// time a batch holds one record, so the queue must outlast a burst of
// thousands of requests.
const indexQueue = 1 << 14

// maxIndexBatch bounds the records indexed in one store write. Each record
// has about a hundred tokens, and the store takes one writer at a time,
// so a small batch keeps the write lock short for the committer.
const maxIndexBatch = 16

// indexLoop adds the search tokens of committed records, many batches
// per store write, and sweeps for records left unindexed (by a crash, a
// full queue or a failed write) at start and then every SweepEvery.
func (r *Recorder) indexLoop() {
	defer close(r.indexDone)
	sweep := time.NewTicker(r.cfg.SweepEvery)
	defer sweep.Stop()
	stop := r.stopSweep
	r.sweep()
	for {
		select {
		case docs, ok := <-r.index:
			if !ok {
				return
			}
			r.indexNow(r.gatherIndex(docs))
		case <-sweep.C:
			r.sweep()
		case ack := <-r.flush:
			for drained := false; !drained; {
				select {
				case docs, ok := <-r.index:
					if !ok {
						drained = true
						break
					}
					r.indexNow(r.gatherIndex(docs))
				default:
					drained = true
				}
			}
			if r.skipped.Load() > 0 {
				r.sweep()
			}
			close(ack)
		case <-stop:
			// Close stops the sweep first; the loop then drains r.index.
			sweep.Stop()
			stop = nil
		}
	}
}

// indexNow adds the tokens of docs, in writes of at most maxIndexBatch
// records, each taken through the gate. When a commit waited at the gate
// during a write, the indexer pauses as long as that write took, so that
// under load it holds the store's write lock at most half the time. A
// failure is left to the sweep.
func (r *Recorder) indexNow(docs []repository.RawDoc) {
	for len(docs) > 0 {
		n := min(len(docs), maxIndexBatch)
		ctx, cancel := context.WithTimeout(context.Background(), 6*r.cfg.Timeout)
		r.gate.Lock()
		start := time.Now()
		err := r.repo.IndexRaw(ctx, "AuditEvent", docs[:n])
		took := time.Since(start)
		contended := r.waiting.Load() > 0 || len(r.queue) > 0
		r.gate.Unlock()
		cancel()
		if err != nil {
			r.skipped.Add(1)
			if r.cfg.OnIndexError != nil {
				r.cfg.OnIndexError(err)
			}
			return
		}
		docs = docs[n:]
		if contended {
			time.Sleep(took)
		}
	}
}

// Flush waits until every record committed before the call is
// searchable, so that an auditor's search or an access report includes
// the accesses up to now.
func (r *Recorder) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case r.flush <- ack:
	case <-r.indexDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatherIndex appends the batches already waiting, up to maxIndexBatch.
func (r *Recorder) gatherIndex(docs []repository.RawDoc) []repository.RawDoc {
	for len(docs) < 8*maxIndexBatch {
		select {
		case more, ok := <-r.index:
			if !ok {
				return docs
			}
			docs = append(docs, more...)
		default:
			return docs
		}
	}
	return docs
}

func (r *Recorder) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*r.cfg.Timeout)
	defer cancel()
	r.skipped.Store(0)
	n, err := r.repo.IndexPending(ctx, "AuditEvent")
	if err != nil && r.cfg.OnIndexError != nil {
		r.cfg.OnIndexError(err)
	}
	if n > 0 && r.cfg.OnSweep != nil {
		r.cfg.OnSweep(n)
	}
}

// run is the committer: it takes the next event, gathers more into a
// batch, stores the batch and repeats until the queue is closed.
func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]*pending, 0, r.cfg.MaxBatch)
	for p := range r.queue {
		batch = r.gather(append(batch[:0], p))
		r.commit(context.Background(), batch)
		clear(batch)
	}
}

// gather adds queued events to batch until it is full, the queue is empty
// (without a window) or the window has passed.
func (r *Recorder) gather(batch []*pending) []*pending {
	var window <-chan time.Time
	if r.cfg.Window > 0 {
		t := time.NewTimer(r.cfg.Window)
		defer t.Stop()
		window = t.C
	}
	for len(batch) < r.cfg.MaxBatch {
		if window == nil {
			select {
			case p, ok := <-r.queue:
				if !ok {
					return batch
				}
				batch = append(batch, p)
			default:
				return batch
			}
			continue
		}
		select {
		case p, ok := <-r.queue:
			if !ok {
				return batch
			}
			batch = append(batch, p)
		case <-window:
			return batch
		}
	}
	return batch
}

// commit stores batch as the next links of the chain and sends every
// waiter the result.
func (r *Recorder) commit(parent context.Context, batch []*pending) {
	ctx, cancel := context.WithTimeout(parent, r.cfg.Timeout)
	defer cancel()

	err := r.resolve(ctx)
	var end batchEnd
	var docs []repository.RawDoc
	if err == nil {
		docs, end = r.build(batch)
		r.waiting.Add(1)
		r.gate.Lock()
		r.waiting.Add(-1)
		err = r.repo.AppendRawUnindexed(ctx, "AuditEvent", docs)
		r.gate.Unlock()
	}
	if err == nil {
		r.advance(end)
		select {
		case r.index <- docs:
		default:
			// The indexer is behind; the sweep will index these.
			r.skipped.Add(1)
		}
	} else if end.firstID != "" {
		r.uncertain = &end
		err = fmt.Errorf("audit: store %d AuditEvents: %w", len(batch), err)
	}

	for _, p := range batch {
		p.done <- err
	}
	if err == nil && r.cfg.OnCommit != nil {
		r.cfg.OnCommit(end.head)
	}
}

// resolve finds out whether the last failed batch was stored after all,
// by reading its first record, and moves the head past it when it was.
// Until that is known no batch can be linked, so every commit fails.
func (r *Recorder) resolve(ctx context.Context) error {
	if r.uncertain == nil {
		return nil
	}
	_, err := r.repo.Store().Read(ctx, "AuditEvent", r.uncertain.firstID, 1)
	switch {
	case err == nil:
		r.advance(*r.uncertain)
	case errors.Is(err, store.ErrNotFound):
	default:
		return fmt.Errorf("audit: check whether the last batch was stored: %w", err)
	}
	r.uncertain = nil
	return nil
}

func (r *Recorder) advance(end batchEnd) {
	r.headMu.Lock()
	r.head = end.head
	r.lastStored = end.stored
	r.headMu.Unlock()
}

// build encodes batch as the links after the current head. Every record of
// a batch shares one meta.lastUpdated, never earlier than the previous
// batch's, so that store time never decreases along a chain.
func (r *Recorder) build(batch []*pending) ([]repository.RawDoc, batchEnd) {
	stored := r.cfg.Now().UTC().Truncate(time.Millisecond)
	if stored.Before(r.lastStored) {
		stored = r.lastStored
	}
	head := r.head
	docs := make([]repository.RawDoc, len(batch))
	for i, p := range batch {
		link := ChainLink{Chain: r.chain, Seq: head.Seq + 1, Prev: head.Hash, Stored: stored}
		var a *auditJSON
		if p.trail != nil {
			a = p.trail(link)
		} else {
			a = eventRecord(p.event, r.cfg.Server, link)
		}
		body, hash := finish(a, link)
		docs[i] = repository.RawDoc{ID: link.ID(), LastUpdated: stored, Body: body}
		head = ChainHead{Chain: r.chain, Seq: link.Seq, Hash: hash}
	}
	return docs, batchEnd{firstID: docs[0].ID, head: head, stored: stored}
}
