package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The end-to-end tests build the real binary once and run it on the demo.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pulsegate-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pulsegate")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic("build pulsegate: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const demo = "../../examples/demo"

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, so.String(), se.String()}
}

func demoArgs(release string, extra ...string) []string {
	return append([]string{"gate", "--config", demo + "/pulsegate.yaml", "--release", demo + "/releases/" + release}, extra...)
}

func TestDemoBlockedRelease(t *testing.T) {
	r := run(t, demoArgs("payments-api.yaml", "-o", "json")...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (block); stderr:\n%s", r.code, r.stderr)
	}
	var d struct {
		Verdict    string `json:"verdict"`
		Mode       string `json:"mode"`
		DecisionID string `json:"decision_id"`
		Time       string `json:"time"`
		Reasons    []struct {
			Rule     string `json:"rule"`
			Message  string `json:"message"`
			Evidence []struct {
				SignalID string `json:"signal_id"`
				Target   string `json:"target"`
			} `json:"evidence"`
		} `json:"reasons"`
		Risk struct {
			Score         float64 `json:"score"`
			Contributions []struct {
				Points float64 `json:"points"`
			} `json:"contributions"`
		} `json:"risk"`
		Targets []struct {
			Kind, Name, Namespace, Relation, Reason string
		} `json:"targets"`
		Sources []struct {
			Name, Type, Status string
			Records, Rejected  *int
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("decode decision: %v\n%s", err, r.stdout)
	}
	if d.Verdict != "block" || d.Mode != "enforce" || d.DecisionID == "" || d.Time != "2026-11-30T10:00:00Z" {
		t.Errorf("verdict %q mode %q id %q time %q", d.Verdict, d.Mode, d.DecisionID, d.Time)
	}
	var sawFalco bool
	for _, rs := range d.Reasons {
		if rs.Rule == "" || rs.Message == "" {
			t.Errorf("reason without rule or message: %+v", rs)
		}
		if rs.Rule == "severe-finding" {
			if len(rs.Evidence) == 0 || rs.Evidence[0].SignalID == "" || rs.Evidence[0].Target == "" {
				t.Errorf("severe-finding without signal and target evidence: %+v", rs)
			}
			if strings.Contains(rs.Message, "Redirect STDOUT/STDIN to Network Connection in Container") && strings.Contains(rs.Message, "ip-10-0-2-22") {
				sawFalco = true
			}
		}
	}
	if !sawFalco {
		t.Errorf("no reason names the Falco rule and the compromised node: %+v", d.Reasons)
	}
	sum := 0.0
	for _, c := range d.Risk.Contributions {
		sum += c.Points
	}
	if d.Risk.Score <= 0 || d.Risk.Score > 100 || abs(sum-d.Risk.Score) > 0.011 {
		t.Errorf("risk score %v, contributions add up to %v", d.Risk.Score, sum)
	}
	if len(d.Targets) == 0 {
		t.Fatal("no targets")
	}
	for _, tg := range d.Targets {
		if tg.Kind == "" || tg.Name == "" || tg.Relation == "" || tg.Reason == "" {
			t.Errorf("incomplete target %+v", tg)
		}
	}
	if len(d.Sources) != 3 {
		t.Fatalf("sources: %+v", d.Sources)
	}
	for _, s := range d.Sources {
		if s.Name == "" || s.Type == "" || s.Status == "" || s.Records == nil || s.Rejected == nil {
			t.Errorf("incomplete source %+v", s)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestDemoProceedRelease(t *testing.T) {
	r := run(t, demoArgs("storefront-web.yaml", "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	var d struct{ Verdict string }
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Verdict != "proceed" {
		t.Fatalf("verdict %q, err %v", d.Verdict, err)
	}
}

func TestDemoTextAndMarkdown(t *testing.T) {
	r := run(t, demoArgs("payments-api.yaml")...)
	if r.code != 1 || !strings.HasPrefix(r.stdout, "BLOCK: ") || !strings.Contains(r.stdout, "Why:") {
		t.Errorf("text report (exit %d):\n%s", r.code, r.stdout)
	}
	r = run(t, demoArgs("storefront-web.yaml", "-o", "markdown")...)
	if r.code != 0 || !strings.Contains(r.stdout, "pulsegate: PROCEED") {
		t.Errorf("markdown report (exit %d):\n%s", r.code, r.stdout)
	}
}

func TestShadowModeExitsZero(t *testing.T) {
	r := run(t, demoArgs("payments-api.yaml", "--mode", "shadow")...)
	if r.code != 0 || !strings.Contains(r.stdout, "WOULD BLOCK") {
		t.Errorf("shadow: exit %d, report:\n%s", r.code, r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badcfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badcfg, []byte("inventory: x.json\ntelemetry:\n  - type: falco\n    path: f.jsonl\n    colour: blue\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string // the message must name the offending thing
	}{
		{"unknown flag", demoArgs("payments-api.yaml", "--frobnicate"), "--frobnicate"},
		{"unknown output", demoArgs("payments-api.yaml", "-o", "yaml"), `"yaml"`},
		{"unknown config key", []string{"gate", "--config", badcfg, "--release", demo + "/releases/payments-api.yaml"}, `line 5: unknown key "colour"`},
		{"unknown telemetry type", demoArgs("payments-api.yaml", "--telemetry", "splunk=x.json"), `"splunk"`},
		{"bad telemetry flag", demoArgs("payments-api.yaml", "--telemetry", "falco"), `"falco"`},
		{"bad now", demoArgs("payments-api.yaml", "--now", "yesterday"), `"yesterday"`},
		{"unknown mode", demoArgs("payments-api.yaml", "--mode", "lenient"), `"lenient"`},
		{"missing release", []string{"gate", "--inventory", demo + "/inventory.json"}, "--release"},
		{"unknown command", []string{"deploy"}, `"deploy"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not name %s:\n%s", tc.want, r.stderr)
			}
		})
	}
}

func TestMalformedTelemetryLineIsCountedNotFatal(t *testing.T) {
	src, err := os.ReadFile(demo + "/telemetry/falco.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	// Line 3 becomes garbage; everything else stays.
	lines[2] = "{\"rule\": \"broken\", \"time\": \n"
	f := filepath.Join(t.TempDir(), "falco.jsonl")
	os.WriteFile(f, []byte(strings.Join(lines, "")), 0o644)
	r := run(t, "gate", "--inventory", demo+"/inventory.json", "--release", demo+"/releases/payments-api.yaml",
		"--now", "2026-11-30T10:00:00Z", "--telemetry", "falco="+f, "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the rest of the file still shows the reverse shell); stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, f+":3: ") {
		t.Errorf("stderr does not name %s:3:\n%s", f, r.stderr)
	}
	var d struct {
		Sources []struct {
			Records, Rejected int
		}
	}
	json.Unmarshal([]byte(r.stdout), &d)
	if len(d.Sources) != 1 || d.Sources[0].Rejected != 1 || d.Sources[0].Records != len(lines)-1 {
		t.Errorf("sources %+v, want 1 rejected of %d records", d.Sources, len(lines)-1)
	}
}

func TestStaleSourceFailsClosed(t *testing.T) {
	// As of a day later, every source is stale: the proceeding release blocks.
	r := run(t, demoArgs("storefront-web.yaml", "--now", "2026-12-01T10:00:00Z", "-o", "json")...)
	if r.code != 1 || !strings.Contains(r.stdout, `"source-stale"`) {
		t.Errorf("exit %d, want 1 with source-stale:\n%s", r.code, r.stdout)
	}
}

func TestNormalize(t *testing.T) {
	r := run(t, "normalize", "--type", "falco", demo+"/telemetry/falco.jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	n := strings.Count(r.stdout, "\n")
	src, _ := os.ReadFile(demo + "/telemetry/falco.jsonl")
	if want := bytes.Count(src, []byte("\n")); n != want {
		t.Errorf("%d signals for %d records", n, want)
	}
	r = run(t, "normalize", "--type", "nope")
	if r.code != 2 {
		t.Errorf("unknown type: exit %d", r.code)
	}
}
