package fetch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/pkg/store"
)

// TestFetchIntoStore polls the pull sources and reads the demo's Falco
// file into a store, twice, then with the Alertmanager down, and checks
// what the store knows after each run and after a restart.
func TestFetchIntoStore(t *testing.T) {
	promURL, amURL := apis(t)
	falco, err := filepath.Abs("../../examples/demo/telemetry/falco.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	yaml := `
telemetry:
  - name: prom
    type: prometheus
    url: %s
    cluster: prod-eu-1
    max_age: 5m
    auth: {token_file: token}
    queries:
      - {name: container-memory-spike, expr: "x", threshold: 0.9, severity: high}
  - name: am
    type: alertmanager
    url: %s
    timeout: 1s
  - name: falco
    type: falco
    path: %s
  - name: gone
    type: falco
    path: no-such-file.jsonl
`
	cfg := load(t, fmt.Sprintf(yaml, promURL, amURL, falco))
	path := filepath.Join(t.TempDir(), "pulsegate.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	run := func(now time.Time) *Result {
		t.Helper()
		res, err := Run(context.Background(), Params{Telemetry: cfg.Telemetry, Now: now, TTL: 30 * 24 * time.Hour}, Env{Sources: builtin.Registry(), Store: st})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run(time.Time{})
	if len(res.Sources) != 4 {
		t.Fatalf("sources %+v", res.Sources)
	}
	byName := map[string]SourceResult{}
	for _, s := range res.Sources {
		byName[s.Name] = s
	}
	if s := byName["falco"]; s.Status != "ok" || s.Stored != 98 || s.Path != falco {
		t.Errorf("falco: %+v", s)
	}
	if s := byName["gone"]; s.Status != "unavailable" || !strings.Contains(s.Error, "no-such-file.jsonl: no such file") {
		t.Errorf("gone: %+v", s)
	}
	if s := byName["prom"]; s.Status != "ok" || s.Stored != 1 {
		t.Errorf("prom: %+v", s)
	}
	// Again: the file's records are stored once.
	res = run(time.Time{})
	for _, s := range res.Sources {
		if s.Name == "falco" && s.Stored != 0 {
			t.Errorf("second run stored %d Falco signals again", s.Stored)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart: every source's record, and the Signals by asset.
	st, err = store.Open(path, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Sources()
	if err != nil || len(recs) != 4 {
		t.Fatalf("records %+v, %v", recs, err)
	}
	for _, r := range recs {
		switch r.Name {
		case "prom":
			if r.Reads != 2 || r.MaxAge != 5*time.Minute || r.LastSuccess.IsZero() || r.Type != "prometheus" {
				t.Errorf("prom record %+v", r)
			}
		case "gone":
			if r.Failures != 2 || !strings.Contains(r.Err, "no such file") {
				t.Errorf("gone record %+v", r)
			}
		case "falco":
			if r.Records != 98 || r.LastRecord.IsZero() || r.Written.IsZero() {
				t.Errorf("falco record %+v", r)
			}
		}
	}
	got, err := st.Find(store.Query{Asset: store.Asset{Kind: store.KindNode, Name: "ip-10-0-2-22", Cluster: "prod-eu-1"}})
	if err != nil || len(got) != 1 || got[0].Source.Name != "prom" {
		t.Errorf("prom's signal about ip-10-0-2-22 in prod-eu-1: %+v, %v", got, err)
	}
	got, _ = st.Find(store.Query{Asset: store.Asset{Kind: store.KindNode, Name: "ip-10-0-2-22"}, Source: "falco"})
	if len(got) == 0 {
		t.Error("no Falco signal about ip-10-0-2-22")
	}
}

// TestFetchStoreFailure records a source that is down, so that the gate
// sees it unavailable.
func TestFetchStoreFailure(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	cfg := load(t, fmt.Sprintf("telemetry: [{name: am, type: alertmanager, url: %q, timeout: 1s}]", down.URL))
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := Run(context.Background(), Params{Telemetry: cfg.Telemetry}, Env{Sources: builtin.Registry(), Store: st})
	if err != nil || !res.Failed() {
		t.Fatalf("%+v, %v", res, err)
	}
	h, _, err := st.Health("am", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if state, _, detail := h.Evaluate(time.Now(), 0); state != store.Unavailable || !strings.Contains(detail, "connection refused") {
		t.Errorf("%s %q", state, detail)
	}
}
