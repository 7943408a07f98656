package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/custos/custos/conformance"
	"github.com/custos/custos/fhir/app"
	"github.com/custos/custos/fhir/audit"
	"github.com/custos/custos/fhir/auth"
)

// TestTwoInstances runs two servers on one data directory, as two
// instances behind a load balancer share one store.
func TestTwoInstances(t *testing.T) {
	first := start(t, "")
	second, err := app.Open(context.Background(), app.Options{DataDir: first.dir,
		BaseURL: first.app.Options.BaseURL, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(second.REST)
	defer func() {
		ts.Close()
		second.Close()
	}()
	tp := loadTwoPatients(t, first)

	other := auth.MintOptions{Scope: "user/*.rs", FHIRUser: "Practitioner/f202"}
	onFirst := first.clientWith(t, other)
	onSecond := &conformance.Client{Base: ts.URL + "/fhir", HTTP: ts.Client(),
		Header: onFirst.Header}

	if st := onSecond.Do(t, "GET", "Patient/"+tp.first, nil).Status; st != http.StatusOK {
		t.Fatalf("read on the second instance before any consent: %d", st)
	}

	t.Run("consent change reaches the other instance", func(t *testing.T) {
		put(t, first.client, "Consent", "only-f204", consentFor(t, "consent-example-notThem",
			"only-f204", tp.first))
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := onSecond.Do(t, "GET", "Patient/"+tp.first, nil).Status
			if st == http.StatusForbidden {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the second instance still answers %d five seconds after the consent", st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("both chains verify", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, c := range []*conformance.Client{first.client, onSecond} {
			wg.Add(1)
			go func(c *conformance.Client) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					c.Do(t, "GET", "Patient/"+tp.second, nil)
				}
			}(c)
		}
		wg.Wait()
		report, err := audit.Verify(context.Background(), first.app.Repository, first.app.Store)
		if err != nil {
			t.Fatal(err)
		}
		if !report.OK() {
			t.Fatalf("findings: %+v", report.Findings)
		}
		if len(report.Chains) < 2 {
			t.Fatalf("%d chains, want one per instance", len(report.Chains))
		}
	})
}
