package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/store"
)

// run executes the command line and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil && !strings.Contains(fmt.Sprint(err), "exit") {
		errOut.WriteString(err.Error())
	}
	return Code(err), out.String() + errOut.String()
}

const demo = "../../examples/demo"

// Every fail mode x source state x mode, through the command line: a
// fail-closed source that is stale or unavailable never exits 0 in enforce
// mode, and shadow mode always exits 0 and says it would block.
func TestFailModeExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, fm := range []policy.FailMode{policy.FailClosed, policy.FailOpen, policy.FailPolicy} {
		for _, st := range []store.State{store.Fresh, store.NoData, store.Stale, store.Unavailable} {
			for _, mode := range []policy.Mode{policy.Enforce, policy.Shadow} {
				name := fmt.Sprintf("%s-%s-%s", fm, st, mode)
				in := policy.Input{Now: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), Mode: mode,
					Sources: []policy.SourceStatus{{Name: "falco", Type: "falco", Status: st, FailMode: fm, Detail: "detail"}}}
				b, _ := json.Marshal(in)
				f := filepath.Join(dir, name+".json")
				os.WriteFile(f, b, 0o644)
				code, out := run(t, "decide", "--input", f)
				block := fm == policy.FailClosed && (st == store.Stale || st == store.Unavailable)
				want := 0
				if block && mode == policy.Enforce {
					want = 1
				}
				if code != want {
					t.Errorf("%s: exit %d, want %d\n%s", name, code, want, out)
				}
				if block && mode == policy.Shadow && !strings.HasPrefix(out, "WOULD BLOCK") {
					t.Errorf("%s: shadow output %q", name, out)
				}
				if !block && !strings.HasPrefix(out, "PROCEED") {
					t.Errorf("%s: output %q", name, out)
				}
				if !strings.Contains(out, "falco") || !strings.Contains(out, string(st)) {
					t.Errorf("%s: the source's state is not listed:\n%s", name, out)
				}
			}
		}
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	abs, _ := filepath.Abs(demo)
	body = strings.ReplaceAll(body, "DEMO", abs)
	f := filepath.Join(t.TempDir(), "pulsegate.yaml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGateEnvironments(t *testing.T) {
	cfg := writeConfig(t, `
inventory: DEMO/inventory.json
cluster: prod-eu-1
now: "2026-11-30T10:00:00Z"
environment: prod
environments:
  prod: {fail_mode: fail-closed, mode: enforce}
  dev: {fail_mode: fail-open, mode: shadow}
  staging: {fail_mode: fail-open}
telemetry:
  - {name: falco, type: falco, path: DEMO/telemetry/falco.jsonl}
  - {name: tetragon-eu, type: tetragon, path: /nonexistent/tetragon.jsonl}
`)
	rel := demo + "/releases/storefront-web.yaml"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 1, `source "tetragon-eu" (tetragon) is unavailable`},
		{[]string{"--environment", "prod"}, 1, "fail-closed blocks"},
		{[]string{"--environment", "staging"}, 0, "fail-open, so it does not block"},
		{[]string{"--environment", "dev"}, 0, "mode shadow"},
		{[]string{"--environment", "dev", "--mode", "enforce"}, 0, "fail-open, so it does not block"},
		{[]string{"--environment", "qa"}, 2, `--environment "qa": not one of the configuration's environments (dev, prod, staging)`},
	} {
		code, out := run(t, append([]string{"gate", "--config", cfg, "--release", rel}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
	// A source's own fail mode beats the environment's.
	cfg = writeConfig(t, `
inventory: DEMO/inventory.json
cluster: prod-eu-1
now: "2026-11-30T10:00:00Z"
environments:
  dev: {fail_mode: fail-open}
telemetry:
  - {name: tetragon-eu, type: tetragon, path: /nonexistent/tetragon.jsonl, fail_mode: fail-closed}
`)
	if code, out := run(t, "gate", "--config", cfg, "--release", rel, "--environment", "dev"); code != 1 {
		t.Errorf("source override: exit %d\n%s", code, out)
	}
	if code, out := run(t, "gate", "--config", cfg, "--release", rel, "--environment", "dev", "--mode", "shadow"); code != 0 || !strings.HasPrefix(out, "WOULD BLOCK") {
		t.Errorf("source override in shadow mode: exit %d\n%s", code, out)
	}
}

func TestBreakGlassFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("who: alice@example.com\nwhy: roll back the bad release during INC-4411\nticket: INC-4411\nexpires: 2026-11-30T12:00:00Z\n"), 0o644)
	expired := filepath.Join(dir, "expired.yaml")
	os.WriteFile(expired, []byte("who: alice@example.com\nwhy: x\nticket: INC-1\nexpires: 2026-11-30T09:00:00Z\n"), 0o644)
	incomplete := filepath.Join(dir, "incomplete.yaml")
	os.WriteFile(incomplete, []byte("who: alice@example.com\nexpires: 2026-11-30T12:00:00Z\n"), 0o644)
	args := []string{"gate", "--config", demo + "/pulsegate.yaml", "--release", demo + "/releases/payments-api.yaml"}

	code, out := run(t, append(args, "--break-glass-file", good, "-o", "json")...)
	if code != 0 {
		t.Fatalf("break-glass: exit %d\n%s", code, out)
	}
	var d policy.Decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.Proceed || d.BreakGlass == nil || d.BreakGlass.Ticket != "INC-4411" || len(d.BreakGlass.Overridden) != 3 ||
		d.Inputs["break_glass"] == "" || !strings.Contains(strings.Join(d.Warnings, "\n"), "break-glass by alice@example.com") {
		t.Errorf("decision %+v", d)
	}
	if code, out := run(t, append(args, "--break-glass-file", expired)...); code != 2 || !strings.Contains(out, "expired at 2026-11-30T09:00:00Z") {
		t.Errorf("expired: exit %d\n%s", code, out)
	}
	if code, out := run(t, append(args, "--break-glass-file", incomplete)...); code != 2 || !strings.Contains(out, "missing why, ticket") {
		t.Errorf("incomplete: exit %d\n%s", code, out)
	}
}

func TestPolicyCommands(t *testing.T) {
	code, out := run(t, "policy", "show")
	if code != 0 || out != policy.DefaultYAML {
		t.Errorf("show: exit %d", code)
	}
	if code, out := run(t, "policy", "test", "../../examples/policy"); code != 0 || !strings.Contains(out, "0 failed") {
		t.Errorf("test examples: exit %d\n%s", code, out)
	}
	if code, out := run(t, "policy", "test", "../../pkg/policy/testdata/failing_test.yaml"); code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "verdict: want proceed, got block") {
		t.Errorf("failing suite: exit %d\n%s", code, out)
	}
	if code, _ := run(t, "policy", "test", "../../pkg/policy/testdata/bad_test.yaml"); code != 2 {
		t.Errorf("bad suite: exit %d", code)
	}
	if code, _ := run(t, "policy", "test"); code != 2 {
		t.Errorf("no path: exit %d", code)
	}
	if code, out := run(t, "policy", "check", "../../examples/policy/policy.yaml"); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - name: x\n    verdict: block\n    expression: risk.scor >\n    message: m\n"), 0o644)
	if code, out := run(t, "policy", "check", bad); code != 2 || !strings.Contains(out, bad+`:4: rule "x": expression:`) {
		t.Errorf("check bad: exit %d\n%s", code, out)
	}
}

// decide writes the same evidence as gate: result files for Tekton and Argo.
func TestDecideResults(t *testing.T) {
	dir := t.TempDir()
	code, out := run(t, "decide", "--input", "../../examples/policy/inputs/payments-api.json", "--results-dir", dir)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "verdict")); err != nil || strings.TrimSpace(string(b)) != "block" {
		t.Errorf("verdict file: %q %v", b, err)
	}
}
