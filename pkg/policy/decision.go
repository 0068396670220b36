package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

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
	Policy   PolicyInfo           `json:"policy"`
	// Environment is the configured environment the decision was made
	// for (--environment); empty when none.
	Environment string `json:"environment,omitempty"`
	// BreakGlass is the override given, if any, with the block reasons it
	// overrode.
	BreakGlass *BreakGlass `json:"break_glass,omitempty"`
	// Inputs holds the digest of every input: "release", "inventory",
	// "policy", "model", "config", "break_glass", "telemetry/NAME" (the
	// files read) and "signals" (the matched signals the rules saw).
	Inputs map[string]string `json:"inputs"`
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

// Match is one signal about one of the release's targets.
type Match struct {
	Signal signal.Signal `json:"signal"`
	// Target names the target as reasons do ("node n1", "pod a/web-1") or
	// by its ID ("Node//n1").
	Target string `json:"target"`
	// Via says how the signal reached the target ("pod", "node", ...).
	Via string `json:"via,omitempty"`
}

// Matches pairs the correlator's matches with their signals and targets.
// Heartbeats are left out: they only prove a source is alive.
func Matches(sigs []signal.Signal, ms []correlate.Match, targets []correlate.Target) []Match {
	out := make([]Match, 0, len(ms))
	for _, m := range ms {
		if sigs[m.Signal].Heartbeat {
			continue
		}
		out = append(out, Match{Signal: sigs[m.Signal], Target: targets[m.Target].String(), Via: m.Via})
	}
	return out
}

// Input is everything Evaluate reads. It is also the file `pulsegate gate
// --record DIR` writes as DIR/input.json, which `pulsegate decide` and policy
// tests read back.
type Input struct {
	Now         time.Time            `json:"now"`
	Mode        Mode                 `json:"mode,omitempty"`
	Environment string               `json:"environment,omitempty"`
	Release     ReleaseInfo          `json:"release"`
	Targets     []correlate.Target   `json:"targets"`
	Excluded    []correlate.Excluded `json:"excluded,omitempty"`
	// Signals are the matched signals, one per signal and target.
	Signals  []Match           `json:"signals"`
	Sources  []SourceStatus    `json:"sources"`
	Risk     risk.Risk         `json:"risk"`
	Anomaly  Anomaly           `json:"anomaly"`
	Inputs   map[string]string `json:"inputs,omitempty"` // input name -> digest
	Warnings []string          `json:"warnings,omitempty"`
	// BreakGlass, when set, turns a block into a proceed; see LoadBreakGlass.
	BreakGlass *BreakGlass `json:"break_glass,omitempty"`
}

// RulePolicyError is the rule name of the reason a rule gives when it
// cannot be evaluated: it blocks (a block rule) or warns (a warn rule).
const RulePolicyError = "policy-error"

// Evaluate applies p to in. It returns an error only for an input that does
// not hold together (an unknown target, state or fail mode; an expired or
// incomplete break-glass): the rules themselves never fail the call, a
// rule that cannot be evaluated blocks with RulePolicyError.
func Evaluate(p *Policy, in Input) (Decision, error) {
	d := Decision{
		Time:        in.Now.UTC(),
		Mode:        in.Mode,
		Environment: in.Environment,
		Risk:        in.Risk,
		Anomaly:     in.Anomaly,
		Release:     in.Release,
		Targets:     in.Targets,
		Excluded:    in.Excluded,
		Policy:      p.Info(),
		Inputs:      map[string]string{},
		Warnings:    append([]string(nil), in.Warnings...),
		Reasons:     []Reason{},
	}
	if d.Mode == "" {
		d.Mode = Enforce
	}
	if _, err := ParseMode(string(d.Mode)); err != nil {
		return Decision{}, err
	}
	d.Enforced = d.Mode == Enforce
	if d.Targets == nil {
		d.Targets = []correlate.Target{}
	}
	for k, v := range in.Inputs {
		d.Inputs[k] = v
	}
	if v, ok := number(p.Params["risk_threshold"]); ok {
		d.Risk.Threshold = v
	}

	// Sources: every one listed, with its fail mode resolved.
	d.Sources = make([]SourceStatus, len(in.Sources))
	var errs []error
	for i, s := range in.Sources {
		if s.FailMode == "" {
			s.FailMode = p.FailMode
		}
		if _, err := ParseFailMode(string(s.FailMode)); err != nil {
			errs = append(errs, fmt.Errorf("source %q: %w", s.Name, err))
		}
		switch s.Status {
		case store.Fresh, store.NoData, store.Stale, store.Unavailable:
		default:
			errs = append(errs, fmt.Errorf("source %q: unknown status %q (want fresh, no_data, stale or unavailable)", s.Name, s.Status))
		}
		d.Sources[i] = s
	}

	// Signals: resolve targets, drop what is older than the window.
	byName := make(map[string]int, 2*len(d.Targets))
	for i, t := range d.Targets {
		byName[t.String()] = i
		byName[t.ID()] = i
	}
	sc := scratchPool.Get().(*scratch)
	defer func() {
		clear(sc.items) // hold no input alive in the pool
		clear(sc.objs)
		scratchPool.Put(sc)
	}()
	items := sc.items[:0]
	line := sc.line[:0]
	h := sha256.New()
	window := time.Duration(p.Window)
	for i := range in.Signals {
		m := &in.Signals[i]
		ti, ok := byName[m.Target]
		if !ok {
			errs = append(errs, fmt.Errorf("signals[%d]: target %q is not one of the targets", i, m.Target))
			continue
		}
		if m.Signal.Heartbeat || d.Time.Sub(m.Signal.Time) > window {
			continue
		}
		items = append(items, sigItem{sig: &m.Signal, target: &d.Targets[ti], via: m.Via, now: &d.Time})
		line = append(line, m.Signal.ID...)
		line = append(line, 0)
		line = strconv.AppendInt(line, int64(ti), 10)
		line = append(line, 0)
		line = append(line, m.Via...)
		line = append(line, '\n')
		if len(line) > 4096 {
			h.Write(line)
			line = line[:0]
		}
	}
	h.Write(line)
	sc.items, sc.line = items, line
	d.Inputs["signals"] = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if in.BreakGlass != nil {
		if err := in.BreakGlass.Check(d.Time); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Decision{}, fmt.Errorf("policy input: %w", err)
	}

	v := newVars(p, &d, items, sc)
	var warns []Reason
	for _, r := range p.compiled {
		v.budget.used = 0
		reasons, err := r.eval(v)
		if err != nil {
			rr := Reason{Rule: RulePolicyError, Message: fmt.Sprintf("rule %q could not be evaluated: %v", r.Name, err)}
			if r.Verdict == VerdictWarn {
				warns = append(warns, rr)
			} else {
				rr.Message += "; a rule that cannot be evaluated blocks"
				d.Reasons = append(d.Reasons, rr)
			}
			continue
		}
		if r.Verdict == VerdictWarn {
			warns = append(warns, reasons...)
		} else {
			d.Reasons = append(d.Reasons, reasons...)
		}
	}
	d.Reasons, warns = failModes(d.Sources, d.Reasons, warns)
	if d.Reasons == nil {
		d.Reasons = []Reason{}
	}
	for _, w := range warns {
		d.Warnings = append(d.Warnings, w.Message)
	}

	d.Verdict = Proceed
	if len(d.Reasons) > 0 {
		d.Verdict = Block
	}
	if bg := in.BreakGlass; bg != nil {
		rec := *bg
		rec.Expires = rec.Expires.UTC()
		d.BreakGlass = &rec
		if d.Verdict == Block {
			rec.Overridden = d.Reasons
			d.Reasons = []Reason{}
			d.Verdict = Proceed
			d.Warnings = append(d.Warnings, fmt.Sprintf("break-glass by %s (ticket %s, expires %s): %s; it overrides %d block reasons, the first: [%s] %s",
				bg.Who, bg.Ticket, rec.Expires.Format(time.RFC3339), bg.Why, len(rec.Overridden), rec.Overridden[0].Rule, rec.Overridden[0].Message))
		} else {
			d.Warnings = append(d.Warnings, fmt.Sprintf("break-glass by %s (ticket %s) given, but nothing blocked", bg.Who, bg.Ticket))
		}
	}
	d.Summary = summary(d)
	d.DecisionID = decisionID(d)
	return d, nil
}

// failModes enforces the sources' fail modes whatever the rules said: a
// fail-closed source that is stale or unavailable blocks, and no source is
// ever ignored in silence.
func failModes(sources []SourceStatus, block, warn []Reason) ([]Reason, []Reason) {
	cited := func(rs []Reason, name string) bool {
		for _, r := range rs {
			for _, e := range r.Evidence {
				if e.Source == name && e.SignalID == "" {
					return true
				}
			}
		}
		return false
	}
	var extra []Reason
	for _, s := range sources {
		if s.Status != store.Stale && s.Status != store.Unavailable {
			continue
		}
		rule := RuleSourceStale
		if s.Status == store.Unavailable {
			rule = RuleSourceUnavailable
		}
		msg := fmt.Sprintf("source %q (%s) is %s: %s", s.Name, s.Type, s.Status, s.Detail)
		ev := []Evidence{{Source: s.Name}}
		switch s.FailMode {
		case FailClosed:
			if !cited(block, s.Name) {
				extra = append(extra, Reason{Rule: rule, Message: msg + "; fail-closed blocks", Evidence: ev})
			}
		case FailOpen:
			if !cited(block, s.Name) && !cited(warn, s.Name) {
				warn = append(warn, Reason{Rule: rule, Message: msg + "; fail-open, so it does not block", Evidence: ev})
			}
		default: // policy
			if !cited(block, s.Name) && !cited(warn, s.Name) {
				warn = append(warn, Reason{Rule: rule, Message: msg + "; its fail mode is policy and no rule blocked on it", Evidence: ev})
			}
		}
	}
	return append(extra, block...), warn
}

// scratch holds one evaluation's large buffers, reused across evaluations:
// nothing in a Decision points into them.
type scratch struct {
	items []sigItem
	objs  []object
	line  []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// eval runs one rule.
func (r *compiledRule) eval(v *vars) ([]Reason, error) {
	act := &activation{vars: v}
	out, _, err := r.prg.Eval(act)
	if err != nil {
		return nil, err
	}
	switch x := out.(type) {
	case types.Bool:
		if !x {
			return nil, nil
		}
		rs, err := r.reason(act)
		if err != nil {
			return nil, err
		}
		return []Reason{rs}, nil
	case traits.Lister:
		n := int(x.Size().(types.Int))
		var reasons []Reason
		for i := 0; i < n; i++ {
			if r.MaxReasons > 0 && i == r.MaxReasons {
				act.item, act.more = nil, types.Int(n-i)
				msg, err := r.more.render(act)
				if err != nil {
					return nil, fmt.Errorf("more: %w", err)
				}
				reasons = append(reasons, Reason{Rule: r.Name, Message: msg})
				break
			}
			if l, ok := x.(*list); ok {
				act.item = l.at(i) // the rule's result: not a visit
			} else {
				act.item = x.Get(types.Int(i))
			}
			rs, err := r.reason(act)
			if err != nil {
				return nil, err
			}
			reasons = append(reasons, rs)
		}
		return reasons, nil
	}
	return nil, fmt.Errorf("the expression gave a %s; want a bool or a list", out.Type().TypeName())
}

func (r *compiledRule) reason(act *activation) (Reason, error) {
	msg, err := r.message.render(act)
	if err != nil {
		return Reason{}, fmt.Errorf("message: %w", err)
	}
	rs := Reason{Rule: r.Name, Message: msg}
	var ev ref.Val = act.item
	if r.evidence != nil {
		if ev, _, err = r.evidence.Eval(act); err != nil {
			return Reason{}, fmt.Errorf("evidence: %w", err)
		}
	}
	if ev != nil {
		if rs.Evidence, err = evidenceOf(ev, nil); err != nil {
			return Reason{}, fmt.Errorf("evidence: %w", err)
		}
	}
	return rs, nil
}

// newVars builds the values the rules read.
func newVars(p *Policy, d *Decision, items []sigItem, sc *scratch) *vars {
	ad := types.DefaultTypeAdapter
	b := &budget{limit: p.CostLimit}
	v := &vars{now: types.Timestamp{Time: d.Time}, environment: types.String(d.Environment), mode: types.String(string(d.Mode)), budget: b}
	n := len(items) + len(d.Targets) + len(d.Sources) + len(d.Risk.Contributions)
	if cap(sc.objs) < n {
		sc.objs = make([]object, n)
	}
	objs := sc.objs[:n]
	take := func(n int) []object {
		o := objs[:n:n]
		objs = objs[n:]
		return o
	}
	sigs := take(len(items))
	for i := range items {
		sigs[i] = object{kind: signalKind, x: &items[i]}
	}
	v.signals = newList(b, sigs)
	ts := take(len(d.Targets))
	for i := range d.Targets {
		ts[i] = object{kind: targetKind, x: &d.Targets[i]}
	}
	v.targets = newList(b, ts)
	ss := take(len(d.Sources))
	for i := range d.Sources {
		ss[i] = object{kind: sourceKind, x: &d.Sources[i]}
	}
	v.sources = newList(b, ss)
	cs := take(len(d.Risk.Contributions))
	for i := range d.Risk.Contributions {
		cs[i] = object{kind: contributionKind, x: &d.Risk.Contributions[i]}
	}
	v.risk = ordered{types.NewRefValMap(ad, map[ref.Val]ref.Val{
		types.String("score"):         types.Double(d.Risk.Score),
		types.String("threshold"):     types.Double(d.Risk.Threshold),
		types.String("contributions"): newList(b, cs),
	})}
	v.anomaly = value(map[string]any{"ran": d.Anomaly.Ran, "score": d.Anomaly.Score, "model_digest": d.Anomaly.ModelDigest, "detail": d.Anomaly.Detail})
	images := make([]any, len(d.Release.Images))
	for i, im := range d.Release.Images {
		images[i] = map[string]any{"ref": im.Ref, "repo": im.Repo, "tag": im.Tag, "digest": im.Digest}
	}
	wl := make([]any, len(d.Release.Workloads))
	for i, w := range d.Release.Workloads {
		wl[i] = w
	}
	v.release = value(map[string]any{"cluster": d.Release.Cluster, "workloads": wl, "images": images})
	v.params = value(p.Params)
	return v
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func title(s *signal.Signal) string {
	if s.Rule == "" {
		return s.Title
	}
	return s.Rule
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
	if bg := d.BreakGlass; bg != nil && len(bg.Overridden) > 0 {
		n := len(bg.Overridden)
		more := ""
		if n > 1 {
			more = fmt.Sprintf(" (and %d more reasons)", n-1)
		}
		return fmt.Sprintf("PROCEED by break-glass (%s, ticket %s, expires %s); it would block: %s%s",
			bg.Who, bg.Ticket, bg.Expires.UTC().Format(time.RFC3339), bg.Overridden[0].Message, more)
	}
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
	if d.Environment != "" {
		fmt.Fprintf(h, "environment=%s\n", d.Environment)
	}
	s := hex.EncodeToString(h.Sum(nil))
	return fmt.Sprintf("%s-%s-%s-%s-%s", s[0:8], s[8:12], s[12:16], s[16:20], s[20:32])
}
