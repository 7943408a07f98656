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

// Kind classifies a Finding.
type Kind string

// Kinds of findings.
const (
	// Altered: a record that fails to open, whose hash does not match its
	// content, or that has versions beyond version 1.
	Altered Kind = "altered"
	// Inserted: a record that does not belong where it claims to be: a
	// bad prev hash, an id that is not its chain and seq, a duplicate
	// seq, or a record after its chain's stop record.
	Inserted Kind = "inserted"
	// Removed: a sequence number missing from its chain, including the
	// end of a chain cut short below a known head.
	Removed Kind = "removed"
)

// Finding is one record that breaks the trail.
type Finding struct {
	Kind   Kind
	ID     string // logical id of the AuditEvent
	Chain  string // empty when the record's chain is unknown
	Seq    uint64
	Reason string
}

// ChainStatus describes one chain as found.
type ChainStatus struct {
	Chain    string
	FirstSeq uint64 // 1, or the first seq kept by retention
	LastSeq  uint64
	Records  int
	// Closed reports whether the chain ends with its stop record. An open
	// chain belongs to a running writer, or one that stopped without
	// Close; its end can only be checked against a ChainHead kept
	// elsewhere.
	Closed     bool
	LastStored time.Time
}

// Report is the result of Verify.
type Report struct {
	Records int // AuditEvent versions examined
	Chains  []ChainStatus
	// Unchained lists AuditEvents that carry no chain extension, such as
	// ones a client created through the REST API: the trail vouches for
	// none of them.
	Unchained []string
	Findings  []Finding
}

// OK reports whether no finding was made.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// maxGapFindings bounds the Removed findings listed for one gap; the
// finding at the bound states how many more ids are missing.
const maxGapFindings = 100

// historyPage is how many versions Verify reads from the store at once.
const historyPage = 1000

// verifiedRecord is what Verify keeps of each record while it reads.
type verifiedRecord struct {
	id      string
	seq     uint64
	prev    string
	hash    string
	subtype string
	stored  time.Time
	altered bool // failed to open: its links cannot be checked
}

// Verify walks every chain of AuditEvents in sequence order and reports
// altered, inserted and removed records. heads, when given, are chain
// heads kept outside the store (see Config.OnCommit): a chain that ends
// before its head was cut short. An error means the store could not be
// read, not that the trail is broken.
//
// NOTE: Verify keeps about 200 bytes per record in memory, so a trail of
// ten million records needs about 2 GB.
func Verify(ctx context.Context, repo *repository.Repository, st store.Store,
	heads ...ChainHead) (Report, error) {
	v := verifier{repo: repo, chains: map[string][]verifiedRecord{}}
	if err := v.read(ctx, st); err != nil {
		return Report{}, err
	}
	v.placeUnopened()

	names := make([]string, 0, len(v.chains))
	for c := range v.chains {
		names = append(names, c)
	}
	for _, h := range heads {
		if _, ok := v.chains[h.Chain]; !ok {
			names = append(names, h.Chain)
		}
	}
	sort.Strings(names)
	for _, c := range names {
		v.walk(c, heads)
	}

	sort.SliceStable(v.report.Findings, func(i, j int) bool {
		a, b := v.report.Findings[i], v.report.Findings[j]
		if a.Chain != b.Chain {
			return a.Chain < b.Chain
		}
		return a.Seq < b.Seq
	})
	sort.Strings(v.report.Unchained)
	return v.report, nil
}

type verifier struct {
	repo     *repository.Repository
	report   Report
	chains   map[string][]verifiedRecord
	unopened []string // ids of records that failed to open
	// retention is the newest retention checkpoint's entries by chain.
	retention       map[string]retentionEntry
	retentionStored time.Time
}

func (v *verifier) add(kind Kind, id, chain string, seq uint64, format string,
	args ...any) {
	v.report.Findings = append(v.report.Findings, Finding{Kind: kind, ID: id,
		Chain: chain, Seq: seq, Reason: fmt.Sprintf(format, args...)})
}

// read lists every AuditEvent version and opens each.
func (v *verifier) read(ctx context.Context, st store.Store) error {
	f := store.HistoryFilter{Type: "AuditEvent", Limit: historyPage}
	for {
		page, err := st.History(ctx, f)
		if err != nil {
			return fmt.Errorf("audit: list AuditEvents: %w", err)
		}
		for _, ver := range page {
			if err := v.examine(ctx, ver); err != nil {
				return err
			}
		}
		if len(page) < historyPage {
			return nil
		}
		last := page[len(page)-1]
		f.Before = &store.Position{LastUpdated: last.LastUpdated, Type: last.Type,
			ID: last.ID, VersionID: last.VersionID}
	}
}

func (v *verifier) examine(ctx context.Context, ver store.Version) error {
	v.report.Records++
	if ver.VersionID != 1 || ver.Deleted {
		v.add(Altered, ver.ID, "", 0,
			"version %d exists, but AuditEvents are never updated or deleted",
			ver.VersionID)
		return nil
	}
	entry, err := v.repo.VRead(ctx, "AuditEvent", ver.ID, 1)
	var sealErr *repository.SealError
	if errors.As(err, &sealErr) {
		v.unopened = append(v.unopened, ver.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: open AuditEvent/%s: %w", ver.ID, err)
	}

	info, err := readChain(entry.Body)
	if errors.Is(err, errNoChain) {
		v.report.Unchained = append(v.report.Unchained, ver.ID)
		return nil
	}
	if err != nil {
		v.add(Altered, ver.ID, "", 0, "chain extension is unreadable: %v", err)
		return nil
	}
	link := info.Link
	if info.Hash != info.Actual {
		v.add(Altered, ver.ID, link.Chain, link.Seq,
			"content does not match the hash the record states")
	}
	if ver.ID != link.ID() {
		v.add(Inserted, ver.ID, link.Chain, link.Seq,
			"id is not the chain and seq the record states (%s)", link.ID())
		return nil
	}
	if info.Subtype == subtypeCheckpoint.Code && !ver.LastUpdated.Before(v.retentionStored) {
		v.retention = map[string]retentionEntry{}
		for _, r := range info.Retention {
			v.retention[r.Chain] = r
		}
		v.retentionStored = ver.LastUpdated
	}
	v.chains[link.Chain] = append(v.chains[link.Chain], verifiedRecord{id: ver.ID,
		seq: link.Seq, prev: link.Prev, hash: info.Hash, subtype: info.Subtype,
		stored: ver.LastUpdated})
	return nil
}

// placeUnopened puts each record that failed to open into the place its
// id names, when that place lies inside a known chain and holds no other
// record: it is then an altered record. Any other such record was inserted.
func (v *verifier) placeUnopened() {
	for _, id := range v.unopened {
		chain, seq, ok := parseRecordID(id)
		recs := v.chains[chain]
		inside := false
		taken := false
		for _, r := range recs {
			if r.seq > seq {
				inside = true
			}
			if r.seq == seq {
				taken = true
			}
		}
		if !ok || !inside || taken {
			v.add(Inserted, id, "", 0,
				"body fails to open and its id names no free place in a chain")
			continue
		}
		v.add(Altered, id, chain, seq, "body fails to open: altered or moved")
		v.chains[chain] = append(recs, verifiedRecord{id: id, seq: seq, altered: true})
	}
}

// walk checks one chain in seq order.
func (v *verifier) walk(chain string, heads []ChainHead) {
	recs := v.chains[chain]
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].seq < recs[j].seq })

	status := ChainStatus{Chain: chain, FirstSeq: 1}
	prev, known := "", true
	if r, ok := v.retention[chain]; ok {
		status.FirstSeq, prev = r.FirstSeq, r.Prev
	}
	next := status.FirstSeq
	stopped := false
	mismatch := -1 // index in Findings of the last bad prev hash
	var mismatchSeq uint64
	for _, r := range recs {
		if r.seq < status.FirstSeq {
			continue // kept by a retention run that has not finished removing
		}
		if r.seq < next {
			v.add(Inserted, r.id, chain, r.seq, "duplicate seq %d", r.seq)
			continue
		}
		if stopped {
			v.add(Inserted, r.id, chain, r.seq, "follows the chain's stop record")
		}
		if r.seq > next {
			v.removed(chain, next, r.seq-1, "missing from the chain")
			known = false
		}
		switch {
		case r.altered:
			known = false
		case known && r.prev != prev && mismatch >= 0 && mismatchSeq == r.seq-1:
			// Neither neighbour links to the record before this one: that
			// record was replaced, and this one is intact.
			f := &v.report.Findings[mismatch]
			f.Kind, f.Reason = Altered, "replaced: neither neighbour links to it"
			mismatch = -1
		case known && r.prev != prev:
			v.add(Inserted, r.id, chain, r.seq,
				"prev hash does not match %s: this record or that one was replaced",
				recordID(chain, r.seq-1))
			mismatch, mismatchSeq = len(v.report.Findings)-1, r.seq
		}
		if !r.altered {
			prev, known = r.hash, true
		}
		next = r.seq + 1
		status.Records++
		status.LastSeq = r.seq
		status.LastStored = r.stored
		stopped = r.subtype == subtypeStop.Code
	}
	status.Closed = stopped
	v.checkHeads(chain, recs, status, heads)
	v.report.Chains = append(v.report.Chains, status)
}

// checkHeads compares the chain with the heads kept outside the store.
func (v *verifier) checkHeads(chain string, recs []verifiedRecord, status ChainStatus,
	heads []ChainHead) {
	for _, h := range heads {
		if h.Chain != chain || h.Seq < status.FirstSeq {
			continue
		}
		if h.Seq > status.LastSeq {
			from := max(status.LastSeq+1, status.FirstSeq)
			v.removed(chain, from, h.Seq, "chain ends before its known head")
			continue
		}
		for _, r := range recs {
			if r.seq == h.Seq && !r.altered && r.hash != h.Hash {
				v.add(Altered, r.id, chain, r.seq, "hash differs from the known head")
			}
		}
	}
}

func (v *verifier) removed(chain string, from, to uint64, reason string) {
	for seq := from; seq <= to; seq++ {
		if seq-from == maxGapFindings-1 && to > seq {
			v.add(Removed, recordID(chain, seq), chain, seq,
				"%s, with %d more up to seq %d", reason, to-seq, to)
			return
		}
		v.add(Removed, recordID(chain, seq), chain, seq, "%s", reason)
	}
}
