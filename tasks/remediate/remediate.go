// Package remediate is the remediation step: `pulsegate remediate` runs one
// attempt of the configured actions for a decision (the catalog's Tekton
// Pipeline and Argo template run it between gates), and Gate runs the whole
// loop in one process for `pulsegate gate --remediate`: remediate, wait for
// the outcome and for fresh telemetry, gate again, within the budget.
package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/pulsegate/pulsegate/pkg/audit"
	"github.com/pulsegate/pulsegate/pkg/kubeconfig"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/remediate"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

// Params are the step's inputs.
type Params struct {
	// Config is the remediation configuration file (required).
	Config string
	// Environment selects the allow list ("": "default").
	Environment string
	// Actions to run (empty: the environment's run list).
	Actions []string
	// Apply acts; false is a server-side dry run.
	Apply bool
	// Kubeconfig and Context select the cluster (kubeconfig.Load).
	Kubeconfig, Context string
	// AuditLog, when set, receives every record and decision.
	AuditLog string

	// For one step (Step):
	// Decision is a decision JSON file (`pulsegate gate -o json`, or
	// decision.json of --report-dir).
	Decision string
	// DecisionID keys the names ("": the decision's own id). Give the
	// first block's id on every attempt of one loop.
	DecisionID string
	// Attempt counts from 1.
	Attempt int
	// Wait bounds the wait for a workflow's outcome (0: the action's
	// timeout, else the budget's action_timeout; negative: do not wait).
	Wait time.Duration
}

// Env is what the step needs from its caller.
type Env struct {
	// Runner, when set, is used instead of one built from the kubeconfig
	// (tests).
	Runner *remediate.Runner
	// Poll is how often WaitFresh re-reads the telemetry (0: 1s).
	Poll time.Duration
}

func (p Params) load() (*remediate.Config, []remediate.Action, error) {
	if p.Config == "" {
		return nil, nil, tasks.Usage(errors.New("no remediation config: give --remediation-config PATH"))
	}
	cfg, err := remediate.LoadConfig(p.Config)
	if err != nil {
		return nil, nil, tasks.Usage(err)
	}
	acts, err := cfg.Resolve(p.Environment, p.Actions)
	if err != nil {
		return nil, nil, tasks.Usage(err)
	}
	return cfg, acts, nil
}

func (p Params) runner(ctx context.Context, env Env) (*remediate.Runner, error) {
	if env.Runner != nil {
		return env.Runner, nil
	}
	kc, err := kubeconfig.Load(kubeconfig.Options{Path: p.Kubeconfig, Context: p.Context})
	if err != nil {
		return nil, tasks.Usage(err)
	}
	return remediate.NewRunner(ctx, kc.Config, p.Apply)
}

// ReadDecision reads a decision JSON file.
func ReadDecision(path string) (*policy.Decision, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read decision: %w", err)
	}
	var d policy.Decision
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decision %s: not a pulsegate decision (JSON): %w", path, err)
	}
	if d.DecisionID == "" || d.Verdict == "" {
		return nil, fmt.Errorf("decision %s: no decision_id or verdict: not a pulsegate decision", path)
	}
	return &d, nil
}

// Step runs one attempt of the actions for the decision in p.Decision. A
// proceed (or a shadow-mode block) has nothing to remediate: no records.
func Step(ctx context.Context, p Params, env Env) ([]remediate.Record, error) {
	cfg, acts, err := p.load()
	if err != nil {
		return nil, err
	}
	if p.Decision == "" {
		return nil, tasks.Usage(errors.New("no decision: give --decision PATH (the gate's -o json output or decision.json of --report-dir)"))
	}
	if p.Attempt < 1 {
		return nil, tasks.Usage(fmt.Errorf("--attempt %d: attempts count from 1", p.Attempt))
	}
	d, err := ReadDecision(p.Decision)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	if d.Verdict != policy.Block || !d.Enforced {
		return nil, nil
	}
	r, err := p.runner(ctx, env)
	if err != nil {
		return nil, err
	}
	id := p.DecisionID
	if id == "" {
		id = d.DecisionID
	}
	budget := cfg.Budget.WithDefaults()
	var out []remediate.Record
	for _, a := range acts {
		wait := p.Wait
		if wait == 0 {
			wait = time.Duration(a.Timeout)
		}
		if wait == 0 {
			wait = time.Duration(budget.ActionTimeout)
		}
		if wait < 0 {
			wait = 0
		}
		recs, err := r.Do(ctx, remediate.Step{DecisionID: id, Attempt: p.Attempt, Action: a, Decision: d}, wait)
		if err != nil {
			return out, err
		}
		for _, rec := range recs {
			if err := appendRecord(p.AuditLog, rec); err != nil {
				return out, err
			}
		}
		out = append(out, recs...)
		if failed(recs) {
			break // later actions wait for the next attempt
		}
	}
	return out, nil
}

// Failed reports whether any record did not succeed (a dry run, a skip and
// a workflow still running are not failures).
func Failed(recs []remediate.Record) bool { return failed(recs) }

func failed(recs []remediate.Record) bool {
	for _, r := range recs {
		switch r.Outcome {
		case remediate.Succeeded, remediate.DryRun, remediate.Skipped, remediate.Running:
		default:
			return true
		}
	}
	return false
}

// AuditRecord is how a remediation record is written to the hash-chained
// audit log: verdict "remediate", the decision id of the loop, the action
// as the one rule, and what was done under "remediation/..." keys.
func AuditRecord(r remediate.Record) audit.Record {
	t := r.Finished
	if t.IsZero() {
		t = r.Started
	}
	mode := "apply"
	if r.DryRun {
		mode = "dry-run"
	}
	in := map[string]string{
		"remediation/action":  r.Action,
		"remediation/type":    r.Type,
		"remediation/attempt": strconv.Itoa(r.Attempt),
		"remediation/did":     r.Did,
		"remediation/by":      r.By,
		"remediation/outcome": string(r.Outcome),
	}
	for k, v := range map[string]string{"remediation/target": r.Target, "remediation/object": r.Object, "remediation/detail": r.Detail} {
		if v != "" {
			in[k] = v
		}
	}
	return audit.Record{ID: r.DecisionID, Time: t, Verdict: "remediate", Mode: mode, Enforced: !r.DryRun, Rules: []string{r.Action}, Inputs: in}
}

func appendRecord(path string, r remediate.Record) error {
	if path == "" {
		return nil
	}
	if _, err := audit.Append(path, AuditRecord(r)); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func appendDecision(path string, d *policy.Decision) error {
	if path == "" {
		return nil
	}
	rec, err := audit.FromDecision(d)
	if err == nil {
		_, err = audit.Append(path, rec)
	}
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Gate runs the loop on first, the gate's decision for gp: on an enforced
// block it remediates, waits for fresh telemetry in the files that the
// block rests on, gates again with gp, and repeats within the budget. The
// returned decision is the last one, with one warning per remediation
// record; the audit log (p.AuditLog) gets every decision but the returned
// one, which the caller records as it records any decision, and every
// record. When gp.Now is set (a replay), the gate's clock runs on from it
// at wall-clock speed.
func Gate(ctx context.Context, gp gate.Params, genv gate.Env, p Params, env Env, first *policy.Decision) (*policy.Decision, remediate.History, error) {
	if first.Verdict != policy.Block || !first.Enforced {
		l := &remediate.Loop{}
		return l.Run(ctx, first)
	}
	cfg, acts, err := p.load()
	if err != nil {
		return first, remediate.History{}, err
	}
	r, err := p.runner(ctx, env)
	if err != nil {
		return first, remediate.History{}, err
	}
	start := time.Now()
	base := gp.Now
	clock := func(wall time.Time) time.Time {
		if base.IsZero() {
			return wall
		}
		return base.Add(wall.Sub(start))
	}
	// Every decision but the final one goes to the audit log, in order
	// with the records: hold the latest back until something follows it.
	pending := first
	flush := func() error {
		if pending == nil {
			return nil
		}
		d := pending
		pending = nil
		return appendDecision(p.AuditLog, d)
	}
	l := &remediate.Loop{
		Runner: r, Actions: acts, Budget: cfg.Budget,
		Evaluate: func(ctx context.Context) (*policy.Decision, error) {
			q := gp
			if !base.IsZero() {
				q.Now = clock(time.Now())
			}
			return gate.Run(q, genv)
		},
		WaitFresh: func(ctx context.Context, d *policy.Decision, after time.Time) error {
			return WaitFresh(ctx, gp, genv, d, clock(after), clock, env.Poll)
		},
		Record: func(rec remediate.Record) error {
			if err := flush(); err != nil {
				return err
			}
			return appendRecord(p.AuditLog, rec)
		},
		Decided: func(d *policy.Decision) error {
			if err := flush(); err != nil {
				return err
			}
			pending = d
			return nil
		},
	}
	d, h, err := l.Run(ctx, first)
	if pending != nil && pending != d {
		if ferr := flush(); err == nil {
			err = ferr
		}
	}
	if len(h.Records) > 0 {
		out := *d
		out.Warnings = append(append([]string(nil), d.Warnings...), remediationWarnings(h)...)
		d = &out
	}
	return d, h, err
}

func remediationWarnings(h remediate.History) []string {
	var out []string
	for _, r := range h.Records {
		out = append(out, "remediation "+r.String())
	}
	return append(out, "remediation result: "+h.Result)
}

// NeededSources are the sources that d's block rests on: those its reasons
// cite as evidence, and those that are stale or unavailable. Only their
// data must be fresh before the gate checks again.
func NeededSources(d *policy.Decision) map[string]bool {
	out := map[string]bool{}
	for _, r := range d.Reasons {
		for _, e := range r.Evidence {
			if e.Source != "" {
				out[e.Source] = true
			}
		}
	}
	for _, s := range d.Sources {
		if s.Status == "stale" || s.Status == "unavailable" {
			out[s.Name] = true
		}
	}
	return out
}

// WaitFresh re-reads the telemetry files of the sources that d's block
// rests on until each holds a record (heartbeats count) stamped at or
// after `after` and not after the gate's clock (plus gate.FutureSkew),
// or ctx ends; the error then names the sources still waited for.
func WaitFresh(ctx context.Context, gp gate.Params, genv gate.Env, d *policy.Decision, after time.Time, clock func(time.Time) time.Time, poll time.Duration) error {
	if poll <= 0 {
		poll = time.Second
	}
	need := NeededSources(d)
	type file struct {
		name string
		t    gate.Telemetry
		spec source.Spec
	}
	var files []file
	names := map[string]int{}
	for _, t := range gp.Telemetry {
		name := t.Name
		if name == "" {
			name = t.Type
		}
		if names[name]++; names[name] > 1 {
			name = fmt.Sprintf("%s-%d", name, names[name])
		}
		if !need[name] {
			continue
		}
		spec, err := genv.Sources.Lookup(t.Type)
		if err != nil {
			return tasks.Usage(err)
		}
		files = append(files, file{name, t, spec})
	}
	for {
		var waiting []string
		now := clock(time.Now())
		for _, f := range files {
			var newest time.Time
			b, err := source.ReadFile(f.t.Path, f.spec, signal.SourceRef{Name: f.name, Type: f.t.Type}, nil)
			if err == nil && b != nil {
				for _, s := range b.Signals {
					if s.Time.After(newest) && !s.Time.After(now.Add(gate.FutureSkew)) {
						newest = s.Time
					}
				}
			}
			if newest.Before(after) {
				waiting = append(waiting, f.name)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sources %v have nothing from after %s", waiting, after.Format(time.RFC3339))
		case <-t.C:
		}
	}
}
