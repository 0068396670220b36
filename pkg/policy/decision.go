package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/store"
)

// Verdict is the outcome.
type Verdict string

// Verdicts.
const (
	Proceed Verdict = "proceed"
	Block   Verdict = "block"
)

// Rule names, stable for tooling.
const (
	RuleSevereFinding     = "severe-finding"
	RuleRiskThreshold     = "risk-threshold"
	RuleSourceStale       = "source-stale"
	RuleSourceUnavailable = "source-unavailable"
)

// Decision is the gate's answer with everything needed to explain and
// replay it.
type Decision struct {
	DecisionID string    `json:"decision_id"`
	Time       time.Time `json:"time"`
	Verdict    Verdict   `json:"verdict"`
	Mode       Mode      `json:"mode"`
	// Enforced is false in shadow mode: the verdict is recorded, not applied.
	Enforced bool `json:"enforced"`
	// Summary is one line for a person.
	Summary  string               `json:"summary"`
	Reasons  []Reason             `json:"reasons"`
	Warnings []string             `json:"warnings,omitempty"`
	Risk     risk.Risk            `json:"risk"`
	Anomaly  Anomaly              `json:"anomaly"`
	Release  ReleaseInfo          `json:"release"`
	Targets  []correlate.Target   `json:"targets"`
	Excluded []correlate.Excluded `json:"excluded,omitempty"`
	Sources  []SourceStatus       `json:"sources"`
	Policy   Policy               `json:"policy"`
	Inputs   map[string]string    `json:"inputs"`
}

// Reason is one rule that fired.
type Reason struct {
	Rule     string     `json:"rule"`
	Message  string     `json:"message"`
	Evidence []Evidence `json:"evidence"`
}

// Evidence points at a signal, a target, or a source.
type Evidence struct {
	SignalID string `json:"signal_id,omitempty"`
	Source   string `json:"source,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Severity string `json:"severity,omitempty"`
	Time     string `json:"time,omitempty"`
	Target   string `json:"target,omitempty"`
	Raw      string `json:"raw,omitempty"` // FILE:LINE of the raw record
}

// Anomaly reports whether the anomaly model ran, and why not.
type Anomaly struct {
	Ran         bool    `json:"ran"`
	Score       float64 `json:"score,omitempty"`
	ModelDigest string  `json:"model_digest,omitempty"`
	Detail      string  `json:"detail"`
}

// ReleaseInfo summarizes the release.
type ReleaseInfo struct {
	Cluster   string          `json:"cluster,omitempty"`
	Workloads []string        `json:"workloads"`
	Images    []release.Image `json:"images"`
}

// SourceStatus is one source's state at decision time.
type SourceStatus struct {
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Status   store.State `json:"status"`
	Records  int         `json:"records"`
	Rejected int         `json:"rejected"`
	Signals  int         `json:"signals"`
	// Matched counts the signals that concern the release's targets.
	Matched    int      `json:"matched"`
	AgeSeconds *float64 `json:"age_seconds,omitempty"`
	MaxAge     string   `json:"max_age"`
	FailMode   FailMode `json:"fail_mode"`
	Detail     string   `json:"detail"`
}

// Input is everything Evaluate reads.
type Input struct {
	Now      time.Time
	Mode     Mode
	Release  ReleaseInfo
	Landing  *correlate.LandingSet
	Signals  []signal.Signal
	Matches  []correlate.Match
	Sources  []SourceStatus
	Risk     risk.Risk
	Anomaly  Anomaly
	Inputs   map[string]string // input name -> digest
	Warnings []string
}

// Evaluate applies p to in.
func Evaluate(p Policy, in Input) Decision {
	d := Decision{
		Time:     in.Now.UTC(),
		Mode:     in.Mode,
		Enforced: in.Mode != Shadow,
		Risk:     in.Risk,
		Anomaly:  in.Anomaly,
		Release:  in.Release,
		Targets:  in.Landing.Targets,
		Excluded: in.Landing.Excluded,
		Sources:  in.Sources,
		Policy:   p,
		Inputs:   in.Inputs,
		Warnings: append([]string(nil), in.Warnings...),
		Reasons:  []Reason{},
	}
	if d.Mode == "" {
		d.Mode, d.Enforced = Enforce, true
	}
	d.Risk.Threshold = p.RiskThreshold

	for _, s := range in.Sources {
		switch s.Status {
		case store.Stale, store.Unavailable:
			rule := RuleSourceStale
			if s.Status == store.Unavailable {
				rule = RuleSourceUnavailable
			}
			msg := fmt.Sprintf("source %q (%s) is %s: %s", s.Name, s.Type, s.Status, s.Detail)
			if s.FailMode == FailOpen {
				d.Warnings = append(d.Warnings, msg+"; fail-open, so it does not block")
				continue
			}
			d.Reasons = append(d.Reasons, Reason{Rule: rule, Message: msg + "; fail-closed blocks",
				Evidence: []Evidence{{Source: s.Name}}})
		}
	}
	d.Reasons = append(d.Reasons, severeFindings(p, in)...)
	if in.Risk.Score >= p.RiskThreshold {
		r := Reason{Rule: RuleRiskThreshold,
			Message: fmt.Sprintf("risk score %.0f reaches the threshold %.0f", in.Risk.Score, p.RiskThreshold)}
		for i, c := range in.Risk.Contributions {
			if i == 3 {
				break
			}
			if c.Factor == "signal" {
				r.Evidence = append(r.Evidence, Evidence{SignalID: c.SignalID, Source: c.Source, Rule: c.Rule, Severity: c.Severity, Target: c.Target})
			}
		}
		if len(in.Risk.Contributions) > 0 {
			top := in.Risk.Contributions[0]
			what := "the anomaly score"
			if top.Factor == "signal" {
				what = fmt.Sprintf("%q (%s) on %s", top.Rule, top.Severity, top.Target)
			}
			r.Message += fmt.Sprintf("; the largest part, %.0f points, is %s", top.Points, what)
		}
		d.Reasons = append(d.Reasons, r)
	}
	d.Verdict = Proceed
	if len(d.Reasons) > 0 {
		d.Verdict = Block
	}
	d.Summary = summary(d)
	d.DecisionID = decisionID(d)
	return d
}

type finding struct {
	sig     *signal.Signal
	targets []string
	reasons []string
}

func severeFindings(p Policy, in Input) []Reason {
	byKey := map[string]*finding{}
	var keys []string
	for _, m := range in.Matches {
		s := &in.Signals[m.Signal]
		if s.Heartbeat || !s.Severity.AtLeast(p.severity) || in.Now.Sub(s.Time) > time.Duration(p.Window) {
			continue
		}
		t := in.Landing.Targets[m.Target]
		key := s.Source.Name + "\x00" + s.Rule + "\x00" + t.ID()
		f := byKey[key]
		if f == nil {
			f = &finding{}
			byKey[key] = f
			keys = append(keys, key)
		}
		if f.sig == nil || s.Severity > f.sig.Severity || (s.Severity == f.sig.Severity && s.Time.After(f.sig.Time)) {
			f.sig = s
		}
		if len(f.targets) == 0 {
			f.targets = append(f.targets, t.String())
			f.reasons = append(f.reasons, where(t, s.Asset, m.Via))
		}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := byKey[keys[i]].sig, byKey[keys[j]].sig
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.After(b.Time)
		}
		return keys[i] < keys[j]
	})
	var out []Reason
	for i, k := range keys {
		f := byKey[k]
		if i == p.MaxReasons {
			out = append(out, Reason{Rule: RuleSevereFinding,
				Message: fmt.Sprintf("and %d more findings at or above %s", len(keys)-i, p.severity)})
			break
		}
		s := f.sig
		title := s.Rule
		if title == "" {
			title = s.Title
		}
		msg := fmt.Sprintf("%s %q (%s) %s %s", product(s), title, s.Severity, age(in.Now, s.Time), f.reasons[0])
		out = append(out, Reason{Rule: RuleSevereFinding, Message: msg, Evidence: []Evidence{{
			SignalID: s.ID, Source: s.Source.Name, Rule: s.Rule, Severity: s.Severity.String(),
			Time: s.Time.UTC().Format(time.RFC3339Nano), Target: f.targets[0], Raw: rawRef(s),
		}}})
	}
	return out
}

func product(s *signal.Signal) string {
	if s.Product != "" {
		return s.Product
	}
	return s.Source.Type
}

func rawRef(s *signal.Signal) string {
	if s.Raw.File == "" {
		return s.Raw.ID
	}
	return fmt.Sprintf("%s:%d", s.Raw.File, s.Raw.Line)
}

// where phrases how a target relates to the release.
func where(t correlate.Target, a signal.Asset, via string) string {
	wl := strings.Join(t.Workloads, ", ")
	in := ""
	if t.Kind == "Node" && a.Pod != "" && via != "node" {
		in = fmt.Sprintf(" (in pod %s/%s)", a.Namespace, a.Pod)
	}
	switch t.Relation {
	case correlate.ReplacedPod:
		return fmt.Sprintf("in pod %s/%s, which the release replaces (%s)", t.Namespace, t.Name, wl)
	case correlate.CurrentNode:
		return fmt.Sprintf("on node %s%s, which runs pods of %s", t.Name, in, wl)
	case correlate.EligibleNode:
		return fmt.Sprintf("on node %s%s, where new pods of %s can land", t.Name, in, wl)
	case correlate.Namespace:
		return fmt.Sprintf("in namespace %s, where %s is deployed", t.Name, wl)
	default:
		return "on " + t.String()
	}
}

func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	default:
		return fmt.Sprintf("%.1fh ago", d.Hours())
	}
}

func summary(d Decision) string {
	verb := "PROCEED"
	if d.Verdict == Block {
		verb = "BLOCK"
		if !d.Enforced {
			verb = "WOULD BLOCK (shadow mode, not enforced)"
		}
	}
	n := len(d.Reasons)
	switch {
	case n == 0:
		return fmt.Sprintf("%s: no rule fired; risk %.0f/100 across %d targets", verb, d.Risk.Score, len(d.Targets))
	case n == 1:
		return fmt.Sprintf("%s: %s", verb, d.Reasons[0].Message)
	default:
		return fmt.Sprintf("%s: %s (and %d more reasons)", verb, d.Reasons[0].Message, n-1)
	}
}

// decisionID derives a stable id from the inputs and the time, so a replay of
// the same inputs gives the same id.
func decisionID(d Decision) string {
	h := sha256.New()
	keys := make([]string, 0, len(d.Inputs))
	for k := range d.Inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, d.Inputs[k])
	}
	fmt.Fprintf(h, "time=%s\nmode=%s\n", d.Time.Format(time.RFC3339Nano), d.Mode)
	s := hex.EncodeToString(h.Sum(nil))
	return fmt.Sprintf("%s-%s-%s-%s-%s", s[0:8], s[8:12], s[12:16], s[16:20], s[20:32])
}
