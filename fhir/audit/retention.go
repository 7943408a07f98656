package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/custos/custos/fhir/repository"
	"github.com/custos/custos/store"
)

// Purger removes every version of resources for good. store.Store has no
// such operation: its deletes are versioned tombstones that keep history.
// A store that implements Purger must delete the versions, the current
// row and the blind-index postings of each id in one transaction. It must
// also succeed for ids that do not exist, so that a retention run that
// stopped half way can be repeated.
type Purger interface {
	Purge(ctx context.Context, typ string, ids []string) error
}

// RetentionLease is the store lease that one retention run holds, so that
// only one server instance removes records at a time.
const RetentionLease = "audit-retention"

// RetentionConfig configures a Retention job. Zero fields take defaults.
type RetentionConfig struct {
	// MaxAge is how long AuditEvents are kept, by meta.lastUpdated
	// (default: seven calendar years).
	MaxAge time.Duration
	// Owner identifies this instance as holder of the lease (default: the
	// recorder's chain id).
	Owner string
	// LeaseTTL is how long the lease lasts; the job renews it between
	// purge batches (default 10 minutes).
	LeaseTTL time.Duration
	// BatchSize is how many ids each Purge call removes (default 500).
	BatchSize int
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Retention removes AuditEvents older than the retention period while
// keeping every chain verifiable.
type Retention struct {
	repo   *repository.Repository
	purger Purger
	rec    *Recorder
	cfg    RetentionConfig
}

// RetentionResult reports one run.
type RetentionResult struct {
	Claimed bool      // false: another instance holds the lease; nothing was done
	Cutoff  time.Time // records stored before this were candidates
	Removed int       // records purged
	// Kept counts candidates that stay because an earlier record of their
	// chain is missing or fails to open: removing them would hide that.
	Kept       int
	Checkpoint string // id of the checkpoint record written, if any
}

// NewRetention returns a job that purges through purger and writes its
// checkpoint records through rec.
func NewRetention(repo *repository.Repository, purger Purger, rec *Recorder,
	cfg RetentionConfig) *Retention {
	if cfg.Owner == "" {
		cfg.Owner = rec.Chain()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Minute
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Retention{repo: repo, purger: purger, rec: rec, cfg: cfg}
}

// Run claims the retention lease and, when it gets it, removes the
// AuditEvents stored before the cutoff. Before removing anything it
// stores a checkpoint record that states, for every chain whose start has
// been removed, the first seq kept and that record's prev hash. The
// checkpoint restates the previous checkpoint's chains, so Verify needs
// only the newest one.
func (j *Retention) Run(ctx context.Context) (RetentionResult, error) {
	st := j.repo.Store()
	now := j.cfg.Now()
	res := RetentionResult{Cutoff: now.AddDate(-7, 0, 0)}
	if j.cfg.MaxAge > 0 {
		res.Cutoff = now.Add(-j.cfg.MaxAge)
	}
	ok, err := st.ClaimLease(ctx, RetentionLease, j.cfg.Owner, j.cfg.LeaseTTL)
	if err != nil || !ok {
		return res, err
	}
	res.Claimed = true
	// Claiming with a zero TTL makes the lease expire now: another
	// instance can run the job next without waiting for LeaseTTL.
	defer st.ClaimLease(context.WithoutCancel(ctx), RetentionLease, j.cfg.Owner, 0)

	old, err := j.oldRecords(ctx, st, res.Cutoff)
	if err != nil || len(old) == 0 {
		return res, err
	}
	entries, err := j.lastCheckpoint(ctx, st)
	if err != nil {
		return res, err
	}
	ids, changed, kept := plan(old, entries)
	res.Kept = kept
	if len(ids) == 0 {
		return res, nil
	}

	if changed {
		if res.Checkpoint, err = j.checkpoint(ctx, entries); err != nil {
			return res, err
		}
	}
	for start := 0; start < len(ids); start += j.cfg.BatchSize {
		batch := ids[start:min(start+j.cfg.BatchSize, len(ids))]
		if err := j.purger.Purge(ctx, "AuditEvent", batch); err != nil {
			return res, fmt.Errorf("audit: purge %d AuditEvents: %w", len(batch), err)
		}
		res.Removed += len(batch)
		ok, err := st.ClaimLease(ctx, RetentionLease, j.cfg.Owner, j.cfg.LeaseTTL)
		if err != nil {
			return res, fmt.Errorf("audit: renew retention lease: %w", err)
		}
		if !ok {
			return res, errors.New("audit: retention lease lost to another instance")
		}
	}
	return res, nil
}

// oldRecord is a candidate for removal.
type oldRecord struct {
	id       string
	chained  bool
	unopened bool
	link     ChainLink
	hash     string
}

// oldRecords lists the AuditEvents stored before cutoff.
func (j *Retention) oldRecords(ctx context.Context, st store.Store, cutoff time.Time) (
	[]oldRecord, error) {
	f := store.HistoryFilter{Type: "AuditEvent", Limit: historyPage,
		Before: &store.Position{LastUpdated: cutoff, Type: "AuditEvent"}}
	var out []oldRecord
	for {
		page, err := st.History(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("audit: list old AuditEvents: %w", err)
		}
		for _, v := range page {
			if v.VersionID != 1 || v.Deleted {
				out = append(out, oldRecord{id: v.ID, unopened: true})
				continue
			}
			rec, err := j.open(ctx, v.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if len(page) < historyPage {
			return out, nil
		}
		last := page[len(page)-1]
		f.Before = &store.Position{LastUpdated: last.LastUpdated, Type: last.Type,
			ID: last.ID, VersionID: last.VersionID}
	}
}

func (j *Retention) open(ctx context.Context, id string) (oldRecord, error) {
	e, err := j.repo.VRead(ctx, "AuditEvent", id, 1)
	var sealErr *repository.SealError
	if errors.As(err, &sealErr) {
		return oldRecord{id: id, unopened: true}, nil
	}
	if err != nil {
		return oldRecord{}, fmt.Errorf("audit: open AuditEvent/%s: %w", id, err)
	}
	info, err := readChain(e.Body)
	if errors.Is(err, errNoChain) {
		return oldRecord{id: id}, nil
	}
	if err != nil || info.Hash != info.Actual || info.Link.ID() != id {
		return oldRecord{id: id, unopened: true}, nil
	}
	return oldRecord{id: id, chained: true, link: info.Link, hash: info.Hash}, nil
}

// lastCheckpoint returns the entries of the newest checkpoint by chain,
// walking the trail from its newest record.
//
// NOTE: the walk opens every record stored since that checkpoint, so its
// cost grows with the time between runs. A daily run reads a day of trail.
func (j *Retention) lastCheckpoint(ctx context.Context, st store.Store) (
	map[string]retentionEntry, error) {
	entries := map[string]retentionEntry{}
	f := store.HistoryFilter{Type: "AuditEvent", Limit: historyPage}
	for {
		page, err := st.History(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("audit: find the last retention checkpoint: %w", err)
		}
		for _, v := range page {
			if v.VersionID != 1 || v.Deleted {
				continue
			}
			e, err := j.repo.VRead(ctx, "AuditEvent", v.ID, 1)
			var sealErr *repository.SealError
			if errors.As(err, &sealErr) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("audit: open AuditEvent/%s: %w", v.ID, err)
			}
			info, err := readChain(e.Body)
			if err != nil || info.Subtype != subtypeCheckpoint.Code ||
				info.Hash != info.Actual {
				continue
			}
			for _, r := range info.Retention {
				entries[r.Chain] = r
			}
			return entries, nil
		}
		if len(page) < historyPage {
			return entries, nil
		}
		last := page[len(page)-1]
		f.Before = &store.Position{LastUpdated: last.LastUpdated, Type: last.Type,
			ID: last.ID, VersionID: last.VersionID}
	}
}

// plan chooses the ids to remove and updates entries, the first seq kept
// of each chain. Of each chain it removes only the run of consecutive,
// intact records from the chain's current first seq on. It reports
// whether entries changed and how many candidates it keeps.
func plan(old []oldRecord, entries map[string]retentionEntry) (
	ids []string, changed bool, kept int) {
	byChain := map[string][]oldRecord{}
	for _, r := range old {
		switch {
		case r.unopened:
			kept++
		case !r.chained:
			ids = append(ids, r.id)
		default:
			byChain[r.link.Chain] = append(byChain[r.link.Chain], r)
		}
	}
	chains := make([]string, 0, len(byChain))
	for c := range byChain {
		chains = append(chains, c)
	}
	sort.Strings(chains)

	for _, c := range chains {
		recs := byChain[c]
		sort.Slice(recs, func(a, b int) bool { return recs[a].link.Seq < recs[b].link.Seq })
		next := uint64(1)
		if e, ok := entries[c]; ok {
			next = e.FirstSeq
		}
		var last *oldRecord
		for i := range recs {
			r := &recs[i]
			if r.link.Seq > next {
				kept += len(recs) - i
				break
			}
			// A seq below next was left by a run that stopped half way.
			ids = append(ids, r.id)
			if r.link.Seq == next {
				last, next = r, next+1
			}
		}
		if last != nil {
			entries[c] = retentionEntry{Chain: c, FirstSeq: last.link.Seq + 1, Prev: last.hash}
			changed = true
		}
	}
	return ids, changed, kept
}

// checkpoint stores the retention checkpoint through the recorder and
// returns its id.
func (j *Retention) checkpoint(ctx context.Context, entries map[string]retentionEntry) (
	string, error) {
	chains := make([]string, 0, len(entries))
	for c := range entries {
		chains = append(chains, c)
	}
	sort.Strings(chains)
	var id string
	p := &pending{done: make(chan error, 1), trail: func(l ChainLink) *auditJSON {
		a := trailRecord(j.rec.cfg.Server, l, subtypeCheckpoint, "D")
		for _, c := range chains {
			a.Extension = append(a.Extension, retentionExtension(entries[c]))
		}
		id = l.ID()
		return a
	}}
	if err := j.rec.submit(ctx, p); err != nil {
		return "", fmt.Errorf("audit: store retention checkpoint: %w", err)
	}
	return id, nil
}
