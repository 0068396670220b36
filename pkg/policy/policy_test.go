package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/store"
)

var now = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func targets() []correlate.Target {
	return []correlate.Target{
		{Kind: "Node", Name: "n1", Relation: correlate.EligibleNode, Workloads: []string{"Deployment a/web"}},
		{Kind: "Namespace", Name: "a", Relation: correlate.Namespace, Workloads: []string{"Deployment a/web"}},
	}
}

func sig(sev signal.Severity, age time.Duration) signal.Signal {
	return signal.Signal{ID: "s", Time: now.Add(-age), Severity: sev, Rule: "Some rule", Product: "Falco",
		Source: signal.SourceRef{Name: "falco", Type: "falco"}, Asset: signal.Asset{Node: "n1"}}
}

func input(sigs ...signal.Signal) Input {
	in := Input{Now: now, Mode: Enforce, Targets: targets()}
	for _, s := range sigs {
		in.Signals = append(in.Signals, Match{Signal: s, Target: "node n1", Via: "node"})
	}
	return in
}

func eval(t *testing.T, p *Policy, in Input) Decision {
	t.Helper()
	d, err := Evaluate(p, in)
	if err != nil {
		t.Fatal(err)
	}
	return d
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
		{"other", signal.SeverityOther, time.Minute, Proceed},
		{"critical older than the window", signal.SeverityCritical, 2 * time.Hour, Proceed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := eval(t, Default(), input(sig(tc.sev, tc.age)))
			if d.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (%s)", d.Verdict, tc.want, d.Summary)
			}
			if tc.want == Block {
				r := d.Reasons[0]
				want := `Falco "Some rule" (` + tc.sev.String() + `) 1m ago on node n1, where new pods of Deployment a/web can land`
				if r.Rule != RuleSevereFinding || r.Message != want {
					t.Errorf("reason %+v\nwant message %s", r, want)
				}
				if len(r.Evidence) != 1 || r.Evidence[0].SignalID != "s" || r.Evidence[0].Target != "node n1" || r.Evidence[0].Time == "" {
					t.Errorf("evidence %+v", r.Evidence)
				}
			}
		})
	}
}

// One reason per source rule and target: the most severe, then the newest.
func TestSevereFindingGroups(t *testing.T) {
	a := sig(signal.SeverityHigh, time.Minute)
	a.ID = "a"
	b := sig(signal.SeverityCritical, 5*time.Minute)
	b.ID = "b"
	c := sig(signal.SeverityHigh, 2*time.Minute)
	c.ID, c.Rule = "c", "Other rule"
	in := input(a, b, c)
	in.Signals = append(in.Signals, Match{Signal: c, Target: "namespace a", Via: "namespace"})
	d := eval(t, Default(), in)
	var got []string
	for _, r := range d.Reasons {
		got = append(got, r.Evidence[0].SignalID+"@"+r.Evidence[0].Target)
	}
	if want := "b@node n1 c@namespace a c@node n1"; strings.Join(got, " ") != want {
		t.Errorf("reasons %v, want %s", got, want)
	}
}

func TestMaxReasons(t *testing.T) {
	var sigs []signal.Signal
	for i := 0; i < 13; i++ {
		s := sig(signal.SeverityHigh, time.Minute)
		s.ID, s.Rule = string(rune('a'+i)), "rule "+string(rune('a'+i))
		sigs = append(sigs, s)
	}
	d := eval(t, Default(), input(sigs...))
	if len(d.Reasons) != 11 || d.Reasons[10].Message != "and 3 more findings at or above high" {
		t.Errorf("%d reasons, last %+v", len(d.Reasons), d.Reasons[len(d.Reasons)-1])
	}
}

func TestHeartbeatNeverBlocks(t *testing.T) {
	s := sig(signal.SeverityCritical, time.Minute)
	s.Heartbeat = true
	if d := eval(t, Default(), input(s)); d.Verdict != Proceed {
		t.Errorf("a heartbeat blocked: %s", d.Summary)
	}
}

func TestRiskThreshold(t *testing.T) {
	in := input()
	in.Risk = risk.Risk{Score: 70, Contributions: []risk.Contribution{
		{Factor: "signal", SignalID: "x", Rule: "r", Severity: "high", Target: "node n1", Points: 60},
		{Factor: "anomaly", Points: 10},
	}}
	d := eval(t, Default(), in)
	if d.Verdict != Block || d.Reasons[0].Rule != RuleRiskThreshold {
		t.Fatalf("score at threshold: %s", d.Summary)
	}
	want := `risk score 70 reaches the threshold 70; the largest part, 60 points, is "r" (high) on node n1`
	if d.Reasons[0].Message != want {
		t.Errorf("message %q\nwant    %q", d.Reasons[0].Message, want)
	}
	if ev := d.Reasons[0].Evidence; len(ev) != 1 || ev[0].SignalID != "x" {
		t.Errorf("evidence %+v", ev)
	}
	if d.Risk.Threshold != 70 {
		t.Errorf("threshold %v", d.Risk.Threshold)
	}
	in.Risk.Score = 69.99
	if d := eval(t, Default(), in); d.Verdict != Proceed {
		t.Errorf("score below threshold: %s", d.Summary)
	}
	in.Risk = risk.Risk{Score: 75}
	if d := eval(t, Default(), in); d.Reasons[0].Message != "risk score 75 reaches the threshold 70" {
		t.Errorf("no contributions: %q", d.Reasons[0].Message)
	}
}

var noRules = func() *Policy {
	p, err := Parse([]byte("name: empty\nrules: []\n"))
	if err != nil {
		panic(err)
	}
	return p
}()

// Every fail mode x source state x mode, under the default policy and under
// one with no rules at all: a fail-closed source that is stale or
// unavailable never yields a proceed, a source is never ignored in silence,
// and shadow mode never enforces and says it would block.
func TestFailModesAndStates(t *testing.T) {
	for _, pol := range []*Policy{Default(), noRules} {
		for _, fm := range []FailMode{FailClosed, FailOpen, FailPolicy, ""} {
			for _, st := range []store.State{store.Fresh, store.NoData, store.Stale, store.Unavailable} {
				for _, mode := range []Mode{Enforce, Shadow} {
					name := pol.Name + "/" + string(fm) + "/" + string(st) + "/" + string(mode)
					in := input()
					in.Mode = mode
					in.Sources = []SourceStatus{{Name: "falco", Type: "falco", Status: st, FailMode: fm, Detail: "d"}}
					d := eval(t, pol, in)
					bad := st == store.Stale || st == store.Unavailable
					closed := fm == FailClosed || fm == "" // "" is the policy's: fail-closed
					want := Proceed
					if bad && closed {
						want = Block
					}
					if d.Verdict != want {
						t.Errorf("%s: verdict %s, want %s", name, d.Verdict, want)
					}
					if d.Enforced != (mode == Enforce) {
						t.Errorf("%s: enforced %v", name, d.Enforced)
					}
					if bad && !closed && len(d.Warnings) == 0 {
						t.Errorf("%s: a %s source proceeds without a warning", name, st)
					}
					if !bad && len(d.Warnings) != 0 {
						t.Errorf("%s: warnings %q", name, d.Warnings)
					}
					if want == Block {
						if r := d.Reasons[0]; r.Rule != "source-"+string(st) || r.Evidence[0].Source != "falco" || !strings.HasSuffix(r.Message, "; fail-closed blocks") {
							t.Errorf("%s: reason %+v", name, r)
						}
						if len(d.Reasons) != 1 {
							t.Errorf("%s: %d reasons", name, len(d.Reasons))
						}
					}
					if mode == Shadow && want == Block && !strings.HasPrefix(d.Summary, "WOULD BLOCK") {
						t.Errorf("%s: shadow summary %q", name, d.Summary)
					}
					if d.Sources[0].FailMode == "" || d.Sources[0].Status != st {
						t.Errorf("%s: source %+v", name, d.Sources[0])
					}
				}
			}
		}
	}
}

// The policy fail mode lets a rule decide.
func TestFailModePolicyRule(t *testing.T) {
	p, err := Parse([]byte(`
name: p
rules:
  - name: stale-sensitive
    verdict: block
    expression: sources.filter(s, s.fail_mode == "policy" && s.status != "fresh" && s.status != "no_data" && targets.exists(t, t.sensitivity == "high"))
    message: 'source {{item.name}} is {{item.status}} and the release touches a sensitive target'
`))
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.Sources = []SourceStatus{{Name: "falco", Type: "falco", Status: store.Stale, FailMode: FailPolicy}}
	if d := eval(t, p, in); d.Verdict != Proceed || len(d.Warnings) != 1 {
		t.Errorf("not sensitive: %s %q", d.Verdict, d.Warnings)
	}
	in.Targets[0].Sensitivity = "high"
	if d := eval(t, p, in); d.Verdict != Block || d.Reasons[0].Rule != "stale-sensitive" || len(d.Warnings) != 0 {
		t.Errorf("sensitive: %s %+v %q", d.Verdict, d.Reasons, d.Warnings)
	}
}

func TestBreakGlass(t *testing.T) {
	in := input(sig(signal.SeverityCritical, time.Minute))
	bg := &BreakGlass{Who: "alice@example.com", Why: "hotfix for the outage", Ticket: "INC-4411", Expires: now.Add(2 * time.Hour)}
	in.BreakGlass = bg
	d := eval(t, Default(), in)
	if d.Verdict != Proceed || len(d.Reasons) != 0 || d.BreakGlass == nil || len(d.BreakGlass.Overridden) != 1 {
		t.Fatalf("break-glass: %s %+v %+v", d.Verdict, d.Reasons, d.BreakGlass)
	}
	if !strings.HasPrefix(d.Summary, "PROCEED by break-glass (alice@example.com, ticket INC-4411") || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "hotfix for the outage") {
		t.Errorf("summary %q warnings %q", d.Summary, d.Warnings)
	}
	if bg.Overridden != nil {
		t.Error("Evaluate changed its input")
	}
	for name, b := range map[string]*BreakGlass{
		"expired":    {Who: "a", Why: "b", Ticket: "c", Expires: now.Add(-time.Second)},
		"at now":     {Who: "a", Why: "b", Ticket: "c", Expires: now},
		"too long":   {Who: "a", Why: "b", Ticket: "c", Expires: now.Add(MaxBreakGlass + time.Hour)},
		"no ticket":  {Who: "a", Why: "b", Expires: now.Add(time.Hour)},
		"no who":     {Why: "b", Ticket: "c", Expires: now.Add(time.Hour)},
		"no expires": {Who: "a", Why: "b", Ticket: "c"},
	} {
		in.BreakGlass = b
		if _, err := Evaluate(Default(), in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseBreakGlass(t *testing.T) {
	bg, err := ParseBreakGlass([]byte("who: alice\nwhy: outage\nticket: INC-1\nexpires: 2026-11-30T12:00:00Z\n"))
	if err != nil || bg.Expires != now.Add(2*time.Hour) {
		t.Fatalf("%v %+v", err, bg)
	}
	for in, want := range map[string]string{
		"who: a\nwhy: b\nticket: c\nexpires: tomorrow\n":                    `expires: "tomorrow" is not an RFC 3339 time`,
		"who: a\nwhy: b\nexpires: 2026-11-30T12:00:00Z\n":                   "missing ticket",
		"who: a\nwhy: b\nticket: c\nexpires: 2026-11-30T12:00:00Z\nby: x\n": `line 5: unknown key "by"`,
		"": "missing who, why, ticket, expires",
	} {
		if _, err := ParseBreakGlass([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBreakGlass(%q) = %v, want %s", in, err, want)
		}
	}
}

func FuzzParseBreakGlass(f *testing.F) {
	f.Add([]byte("who: alice\nwhy: outage\nticket: INC-1\nexpires: 2026-11-30T12:00:00Z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bg, err := ParseBreakGlass(b); err == nil {
			_ = bg.Check(now)
		}
	})
}

func TestParse(t *testing.T) {
	p, err := Parse([]byte(DefaultYAML))
	if err != nil {
		t.Fatal(err)
	}
	if p.Params["risk_threshold"] != 70 || p.Params["block_severity"] != "high" || time.Duration(p.Window) != time.Hour || len(p.Rules) != 5 {
		t.Errorf("default YAML parses to %+v", p)
	}
	// Params merge key by key; the rules stay the default's.
	p, err = Parse([]byte("params:\n  risk_threshold: 50\n"))
	if err != nil || p.Params["risk_threshold"] != 50 || p.Params["block_severity"] != "high" || len(p.Rules) != 5 {
		t.Fatalf("params override: %v %+v", err, p)
	}
	for _, tc := range []struct{ in, want string }{
		{"params: {}\nblok_severity: low\n", `p.yaml:2: unknown key "blok_severity"`},
		{"window: soon\n", `"soon" is not a duration`},
		{"window: -1h\n", "p.yaml:1: window: must be positive"},
		{"fail_mode: maybe\n", `p.yaml:1: fail_mode: unknown fail mode "maybe"`},
		{"rules:\n  - name: a\n    verdict: block\n    expresion: true\n    message: m\n", `p.yaml:4: unknown key "expresion"`},
		{"rules:\n  - name: a\n    verdict: deny\n    expression: 'true'\n    message: m\n", `p.yaml:2: rule 1 "a": verdict: "deny", want block or warn`},
		{"rules:\n  - name: A b\n    verdict: block\n    expression: 'true'\n    message: m\n", `p.yaml:2: rule 1 "A b": name`},
		{"rules:\n  - name: a\n    verdict: block\n    expression: 'true'\n    message: m\n  - name: a\n    verdict: warn\n    expression: 'true'\n    message: m\n", `p.yaml:6: rule 2 "a": name: used twice`},
		{"rules:\n  - name: a\n    verdict: block\n    message: m\n", `p.yaml:2: rule 1 "a": missing key "expression"`},
		// CEL errors name the rule and the line of the expression.
		{"rules:\n  - name: a\n    verdict: block\n    expression: signal.size() > 0\n    message: m\n", `p.yaml:4: rule "a": expression: undeclared reference to 'signal' (in container '') (column 1)`},
		{"rules:\n  - name: a\n    verdict: block\n    expression: |\n      risk.score > 1 &&\n      risk.score <\n    message: m\n", `p.yaml:6: rule "a": expression: Syntax error`},
		{"rules:\n  - name: a\n    verdict: block\n    expression: risk.score + 1\n    message: m\n", `want a bool or a list`},
		{"rules:\n  - name: a\n    verdict: block\n    expression: 'true'\n    message: 'x {{risk.scor + }}'\n", `p.yaml:5: rule "a": message:`},
		{"rules:\n  - name: a\n    verdict: block\n    expression: 'true'\n    message: 'x {{risk.score'\n", `a {{ without its }}`},
		{"rules:\n  - name: a\n    verdict: block\n    expression: risk.score > params.treshold\n    message: m\n", `the rules read params treshold, which the policy does not set`},
	} {
		if _, err := ParseFile("p.yaml", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %s", tc.in, err, tc.want)
		} else if !strings.HasPrefix(err.Error(), "p.yaml:") {
			t.Errorf("Parse(%q) = %v, want the file named", tc.in, err)
		}
	}
	if p, err := Parse(nil); err != nil || p.Params["risk_threshold"] != 70 || len(p.Rules) != 5 {
		t.Errorf("empty policy: %v %+v", err, p)
	}
}

func TestMessagesAndEvidence(t *testing.T) {
	p, err := Parse([]byte(`
name: t
params: {teams: [payments, data], limit: 2}
rules:
  - name: formats
    verdict: warn
    expression: "true"
    message: 'n={{1}} d={{2.5}} b={{true}} s={{"x"}} l={{params.teams}} t={{now}} du={{duration("90s")}} null={{null}} q={{quote("a\"b")}} f={{"%.1f".format([1.25])}}'
  - name: per-target
    verdict: warn
    expression: targets
    message: '{{item.display}} ({{item.relation}})'
    evidence: '{"target": item.display, "rule": "custom"}'
  - name: bad-evidence
    verdict: warn
    expression: "true"
    message: m
    evidence: "1"
  - name: runtime-error
    verdict: block
    expression: signals.exists(s, s.no_such_field == 1)
    message: m
`))
	if err != nil {
		t.Fatal(err)
	}
	d := eval(t, p, input(sig(signal.SeverityLow, time.Minute)))
	want := []string{
		`n=1 d=2.5 b=true s=x l=payments, data t=2026-11-30T10:00:00Z du=1m30s null= q="a\"b" f=1.2`,
		"node n1 (eligible-node)", "namespace a (namespace)",
		`rule "bad-evidence" could not be evaluated: evidence: evidence must be signals, sources, targets, contributions, maps or lists of them, got int`,
	}
	if strings.Join(d.Warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(d.Warnings, "\n"), strings.Join(want, "\n"))
	}
	if d.Verdict != Block || d.Reasons[0].Rule != RulePolicyError || !strings.Contains(d.Reasons[0].Message, `no field "no_such_field" on a signal`) {
		t.Errorf("runtime error: %s %+v", d.Verdict, d.Reasons)
	}
}

// A rule that costs more than the limit blocks, and the same input always
// costs the same, so the outcome is deterministic.
func TestCostLimit(t *testing.T) {
	p, err := Parse([]byte(`
name: t
cost_limit: 5000
rules:
  - name: quadratic
    verdict: block
    expression: signals.exists(a, signals.exists(b, a.id == b.id + "x"))
    message: m
`))
	if err != nil {
		t.Fatal(err)
	}
	var sigs []signal.Signal
	for i := 0; i < 100; i++ {
		sigs = append(sigs, sig(signal.SeverityLow, time.Minute))
	}
	d := eval(t, p, input(sigs...))
	if d.Verdict != Block || !strings.Contains(d.Reasons[0].Message, "cost limit") {
		t.Errorf("%s %+v", d.Verdict, d.Reasons)
	}
	if d := eval(t, p, input(sigs[:3]...)); d.Verdict != Proceed {
		t.Errorf("small input: %s", d.Summary)
	}
}

func TestInputErrors(t *testing.T) {
	in := input(sig(signal.SeverityLow, time.Minute))
	in.Signals[0].Target = "node nope"
	if _, err := Evaluate(Default(), in); err == nil || !strings.Contains(err.Error(), `target "node nope" is not one of the targets`) {
		t.Errorf("unknown target: %v", err)
	}
	in = input()
	in.Sources = []SourceStatus{{Name: "x", Status: "broken"}}
	if _, err := Evaluate(Default(), in); err == nil || !strings.Contains(err.Error(), `unknown status "broken"`) {
		t.Errorf("unknown status: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(DefaultYAML))
	f.Add([]byte("window: [1\n"))
	f.Add([]byte("rules:\n  - name: a\n    verdict: block\n    expression: '{{'\n    message: '{{}}'\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err == nil {
			_, _ = Evaluate(p, input(sig(signal.SeverityHigh, time.Minute)))
		}
	})
}

func TestDecisionIDStable(t *testing.T) {
	in := input(sig(signal.SeverityHigh, time.Minute))
	in.Inputs = map[string]string{"policy": "sha256:1", "release": "sha256:2"}
	a, b := eval(t, Default(), in), eval(t, Default(), in)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if a.DecisionID != b.DecisionID || len(a.DecisionID) != 36 || string(ja) != string(jb) {
		t.Errorf("ids %q %q", a.DecisionID, b.DecisionID)
	}
	in.Inputs["release"] = "sha256:3"
	if c := eval(t, Default(), in); c.DecisionID == a.DecisionID {
		t.Error("another input, same id")
	}
	in.Signals[0].Signal.ID = "other"
	if c := eval(t, Default(), in); c.Inputs["signals"] == a.Inputs["signals"] {
		t.Error("other signals, same digest")
	}
}

// The input survives a JSON round trip with the same decision: this is
// what `pulsegate gate --record` and `pulsegate decide` rely on.
func TestInputJSONRoundTrip(t *testing.T) {
	in := input(sig(signal.SeverityCritical, time.Minute))
	in.Sources = []SourceStatus{{Name: "falco", Type: "falco", Status: store.Fresh, MaxAge: "15m0s"}}
	in.Risk = risk.Risk{Score: 80, Contributions: []risk.Contribution{{Factor: "signal", SignalID: "s", Points: 80}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back Input
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	d1, d2 := eval(t, Default(), in), eval(t, Default(), back)
	j1, _ := json.Marshal(d1)
	j2, _ := json.Marshal(d2)
	if string(j1) != string(j2) {
		t.Errorf("round trip changed the decision:\n%s\n%s", j1, j2)
	}
}

var _ = errors.New

// Iterating a map (params, attrs) gives its keys in order, every time.
func TestMapIterationOrder(t *testing.T) {
	p, err := Parse([]byte(`
name: t
params: {owners: {zeta: 1, alpha: 2, mike: 3, bravo: 4, yankee: 5, kilo: 6, echo: 7}}
rules:
  - name: keys
    verdict: warn
    expression: "true"
    message: '{{params.owners.map(k, k).join(",")}} {{signals.map(s, s.attrs.map(k, k).join(",")).join(";")}}'
`))
	if err != nil {
		t.Fatal(err)
	}
	s := sig(signal.SeverityLow, time.Minute)
	s.Attrs = map[string]string{"user": "a", "verb": "b", "code": "c", "image": "d", "pid": "e"}
	for i := 0; i < 20; i++ {
		d := eval(t, p, input(s))
		if want := "alpha,bravo,echo,kilo,mike,yankee,zeta code,image,pid,user,verb"; len(d.Warnings) != 1 || d.Warnings[0] != want {
			t.Fatalf("warnings %q, want %q", d.Warnings, want)
		}
	}
}
