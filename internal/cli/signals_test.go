package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestFetchStoreAndSignals reads the demo's telemetry into a store with
// `pulsegate fetch --store` and lists it with `pulsegate signals`.
func TestFetchStoreAndSignals(t *testing.T) {
	demo := filepath.Join("..", "..", "examples", "demo", "pulsegate.yaml")
	db := filepath.Join(t.TempDir(), "store.db")
	code, out, errOut := execute("fetch", "--config", demo, "--store", db, "--ttl", "0")
	if code != 0 || out != "" || !strings.Contains(errOut, "falco (falco): ok, 98 records, 0 rejected, 98 signals, 98 new to the store") {
		t.Fatalf("fetch: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = execute("fetch", "--config", demo, "--store", db, "--ttl", "0", "--compact")
	if code != 0 || !strings.Contains(errOut, "98 signals, 0 new to the store") || !strings.Contains(errOut, "compacted from") {
		t.Fatalf("second fetch: exit %d\n%s", code, errOut)
	}

	code, out, errOut = execute("signals", "--store", db, "--asset", "node=ip-10-0-2-22", "--now", "2026-11-30T10:00:00Z", "--since", "30m", "-o", "json")
	if code != 0 {
		t.Fatalf("signals: exit %d: %s", code, errOut)
	}
	var rep signalsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Sources) != 3 || rep.Count != 17 || len(rep.Signals) != 17 {
		t.Fatalf("%d sources, %d signals:\n%s", len(rep.Sources), rep.Count, out)
	}
	for _, s := range rep.Sources {
		if s.Status != "fresh" || s.AgeSeconds == nil || s.Reads != 2 || s.MaxAge == 0 {
			t.Errorf("source %+v", s)
		}
	}
	lent := 0
	for _, s := range rep.Signals {
		if s.Asset.Node != "ip-10-0-2-22" || s.Time.Before(rep.Now.Add(-30*60e9)) {
			t.Errorf("signal %+v", s)
		}
		if s.Source.Name == "k8s-audit" {
			lent++ // audit events name the pod only; the store knows its node
		}
	}
	if lent != 2 {
		t.Errorf("%d audit events found by the pod's node, want 2", lent)
	}

	// The gate on the store alone: every source it knows, as of the end of
	// the recording.
	for rel, want := range map[string]int{"payments-api": 1, "storefront-web": 0} {
		code, out, errOut = execute("gate", "--store", db, "--release", filepath.Join("..", "..", "examples", "demo", "releases", rel+".yaml"),
			"--inventory", filepath.Join("..", "..", "examples", "demo", "inventory.json"), "--cluster", "prod-eu-1", "--now", "2026-11-30T10:00:00Z", "-o", "json")
		if code != want || !strings.Contains(out, `"name": "k8s-audit"`) && !strings.Contains(out, `"name":"k8s-audit"`) {
			t.Errorf("gate --store %s: exit %d, want %d\n%s\n%s", rel, code, want, errOut, out)
		}
	}

	// An hour later Falco is stale; text output says so.
	code, out, _ = execute("signals", "--store", db, "--asset", "pod=payments/payments-worker-49d077277b-090c6", "--now", "2026-11-30T11:00:00Z", "--since", "2h")
	if code != 0 || !strings.Contains(out, "stale") || !strings.Contains(out, "older than the maximum age 15m0s") || !strings.Contains(out, "signals (pod=payments/payments-worker-49d077277b-090c6, since 2h0m0s)") {
		t.Errorf("text: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"signals"}, "--store is required"},
		{[]string{"signals", "--store", db, "--asset", "host=x"}, `unknown kind "host"`},
		{[]string{"signals", "--store", db, "-o", "yaml"}, `-o "yaml"`},
		{[]string{"signals", "--store", db, "--cluster", "c"}, "give --asset too"},
		{[]string{"signals", "--store", filepath.Join(t.TempDir(), "none.db")}, "no such file"},
		{[]string{"fetch", "--config", demo, "--store", db, "--ttl", "-1h"}, "--ttl"},
		{[]string{"fetch", "--config", demo, "--compact"}, "give --store"},
	} {
		code, _, errOut := execute(tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
