package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRecorderStoresChain(t *testing.T) {
	tr := openTrail(t)
	var heads []ChainHead
	var mu sync.Mutex
	rec := tr.recorder(t, Config{OnCommit: func(h ChainHead) {
		mu.Lock()
		heads = append(heads, h)
		mu.Unlock()
	}})

	const callers, perCaller = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers*perCaller)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perCaller; i++ {
				errs <- rec.Record(context.Background(), readEvent(c*perCaller+i))
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	// The start record is seq 1, then one record per event.
	if got, want := rec.Head().Seq, uint64(1+callers*perCaller); got != want {
		t.Errorf("head seq = %d, expected %d", got, want)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// The stop record is the last commit.
	if len(heads) == 0 || heads[len(heads)-1] != rec.Head() {
		t.Errorf("OnCommit saw %d heads, the last not %+v", len(heads), rec.Head())
	}
	if got, want := rec.Head().Seq, uint64(2+callers*perCaller); got != want {
		t.Errorf("head seq after Close = %d, expected %d", got, want)
	}

	n, err := tr.store.CountHistory(context.Background(), historyOf("AuditEvent"))
	if err != nil {
		t.Fatal(err)
	}
	if want := callers*perCaller + 2; n != want {
		t.Errorf("stored %d AuditEvents, expected %d (events, start, stop)", n, want)
	}
	rep, err := Verify(context.Background(), tr.repo, tr.store, rec.Head())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("untouched trail has findings: %+v", rep.Findings)
	}
	if len(rep.Chains) != 1 || !rep.Chains[0].Closed ||
		rep.Chains[0].LastSeq != uint64(callers*perCaller+2) {
		t.Errorf("chains = %+v, expected one closed chain of %d", rep.Chains,
			callers*perCaller+2)
	}
}

func TestRecorderFailsWhenStoreClosed(t *testing.T) {
	tr := openTrail(t)
	rec := tr.recorder(t, Config{Timeout: time.Second})
	if err := rec.Record(context.Background(), readEvent(1)); err != nil {
		t.Fatal(err)
	}
	tr.store.Close()

	began := time.Now()
	err := rec.Record(context.Background(), readEvent(2))
	if err == nil {
		t.Fatal("Record on a closed store returned nil")
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Errorf("Record took %v to fail on a closed store", took)
	}
	if rec.Close() == nil {
		t.Error("Close on a closed store stored its stop record")
	}
}

func TestRecorderTimesOutOnLockedStore(t *testing.T) {
	tr := openTrail(t)
	rec := tr.recorder(t, Config{Timeout: 200 * time.Millisecond})
	defer rec.Close()

	// Another connection holds the file's write lock, as a stuck writer
	// would; the store's own busy timeout (10 s) is far longer.
	db := tr.sqlDB(t)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err = rec.Record(context.Background(), readEvent(1))
	took := time.Since(began)
	if err == nil {
		t.Fatal("Record returned nil while the store was locked")
	}
	if took > time.Second {
		t.Errorf("Record took %v to fail with a 200ms timeout", took)
	}

	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// The committer may still be inside the write it started; allow it to
	// finish, then the chain continues without a gap.
	var lastErr error
	for i := 0; i < 50; i++ {
		if lastErr = rec.Record(context.Background(), readEvent(2)); lastErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("Record after the lock was released: %v", lastErr)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), tr.repo, tr.store)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("trail after a timed-out write has findings: %+v", rep.Findings)
	}
}

func TestRecorderCloseDrains(t *testing.T) {
	tr := openTrail(t)
	rec := tr.recorder(t, Config{Window: 20 * time.Millisecond})
	const n = 100
	var wg sync.WaitGroup
	var stored, closed int
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := rec.Record(context.Background(), readEvent(i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.Is(err, ErrClosed):
				closed++
			default:
				t.Errorf("Record: %v", err)
			}
		}(i)
	}
	time.Sleep(5 * time.Millisecond)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if stored+closed != n {
		t.Fatalf("stored %d and rejected %d of %d", stored, closed, n)
	}
	count, err := tr.store.CountHistory(context.Background(), historyOf("AuditEvent"))
	if err != nil {
		t.Fatal(err)
	}
	if count != stored+2 {
		t.Errorf("%d AuditEvents stored, expected %d confirmed events plus start and stop",
			count, stored)
	}
	if err := rec.Record(context.Background(), readEvent(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, expected ErrClosed", err)
	}
}

func TestRecorderHonoursContext(t *testing.T) {
	tr := openTrail(t)
	rec := tr.recorder(t, Config{})
	defer rec.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Record(ctx, readEvent(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Record with a cancelled context = %v, expected context.Canceled", err)
	}
}
