package audit

import (
	"context"
	"testing"
)

// recordedTrail stores a closed chain of a start record, ten events and a
// stop record (seqs 1 to 12) and returns the trail and the chain's head.
func recordedTrail(t *testing.T) (*trail, ChainHead) {
	t.Helper()
	tr := openTrail(t)
	rec := tr.recorder(t, Config{})
	for i := 0; i < 10; i++ {
		if err := rec.Record(context.Background(), readEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return tr, rec.Head()
}

type findingKey struct {
	Kind Kind
	ID   string
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name string
		// tamper changes the file and returns the findings expected.
		tamper    func(t *testing.T, tr *trail, chain string) []findingKey
		withHead  bool
		wantClose bool
	}{
		{"untouched trail", func(*testing.T, *trail, string) []findingKey {
			return nil
		}, true, true},
		{"body edited in place", func(t *testing.T, tr *trail, c string) []findingKey {
			id := recordID(c, 5)
			tr.exec(t, `UPDATE versions SET body = substr(body, 1, 40) || x'00' ||
				substr(body, 42) WHERE type = 'AuditEvent' AND id = ?`, id)
			return []findingKey{{Altered, id}}
		}, true, true},
		{"row deleted", func(t *testing.T, tr *trail, c string) []findingKey {
			id := recordID(c, 7)
			tr.exec(t, `DELETE FROM versions WHERE type = 'AuditEvent' AND id = ?`, id)
			return []findingKey{{Removed, id}}
		}, true, true},
		{"row copied to a new id", func(t *testing.T, tr *trail, c string) []findingKey {
			tr.exec(t, `INSERT INTO versions SELECT type, 'copied-1', version_id,
				last_updated, deleted, key_id, body, hash FROM versions
				WHERE type = 'AuditEvent' AND id = ?`, recordID(c, 3))
			return []findingKey{{Inserted, "copied-1"}}
		}, true, true},
		{"row copied over a deleted one", func(t *testing.T, tr *trail, c string) []findingKey {
			id := recordID(c, 4)
			tr.exec(t, `DELETE FROM versions WHERE type = 'AuditEvent' AND id = ?`, id)
			tr.exec(t, `INSERT INTO versions SELECT type, ?, version_id,
				last_updated, deleted, key_id, body, hash FROM versions
				WHERE type = 'AuditEvent' AND id = ?`, id, recordID(c, 3))
			return []findingKey{{Altered, id}}
		}, true, true},
		{"tail cut, head known", func(t *testing.T, tr *trail, c string) []findingKey {
			for _, seq := range []uint64{11, 12} {
				tr.exec(t, `DELETE FROM versions WHERE type = 'AuditEvent' AND id = ?`,
					recordID(c, seq))
			}
			return []findingKey{{Removed, recordID(c, 11)}, {Removed, recordID(c, 12)}}
		}, true, false},
		{"tail cut, head unknown", func(t *testing.T, tr *trail, c string) []findingKey {
			tr.exec(t, `DELETE FROM versions WHERE type = 'AuditEvent' AND id = ?`,
				recordID(c, 12))
			return nil // only the missing stop record shows it
		}, false, false},
		{"resealed with edited text", func(t *testing.T, tr *trail, c string) []findingKey {
			id := recordID(c, 6)
			body := tr.openBody(t, id)
			edited := []byte(string(body[:len(body)-1]) + `,"language":"en"}`)
			tr.reseal(t, id, edited)
			return []findingKey{{Altered, id}}
		}, true, true},
		{"resealed with a rebuilt record", func(t *testing.T, tr *trail, c string) []findingKey {
			// An insider with the keys replaces seq 8 by a record with a
			// valid hash of its own but cannot make seq 9 point to it.
			id := recordID(c, 8)
			forged := Build(readEvent(99), testServer, ChainLink{Chain: c, Seq: 8,
				Prev: "00", Stored: testTime})
			tr.reseal(t, id, forged)
			return []findingKey{{Altered, id}}
		}, true, true},
		{"version 2 added", func(t *testing.T, tr *trail, c string) []findingKey {
			id := recordID(c, 2)
			tr.exec(t, `INSERT INTO versions SELECT type, id, 2, last_updated, 1,
				key_id, NULL, NULL FROM versions WHERE type = 'AuditEvent' AND id = ?`, id)
			return []findingKey{{Altered, id}}
		}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, head := recordedTrail(t)
			want := tc.tamper(t, tr, head.Chain)
			var heads []ChainHead
			if tc.withHead {
				heads = []ChainHead{head}
			}
			rep, err := Verify(context.Background(), tr.repo, tr.store, heads...)
			if err != nil {
				t.Fatal(err)
			}
			var got []findingKey
			for _, f := range rep.Findings {
				got = append(got, findingKey{f.Kind, f.ID})
			}
			if len(got) != len(want) {
				t.Fatalf("findings = %+v, expected %+v", rep.Findings, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("finding %d = %+v, expected %+v", i, rep.Findings[i], want[i])
				}
			}
			if len(rep.Chains) != 1 || rep.Chains[0].Closed != tc.wantClose {
				t.Errorf("chains = %+v, expected one with Closed %v", rep.Chains, tc.wantClose)
			}
		})
	}
}

func TestVerifyListsUnchainedEvents(t *testing.T) {
	tr, head := recordedTrail(t)
	body := []byte(`{"id":"client-made","meta":{"lastUpdated":"2026-01-01T00:00:00.000Z",` +
		`"versionId":"1"},"resourceType":"AuditEvent"}`)
	err := tr.repo.AppendRaw(context.Background(), "AuditEvent", []repositoryRawDoc{
		{ID: "client-made", LastUpdated: testTime, Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), tr.repo, tr.store, head)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("findings = %+v, expected none", rep.Findings)
	}
	if len(rep.Unchained) != 1 || rep.Unchained[0] != "client-made" {
		t.Errorf("unchained = %v, expected [client-made]", rep.Unchained)
	}
	if rep.Records != 13 {
		t.Errorf("examined %d records, expected 13", rep.Records)
	}
}

func TestVerifyPagesLargeTrail(t *testing.T) {
	tr := openTrail(t)
	rec := tr.recorder(t, Config{})
	// More than two history pages of 1000, written by concurrent callers
	// so that many records share one lastUpdated.
	const callers, perCaller = 50, 45
	errs := make(chan error, callers)
	for c := 0; c < callers; c++ {
		go func(c int) {
			for i := 0; i < perCaller; i++ {
				if err := rec.Record(context.Background(), readEvent(c*perCaller+i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(c)
	}
	for c := 0; c < callers; c++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), tr.repo, tr.store, rec.Head())
	if err != nil {
		t.Fatal(err)
	}
	if want := callers*perCaller + 2; rep.Records != want {
		t.Errorf("examined %d records, expected %d", rep.Records, want)
	}
	if !rep.OK() {
		t.Errorf("findings = %+v", rep.Findings[:min(5, len(rep.Findings))])
	}
}
