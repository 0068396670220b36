package decide

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

const demo = "../../examples/demo"

func params(t *testing.T, rel string, extra ...gate.Telemetry) gate.Params {
	p := gate.Params{
		Release:   filepath.Join(demo, "releases", rel),
		Inventory: filepath.Join(demo, "inventory.json"),
		Cluster:   "prod-eu-1",
		Now:       time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
		Config:    filepath.Join(demo, "pulsegate.yaml"),
		Telemetry: []gate.Telemetry{
			{Type: "falco", Path: filepath.Join(demo, "telemetry/falco.jsonl"), MaxAge: 15 * time.Minute},
			{Type: "k8s-audit", Path: filepath.Join(demo, "telemetry/k8s-audit.jsonl")},
			{Type: "tetragon", Path: filepath.Join(demo, "telemetry/tetragon.jsonl")},
		},
	}
	p.Telemetry = append(p.Telemetry, extra...)
	return p
}

func env() gate.Env { return gate.Env{Sources: builtin.Registry()} }

// record runs the gate and records it; it returns the record folder and
// the decision file.
func record(t *testing.T, p gate.Params) (string, string, *policy.Decision) {
	t.Helper()
	var in policy.Input
	e := env()
	e.Input = func(x policy.Input) { in = x }
	d, err := gate.Run(p, e)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rec")
	if err := Record(dir, p, in, d); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "decision.json"), d
}

func TestRecordReplay(t *testing.T) {
	bg := filepath.Join(t.TempDir(), "bg.yaml")
	os.WriteFile(bg, []byte("who: alice\nwhy: outage\nticket: INC-1\nexpires: 2026-11-30T11:00:00Z\n"), 0o644)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(pol, []byte("params:\n  risk_threshold: 50\n"), 0o644)
	for name, p := range map[string]gate.Params{
		"block":       params(t, "payments-api.yaml"),
		"proceed":     params(t, "storefront-web.yaml"),
		"unavailable": params(t, "storefront-web.yaml", gate.Telemetry{Type: "falco", Name: "falco-eu", Path: "/nonexistent/falco.jsonl"}),
		"break-glass": func() gate.Params { p := params(t, "payments-api.yaml"); p.BreakGlass = bg; return p }(),
		"policy-and-environment": func() gate.Params {
			p := params(t, "payments-api.yaml")
			p.Policy, p.Environment, p.FailMode, p.Mode = pol, "dev", "fail-open", "shadow"
			return p
		}(),
		"release-folder": func() gate.Params { p := params(t, ""); p.Release = filepath.Join(demo, "releases"); return p }(),
	} {
		t.Run(name, func(t *testing.T) {
			dir, dec, d := record(t, p)
			res, err := Replay(dec, dir, env())
			if err != nil {
				t.Fatal(err)
			}
			if !res.Same() {
				t.Fatalf("replay differs:\n%s", strings.Join(res.Differences, "\n"))
			}
			r := res.Replayed
			if r.DecisionID != d.DecisionID || r.Verdict != d.Verdict || !reflect.DeepEqual(r.Reasons, d.Reasons) || r.Summary != d.Summary {
				t.Errorf("replayed %s %s, recorded %s %s", r.DecisionID, r.Summary, d.DecisionID, d.Summary)
			}
			for _, k := range []string{"release", "inventory", "policy", "config", "signals"} {
				if d.Inputs[k] == "" {
					t.Errorf("no digest of %s: %v", k, d.Inputs)
				}
			}
			// The recorded policy input decides the same through decide.Run.
			dd, err := Run(Params{Input: filepath.Join(dir, "input.json"), Policy: p.Policy})
			if err != nil {
				t.Fatal(err)
			}
			if dd.DecisionID != d.DecisionID || !reflect.DeepEqual(dd.Reasons, d.Reasons) || dd.Verdict != d.Verdict {
				t.Errorf("decide: %s %s, gate %s %s", dd.DecisionID, dd.Summary, d.DecisionID, d.Summary)
			}
		})
	}
}

// A changed input is named by its digest.
func TestReplayTampered(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(pol, []byte("params:\n  risk_threshold: 50\n"), 0o644)
	p := params(t, "payments-api.yaml")
	p.Policy = pol
	for _, tc := range []struct {
		name, want string
		change     func(dir string)
	}{
		{"telemetry", "input telemetry/tetragon: recorded sha256:", func(dir string) {
			f := filepath.Join(dir, "telemetry", "02-tetragon.jsonl")
			b, _ := os.ReadFile(f)
			os.WriteFile(f, []byte(strings.Replace(string(b), "\n", "\n\n", 1)), 0o644)
		}},
		{"policy", "input policy: recorded sha256:", func(dir string) {
			os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("params:\n  risk_threshold: 90\n"), 0o644)
		}},
		{"inventory", "input inventory:", func(dir string) {
			f := filepath.Join(dir, "inventory.json")
			b, _ := os.ReadFile(f)
			os.WriteFile(f, append(b, ' '), 0o644)
		}},
		{"time", "decision id: recorded", func(dir string) {
			f := filepath.Join(dir, "manifest.json")
			b, _ := os.ReadFile(f)
			os.WriteFile(f, []byte(strings.Replace(string(b), "2026-11-30T10:00:00Z", "2026-11-30T10:05:00Z", 1)), 0o644)
		}},
		{"decision", "verdict: recorded proceed, replayed block", func(dir string) {
			f := filepath.Join(dir, "decision.json")
			b, _ := os.ReadFile(f)
			os.WriteFile(f, []byte(strings.Replace(string(b), `"verdict": "block"`, `"verdict": "proceed"`, 1)), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, dec, _ := record(t, p)
			tc.change(dir)
			res, err := Replay(dec, dir, env())
			if err != nil {
				t.Fatal(err)
			}
			if res.Same() || !strings.Contains(strings.Join(res.Differences, "\n"), tc.want) {
				t.Errorf("differences %q, want %q", res.Differences, tc.want)
			}
		})
	}
}

func TestReplayErrors(t *testing.T) {
	dir, dec, _ := record(t, params(t, "storefront-web.yaml"))
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{\n  \"verdict\": 1\n}"), 0o644)
	for _, tc := range []struct{ dec, dir, want string }{
		{"/nonexistent.json", dir, "read decision"},
		{bad, dir, "line 2"},
		{dec, t.TempDir(), "read record"},
	} {
		if _, err := Replay(tc.dec, tc.dir, env()); !tasks.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Replay(%s, %s) = %v, want a usage error with %q", tc.dec, tc.dir, err, tc.want)
		}
	}
	p := params(t, "storefront-web.yaml")
	p.Release = "-"
	if err := Record(t.TempDir(), p, policy.Input{}, &policy.Decision{}); !tasks.IsUsage(err) {
		t.Errorf("stdin: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "in.json")
	os.WriteFile(f, []byte(`{"now": "2026-11-30T10:00:00Z", "signalz": []}`), 0o644)
	for _, p := range []Params{{}, {Input: "/nonexistent"}, {Input: f}} {
		if _, err := Run(p); !tasks.IsUsage(err) {
			t.Errorf("Run(%+v) = %v, want a usage error", p, err)
		}
	}
	in := policy.Input{Now: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(in)
	os.WriteFile(f, b, 0o644)
	d, err := Run(Params{Input: f, Mode: "shadow"})
	if err != nil || d.Mode != policy.Shadow || d.Verdict != policy.Proceed {
		t.Errorf("%v %+v", err, d)
	}
}
