package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/store"
)

var now = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func landing() *correlate.LandingSet {
	return &correlate.LandingSet{Targets: []correlate.Target{
		{Kind: "Node", Name: "n1", Relation: correlate.EligibleNode, Workloads: []string{"Deployment a/web"}},
		{Kind: "Namespace", Name: "a", Relation: correlate.Namespace, Workloads: []string{"Deployment a/web"}},
	}}
}

func sig(sev signal.Severity, age time.Duration) signal.Signal {
	return signal.Signal{ID: "s", Time: now.Add(-age), Severity: sev, Rule: "Some rule", Product: "Falco",
		Source: signal.SourceRef{Name: "falco", Type: "falco"}, Asset: signal.Asset{Node: "n1"}}
}

func input(sigs ...signal.Signal) Input {
	in := Input{Now: now, Mode: Enforce, Landing: landing(), Signals: sigs}
	for i := range sigs {
		in.Matches = append(in.Matches, correlate.Match{Signal: i, Target: 0, Via: "node"})
	}
	return in
}

func TestSevereFinding(t *testing.T) {
	for _, tc := range []struct {
		name string
		sev  signal.Severity
		age  time.Duration
		want Verdict
	}{
		{"critical fresh", signal.SeverityCritical, time.Minute, Block},
		{"high fresh", signal.SeverityHigh, time.Minute, Block},
		{"medium fresh", signal.SeverityMedium, time.Minute, Proceed},
		{"low fresh", signal.SeverityLow, time.Minute, Proceed},
		{"informational", signal.SeverityInformational, time.Minute, Proceed},
		{"unknown", signal.SeverityUnknown, time.Minute, Proceed},
		{"critical older than the window", signal.SeverityCritical, 2 * time.Hour, Proceed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(Default(), input(sig(tc.sev, tc.age)))
			if d.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (%s)", d.Verdict, tc.want, d.Summary)
			}
			if tc.want == Block {
				r := d.Reasons[0]
				if r.Rule != RuleSevereFinding || !strings.Contains(r.Message, `"Some rule"`) || !strings.Contains(r.Message, "node n1") {
					t.Errorf("reason %+v", r)
				}
			}
		})
	}
}

func TestHeartbeatNeverBlocks(t *testing.T) {
	s := sig(signal.SeverityCritical, time.Minute)
	s.Heartbeat = true
	if d := Evaluate(Default(), input(s)); d.Verdict != Proceed {
		t.Errorf("a heartbeat blocked: %s", d.Summary)
	}
}

func TestRiskThreshold(t *testing.T) {
	in := input()
	in.Risk = risk.Risk{Score: 70, Contributions: []risk.Contribution{{Factor: "signal", Rule: "r", Points: 70}}}
	if d := Evaluate(Default(), in); d.Verdict != Block || d.Reasons[0].Rule != RuleRiskThreshold {
		t.Errorf("score at threshold: %s", d.Summary)
	}
	in.Risk.Score = 69.99
	if d := Evaluate(Default(), in); d.Verdict != Proceed {
		t.Errorf("score below threshold: %s", d.Summary)
	}
}

// Every fail mode x source state x mode: no fail-closed stale or unavailable
// source ever yields an enforced proceed, and shadow never enforces.
func TestFailModesAndStates(t *testing.T) {
	for _, fm := range []FailMode{FailClosed, FailOpen} {
		for _, st := range []store.State{store.Fresh, store.NoData, store.Stale, store.Unavailable} {
			for _, mode := range []Mode{Enforce, Shadow} {
				in := input()
				in.Mode = mode
				in.Sources = []SourceStatus{{Name: "falco", Type: "falco", Status: st, FailMode: fm, Detail: "d"}}
				d := Evaluate(Default(), in)
				bad := st == store.Stale || st == store.Unavailable
				want := Proceed
				if bad && fm == FailClosed {
					want = Block
				}
				if d.Verdict != want {
					t.Errorf("%s/%s/%s: verdict %s, want %s", fm, st, mode, d.Verdict, want)
				}
				if d.Enforced != (mode == Enforce) {
					t.Errorf("%s/%s/%s: enforced %v", fm, st, mode, d.Enforced)
				}
				if bad && fm == FailOpen && len(d.Warnings) == 0 {
					t.Errorf("%s/%s/%s: fail-open without a warning", fm, st, mode)
				}
				if mode == Shadow && want == Block && !strings.Contains(d.Summary, "WOULD BLOCK") {
					t.Errorf("shadow summary %q", d.Summary)
				}
			}
		}
	}
}

func TestParse(t *testing.T) {
	p, err := Parse([]byte(DefaultYAML))
	if err != nil {
		t.Fatal(err)
	}
	if p.RiskThreshold != 70 || p.BlockSeverity != "high" || time.Duration(p.Window) != time.Hour {
		t.Errorf("default YAML parses to %+v", p)
	}
	for _, tc := range []struct{ in, want string }{
		{"risk_threshold: 50\nblok_severity: low\n", `line 2: unknown key "blok_severity"`},
		{"block_severity: severe\n", `unknown severity "severe"`},
		{"window: soon\n", `"soon" is not a duration`},
		{"risk_threshold: 0\n", "risk_threshold"},
		{"fail_mode: maybe\n", `unknown fail mode "maybe"`},
	} {
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %s", tc.in, err, tc.want)
		}
	}
	if p, err := Parse(nil); err != nil || p.RiskThreshold != 70 {
		t.Errorf("empty policy: %v %+v", err, p)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(DefaultYAML))
	f.Add([]byte("window: [1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b)
	})
}

func TestDecisionIDStable(t *testing.T) {
	in := input(sig(signal.SeverityHigh, time.Minute))
	in.Inputs = map[string]string{"policy": "sha256:1", "release": "sha256:2"}
	a, b := Evaluate(Default(), in), Evaluate(Default(), in)
	if a.DecisionID != b.DecisionID || len(a.DecisionID) != 36 {
		t.Errorf("ids %q %q", a.DecisionID, b.DecisionID)
	}
	in.Inputs["release"] = "sha256:3"
	if c := Evaluate(Default(), in); c.DecisionID == a.DecisionID {
		t.Error("another input, same id")
	}
}
