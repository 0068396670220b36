// Package policy benchmarks pulsegate's policy evaluation: the built-in CEL
// policy beside the same rules written directly in Go (the Go-coded default
// policy pulsegate had before its rules moved to CEL), on the same inputs.
package policy

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/bench"
	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/store"
)

var now = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// severities: "mixed" follows the demo's telemetry (most signals are
// informational or low); "critical" makes every signal a blocking finding.
var severities = map[string][]signal.Severity{
	"mixed":        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 5},
	"all-critical": {5},
}

// input builds a release with nTargets targets (pods, nodes, a namespace)
// and nSignals matched signals from 3 sources and 40 rules over the last
// hour, seeded.
func input(nTargets, nSignals int, sevs []signal.Severity) policy.Input {
	rng := rand.New(rand.NewPCG(1, uint64(nSignals)))
	in := policy.Input{Now: now, Mode: policy.Enforce}
	for i := 0; i < nTargets; i++ {
		t := correlate.Target{Kind: "Pod", Namespace: "payments", Name: fmt.Sprintf("api-%d", i), Relation: correlate.ReplacedPod, Workloads: []string{"Deployment payments/api"}}
		switch {
		case i == 0:
			t = correlate.Target{Kind: "Namespace", Name: "payments", Relation: correlate.Namespace, Sensitivity: "high", Workloads: []string{"Deployment payments/api"}}
		case i%5 == 0:
			t = correlate.Target{Kind: "Node", Name: fmt.Sprintf("node-%d", i), Relation: correlate.EligibleNode, Workloads: []string{"Deployment payments/api"}}
		}
		in.Targets = append(in.Targets, t)
	}
	sources := []string{"falco", "tetragon", "k8s-audit"}
	for i := 0; i < nSignals; i++ {
		src := sources[rng.IntN(len(sources))]
		t := in.Targets[rng.IntN(nTargets)]
		s := signal.Signal{
			ID: fmt.Sprintf("%024x", rng.Uint64()), Time: now.Add(-time.Duration(rng.IntN(3600)) * time.Second),
			Source: signal.SourceRef{Name: src, Type: src}, Product: strings.ToUpper(src[:1]) + src[1:], ClassUID: 2004,
			Severity: sevs[rng.IntN(len(sevs))], Rule: fmt.Sprintf("rule %d", rng.IntN(40)),
			Asset: signal.Asset{Namespace: "payments", Pod: t.Name, Node: "node-5"}, Raw: signal.RawRef{File: src + ".jsonl", Line: i + 1},
		}
		s.Score = s.Severity.Score()
		in.Signals = append(in.Signals, policy.Match{Signal: s, Target: t.String(), Via: "pod"})
	}
	for _, s := range sources {
		a := 3.0
		in.Sources = append(in.Sources, policy.SourceStatus{Name: s, Type: s, Status: store.Fresh, AgeSeconds: &a, MaxAge: "15m0s", FailMode: policy.FailClosed, Detail: "fresh"})
	}
	in.Risk = risk.Risk{Score: 64, Contributions: []risk.Contribution{{Factor: "signal", SignalID: in.Signals[0].Signal.ID, Rule: "rule 1", Severity: "high", Target: in.Signals[0].Target, Points: 40}}}
	return in
}

func BenchmarkDefaultPolicy(b *testing.B) {
	pol := policy.Default()
	for _, sev := range []string{"mixed", "all-critical"} {
		for _, n := range []int{100, 1000, 10000} {
			in := input(50, n, severities[sev])
			b.Run(fmt.Sprintf("severity=%s/targets=50/signals=%d/impl=cel", sev, n), func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				cpu := bench.CPUTime()
				for b.Loop() {
					if _, err := policy.Evaluate(pol, in); err != nil {
						b.Fatal(err)
					}
				}
				report(b, bench.CPUTime()-cpu)
			})
			b.Run(fmt.Sprintf("severity=%s/targets=50/signals=%d/impl=go", sev, n), func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				cpu := bench.CPUTime()
				for b.Loop() {
					goDefault(in)
				}
				report(b, bench.CPUTime()-cpu)
			})
		}
	}
}

// report adds the CPU time per evaluation: on a shared machine it measures
// the work far more steadily than the wall clock.
func report(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// TestSameReasons checks that the Go baseline computes what the CEL policy
// does, so that the comparison is fair.
func TestSameReasons(t *testing.T) {
	for _, sev := range []string{"mixed", "all-critical"} {
		in := input(50, 2000, severities[sev])
		d, err := policy.Evaluate(policy.Default(), in)
		if err != nil {
			t.Fatal(err)
		}
		got := goDefault(in)
		if len(got) != len(d.Reasons) {
			t.Fatalf("%s: go %d reasons, cel %d", sev, len(got), len(d.Reasons))
		}
		for i := range got {
			if got[i] != d.Reasons[i].Message {
				t.Errorf("%s: reason %d:\ngo  %s\ncel %s", sev, i, got[i], d.Reasons[i].Message)
			}
		}
	}
}

// goDefault is the default policy written in Go, as pulsegate had it before
// the rules moved to CEL: source states, severe findings grouped by source
// rule and target (at most 10, then a count), and the risk threshold. It
// returns the reasons' messages.
func goDefault(in policy.Input) []string {
	var out []string
	for _, s := range in.Sources {
		if (s.Status == store.Stale || s.Status == store.Unavailable) && s.FailMode == policy.FailClosed {
			out = append(out, fmt.Sprintf("source %q (%s) is %s: %s; fail-closed blocks", s.Name, s.Type, s.Status, s.Detail))
		}
	}
	targets := map[string]*correlate.Target{}
	for i := range in.Targets {
		targets[in.Targets[i].String()] = &in.Targets[i]
	}
	type finding struct {
		m *policy.Match
		t *correlate.Target
	}
	best := map[string]*finding{}
	var keys []string
	for i := range in.Signals {
		m := &in.Signals[i]
		s := &m.Signal
		if s.Heartbeat || !s.Severity.AtLeast(signal.SeverityHigh) || in.Now.Sub(s.Time) > time.Hour {
			continue
		}
		t := targets[m.Target]
		k := s.Source.Name + "\x00" + s.Rule + "\x00" + t.ID()
		f := best[k]
		if f == nil {
			best[k] = &finding{m, t}
			keys = append(keys, k)
			continue
		}
		if worse(s, &f.m.Signal) {
			f.m = m
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := &best[keys[i]].m.Signal, &best[keys[j]].m.Signal
		if a.Severity != b.Severity || !a.Time.Equal(b.Time) {
			return worse(a, b)
		}
		return keys[i] < keys[j]
	})
	for i, k := range keys {
		if i == 10 {
			out = append(out, fmt.Sprintf("and %d more findings at or above high", len(keys)-i))
			break
		}
		f := best[k]
		s := &f.m.Signal
		out = append(out, fmt.Sprintf("%s %q (%s) %s %s", s.Product, s.Rule, s.Severity, ago(in.Now.Sub(s.Time)), where(f.t, s.Asset, f.m.Via)))
	}
	if in.Risk.Score >= 70 {
		out = append(out, fmt.Sprintf("risk score %.0f reaches the threshold 70", in.Risk.Score))
	}
	return out
}

func worse(a, b *signal.Signal) bool {
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.ID < b.ID
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	default:
		return fmt.Sprintf("%.1fh ago", d.Hours())
	}
}

func where(t *correlate.Target, a signal.Asset, via string) string {
	wl := strings.Join(t.Workloads, ", ")
	in := ""
	if t.Kind == "Node" && a.Pod != "" && via != "node" {
		in = fmt.Sprintf(" (in pod %s/%s)", a.Namespace, a.Pod)
	}
	switch t.Relation {
	case correlate.ReplacedPod:
		return fmt.Sprintf("in pod %s/%s, which the release replaces (%s)", t.Namespace, t.Name, wl)
	case correlate.EligibleNode:
		return fmt.Sprintf("on node %s%s, where new pods of %s can land", t.Name, in, wl)
	case correlate.Namespace:
		return fmt.Sprintf("in namespace %s, where %s is deployed", t.Name, wl)
	}
	return "on " + t.String()
}
