package score

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	taskcorrelate "github.com/pulsegate/pulsegate/tasks/correlate"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

const demo = "../../examples/demo/"

var demoNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// targets writes the landing set of a demo release as `pulsegate correlate
// -o json` does.
func targets(t *testing.T, rel string) string {
	t.Helper()
	res, err := taskcorrelate.Run(context.Background(), taskcorrelate.Params{Release: demo + "releases/" + rel, Inventory: demo + "inventory.json", Cluster: "prod-eu-1"}, taskcorrelate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "targets.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func demoTelemetry() []gate.Telemetry {
	return []gate.Telemetry{
		{Type: "falco", Path: demo + "telemetry/falco.jsonl"},
		{Type: "k8s-audit", Path: demo + "telemetry/k8s-audit.jsonl"},
		{Type: "tetragon", Path: demo + "telemetry/tetragon.jsonl"},
	}
}

// TestDemoMatchesGate: scoring the landing set and deciding on it gives the
// same verdict and risk as the all-in-one gate.
func TestDemoMatchesGate(t *testing.T) {
	for _, tc := range []struct {
		release string
		verdict policy.Verdict
	}{
		{"payments-api.yaml", policy.Block},
		{"storefront-web.yaml", policy.Proceed},
	} {
		t.Run(tc.release, func(t *testing.T) {
			in, err := Run(Params{Targets: targets(t, tc.release), Inventory: demo + "inventory.json", Telemetry: demoTelemetry(), Now: demoNow}, Env{Sources: builtin.Registry()})
			if err != nil {
				t.Fatal(err)
			}
			d, err := policy.Evaluate(policy.Default(), *in)
			if err != nil {
				t.Fatal(err)
			}
			g, err := gate.Run(gate.Params{Release: demo + "releases/" + tc.release, Inventory: demo + "inventory.json", Cluster: "prod-eu-1", Telemetry: demoTelemetry(), Now: demoNow}, gate.Env{Sources: builtin.Registry()})
			if err != nil {
				t.Fatal(err)
			}
			if d.Verdict != tc.verdict || g.Verdict != tc.verdict {
				t.Fatalf("verdict: score+decide %s, gate %s, want %s", d.Verdict, g.Verdict, tc.verdict)
			}
			if d.Risk.Score != g.Risk.Score {
				t.Errorf("risk: score+decide %.2f, gate %.2f", d.Risk.Score, g.Risk.Score)
			}
			dir := t.TempDir()
			if err := WriteResults(dir, in); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "risk-score"))
			if len(b) == 0 || len(b) > CatalogResults[0].MaxBytes {
				t.Errorf("risk-score result %q: want 1..%d bytes", b, CatalogResults[0].MaxBytes)
			}
		})
	}
}

func TestSignalsFile(t *testing.T) {
	dir := t.TempDir()
	good := `{"time":1796029197014,"id":"a","source":{"name":"falco","type":"falco"},"class_uid":2004,"severity_id":5,"severity_score":0.9,"asset":{"node":"ip-10-0-2-22"},"rule":"r"}`
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	by, order, err := ReadSignals(write("ok.jsonl", good+"\n\n"+good+"\n"))
	if err != nil || len(order) != 1 || len(by["falco"]) != 2 {
		t.Fatalf("got %v %v %v", by, order, err)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"syntax":    {good + "\n{\"time\":", "bad.jsonl:2:"},
		"no source": {`{"time":1796029197014,"id":"a","class_uid":2004}`, "no source.name"},
		"no time":   {`{"id":"a","source":{"name":"x","type":"y"}}`, "no time"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := ReadSignals(write("bad.jsonl", tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "targets.json")
	os.WriteFile(bad, []byte("{\n \"targets\": [],\n \"surprise\": 1}"), 0o644)
	for name, p := range map[string]Params{
		"no targets":   {Inventory: "x"},
		"no inventory": {Targets: "x"},
		"unknown key":  {Targets: bad, Inventory: demo + "inventory.json"},
		"missing file": {Targets: filepath.Join(dir, "nope.json"), Inventory: demo + "inventory.json"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(p, Env{Sources: builtin.Registry()})
			if !tasks.IsUsage(err) {
				t.Fatalf("error %v: want a usage error", err)
			}
		})
	}
}

func FuzzLoadTargets(f *testing.F) {
	f.Add([]byte(`{"targets":[{"kind":"Node","name":"n1","relation":"eligible-node"}],"workloads":[],"clusters":[],"excluded":[],"counts":{}}`))
	f.Add([]byte(`{"targets":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "t.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		LoadTargets(p)
		ReadSignals(p)
	})
}
