package audit

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/custos/custos/store"
)

// sqlitePurgerForTest deletes rows from the SQLite file directly, as the
// Purge the store does not have yet would.
type sqlitePurgerForTest struct{ db *sql.DB }

func (p sqlitePurgerForTest) Purge(ctx context.Context, typ string, ids []string) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range ids {
		for _, table := range []string{"versions", "current", "postings"} {
			_, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE type = ? AND id = ?",
				typ, id)
			if err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// clock is a settable time source shared by recorders and the job.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func recordN(t *testing.T, rec *Recorder, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := rec.Record(context.Background(), readEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(t *testing.T, tr *trail, id string) bool {
	t.Helper()
	_, err := tr.store.Read(context.Background(), "AuditEvent", id, 1)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestRetentionKeepsChainsVerifiable(t *testing.T) {
	tr := openTrail(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	eightYearsAgo := now.AddDate(-8, 0, 0)
	clk := &clock{t: eightYearsAgo}

	// Chain a: start and five events eight years ago (seqs 1-6), then
	// four events and its stop record now (seqs 7-11).
	a := tr.recorder(t, Config{Now: clk.Now})
	recordN(t, a, 5)
	// Chain b: start, three events and stop, all eight years ago (1-5).
	b := tr.recorder(t, Config{Now: clk.Now})
	recordN(t, b, 3)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Set(now)
	recordN(t, a, 4)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	job := tr.recorder(t, Config{Now: clk.Now})
	defer job.Close()
	purger := sqlitePurgerForTest{db: tr.sqlDB(t)}
	ret := NewRetention(tr.repo, purger, job, RetentionConfig{Now: clk.Now})
	res, err := ret.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Claimed || res.Removed != 11 || res.Kept != 0 {
		t.Errorf("result = %+v, expected the lease, 11 removed (6 of a, 5 of b), 0 kept", res)
	}
	for seq := uint64(1); seq <= 6; seq++ {
		if exists(t, tr, recordID(a.Chain(), seq)) {
			t.Errorf("old record a-%d is still stored", seq)
		}
	}
	if !exists(t, tr, recordID(a.Chain(), 7)) {
		t.Error("recent record a-7 was removed")
	}
	if exists(t, tr, recordID(b.Chain(), 1)) {
		t.Error("old record b-1 is still stored")
	}
	if res.Checkpoint != recordID(job.Chain(), 2) {
		t.Errorf("checkpoint = %q, expected the job chain's seq 2", res.Checkpoint)
	}

	rep, err := Verify(context.Background(), tr.repo, tr.store)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("findings after retention: %+v", rep.Findings)
	}
	for _, c := range rep.Chains {
		if c.Chain == a.Chain() && (c.FirstSeq != 7 || c.Records != 5) {
			t.Errorf("chain a = %+v, expected seqs 7-11", c)
		}
		if c.Chain == b.Chain() {
			t.Errorf("chain b is still listed: %+v", c)
		}
	}

	// Removing a kept record of chain a must still be found.
	tr.exec(t, `DELETE FROM versions WHERE type = 'AuditEvent' AND id = ?`,
		recordID(a.Chain(), 7))
	rep, err = Verify(context.Background(), tr.repo, tr.store)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].ID != recordID(a.Chain(), 7) ||
		rep.Findings[0].Kind != Removed {
		t.Errorf("findings after deleting a-7 = %+v, expected a-7 removed", rep.Findings)
	}
}

func TestRetentionSecondRunCarriesCheckpoint(t *testing.T) {
	tr := openTrail(t)
	start := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	a := tr.recorder(t, Config{Now: clk.Now})
	recordN(t, a, 3) // seqs 1-4 in 2018
	clk.Set(start.AddDate(1, 0, 0))
	recordN(t, a, 3) // seqs 5-7 in 2019
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	purger := sqlitePurgerForTest{db: tr.sqlDB(t)}

	// 2025-06: only the 2018 records are older than seven years.
	clk.Set(start.AddDate(7, 6, 0))
	job1 := tr.recorder(t, Config{Now: clk.Now})
	res, err := NewRetention(tr.repo, purger, job1, RetentionConfig{Now: clk.Now}).
		Run(context.Background())
	if err != nil || res.Removed != 4 {
		t.Fatalf("first run = %+v, %v; expected 4 removed", res, err)
	}
	if err := job1.Close(); err != nil {
		t.Fatal(err)
	}

	// A year later the 2019 records go too, and the first run's
	// checkpoint must be restated for chain a.
	clk.Set(start.AddDate(8, 6, 0))
	job2 := tr.recorder(t, Config{Now: clk.Now})
	defer job2.Close()
	res, err = NewRetention(tr.repo, purger, job2, RetentionConfig{Now: clk.Now}).
		Run(context.Background())
	if err != nil || res.Removed != 4 {
		t.Fatalf("second run = %+v, %v; expected 4 removed (a-5 to a-8)", res, err)
	}
	rep, err := Verify(context.Background(), tr.repo, tr.store)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("findings after two runs: %+v", rep.Findings)
	}
}

func TestRetentionNeedsLease(t *testing.T) {
	tr := openTrail(t)
	clk := &clock{t: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)}
	old := tr.recorder(t, Config{Now: clk.Now})
	recordN(t, old, 2)
	old.Close()
	clk.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	ok, err := tr.store.ClaimLease(context.Background(), RetentionLease, "other-instance",
		time.Hour)
	if err != nil || !ok {
		t.Fatalf("claim lease for another instance: %v %v", ok, err)
	}
	job := tr.recorder(t, Config{Now: clk.Now})
	defer job.Close()
	res, err := NewRetention(tr.repo, sqlitePurgerForTest{db: tr.sqlDB(t)}, job,
		RetentionConfig{Now: clk.Now}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Claimed || res.Removed != 0 {
		t.Errorf("result = %+v, expected no lease and nothing removed", res)
	}
	if !exists(t, tr, recordID(old.Chain(), 1)) {
		t.Error("a record was removed without the lease")
	}
}

func TestRetentionStopsAtGap(t *testing.T) {
	tr := openTrail(t)
	clk := &clock{t: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)}
	old := tr.recorder(t, Config{Now: clk.Now})
	recordN(t, old, 4) // seqs 1-5, stop is 6
	old.Close()
	tr.exec(t, `DELETE FROM versions WHERE type = 'AuditEvent' AND id = ?`,
		recordID(old.Chain(), 3))
	clk.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	job := tr.recorder(t, Config{Now: clk.Now})
	defer job.Close()
	res, err := NewRetention(tr.repo, sqlitePurgerForTest{db: tr.sqlDB(t)}, job,
		RetentionConfig{Now: clk.Now}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2 || res.Kept != 3 {
		t.Errorf("result = %+v, expected seqs 1-2 removed and 4-6 kept", res)
	}
	rep, err := Verify(context.Background(), tr.repo, tr.store)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].ID != recordID(old.Chain(), 3) {
		t.Errorf("findings = %+v, expected the missing seq 3 only", rep.Findings)
	}
}
