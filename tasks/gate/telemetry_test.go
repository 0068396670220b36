package gate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/fetch"
)

// demoStore reads the demo's telemetry files into a store with the fetch
// step, as `pulsegate fetch --store` does.
func demoStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var tel []config.Telemetry
	for _, x := range demoParams("").Telemetry {
		tel = append(tel, config.Telemetry{Name: x.Type, Type: x.Type, Path: x.Path})
	}
	res, err := fetch.Run(context.Background(), fetch.Params{Telemetry: tel}, fetch.Env{Sources: builtin.Registry(), Store: st})
	if err != nil || res.Failed() {
		t.Fatalf("fetch: %+v, %v", res, err)
	}
	return path
}

// TestStoreAgreesWithFiles: the gate on the stored demo telemetry decides
// as it does on the files: same verdicts, risk, reasons and matches.
func TestStoreAgreesWithFiles(t *testing.T) {
	db := demoStore(t)
	for _, rel := range []string{"payments-api.yaml", "storefront-web.yaml"} {
		files, err := Run(demoParams(rel), env())
		if err != nil {
			t.Fatal(err)
		}
		p := demoParams(rel)
		p.Store = db
		stored, err := Run(p, env())
		if err != nil {
			t.Fatal(err)
		}
		if stored.Verdict != files.Verdict || stored.Risk.Score != files.Risk.Score || len(stored.Reasons) != len(files.Reasons) {
			t.Errorf("%s: store %s %.2f %d reasons, files %s %.2f %d reasons", rel, stored.Verdict, stored.Risk.Score, len(stored.Reasons), files.Verdict, files.Risk.Score, len(files.Reasons))
		}
		for i := range files.Sources {
			a, b := stored.Sources[i], files.Sources[i]
			if a.Status != b.Status || a.Matched != b.Matched || a.Detail != b.Detail {
				t.Errorf("%s: source %s: store %s %d %q, files %s %d %q", rel, a.Name, a.Status, a.Matched, a.Detail, b.Status, b.Matched, b.Detail)
			}
		}
	}

	// As of later, the stored health says stale, and fail-closed blocks.
	p := demoParams("storefront-web.yaml")
	p.Store, p.Now = db, demoNow.Add(time.Hour)
	d, err := Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.Block || d.Sources[0].Status != store.Stale {
		t.Errorf("an hour later: %s, falco %s %q", d.Verdict, d.Sources[0].Status, d.Sources[0].Detail)
	}

	// A configured source the store never read is unavailable.
	p = demoParams("storefront-web.yaml", Telemetry{Name: "wazuh", Type: "wazuh", Path: "/nowhere"})
	p.Store = db
	d, err = Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Sources[3]; s.Status != store.Unavailable || !strings.Contains(s.Detail, `no record of source "wazuh"`) || d.Verdict != policy.Block {
		t.Errorf("unknown source: %s %s %q", d.Verdict, s.Status, s.Detail)
	}
}

// TestPullWithoutStore: a url source given to the gate without a store is
// polled once, directly; one that cannot be reached is unavailable.
func TestPullWithoutStore(t *testing.T) {
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" {
			w.WriteHeader(404)
			return
		}
		fmt.Fprint(w, `[{"labels":{"alertname":"KubeNodeNotReady","node":"ip-10-0-2-22","severity":"critical"},"annotations":{},
			"startsAt":"2026-11-30T09:58:00Z","endsAt":"2026-11-30T10:30:00Z","updatedAt":"2026-11-30T09:59:00Z",
			"fingerprint":"1122334455667788","status":{"state":"active","silencedBy":[],"inhibitedBy":[]},"receivers":[{"name":"null"}]}]`)
	}))
	defer am.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	p := demoParams("payments-api.yaml",
		Telemetry{Name: "am", Type: "alertmanager", Pull: config.Pull{URL: am.URL}},
		Telemetry{Name: "am-down", Type: "alertmanager", FailMode: "fail-open", Pull: config.Pull{URL: down.URL, Timeout: "1s"}})
	d, err := Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Sources[3]; s.Status != store.Fresh || s.Signals != 1 || s.Matched != 1 || d.Inputs["telemetry/am"] == "" {
		t.Errorf("am: %+v", s)
	}
	if s := d.Sources[4]; s.Status != store.Unavailable || !strings.Contains(s.Detail, "connection refused") {
		t.Errorf("am-down: %+v", s)
	}
	found := false
	for _, r := range d.Reasons {
		for _, e := range r.Evidence {
			found = found || e.Source == "am"
		}
	}
	if !found {
		t.Errorf("the polled alert is not among the evidence: %+v", d.Reasons)
	}
}

func TestNothingToReadFrom(t *testing.T) {
	p := demoParams("payments-api.yaml", Telemetry{Name: "prom", Type: "prometheus"})
	_, err := Run(p, env())
	if err == nil || !tasks.IsUsage(err) || !strings.Contains(err.Error(), "telemetry[3] (prom): no path, no url and no --store") {
		t.Errorf("err = %v", err)
	}
	p = demoParams("payments-api.yaml", Telemetry{Name: "prom", Type: "prometheus", Pull: config.Pull{URL: "http://127.0.0.1:1"}})
	_, err = Run(p, env())
	if err == nil || !tasks.IsUsage(err) || !strings.Contains(err.Error(), `missing key "queries"`) {
		t.Errorf("prometheus without queries: %v", err)
	}
	p = demoParams("payments-api.yaml")
	p.Store = filepath.Join(t.TempDir(), "none.db")
	if _, err = Run(p, env()); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing store: %v", err)
	}
}
