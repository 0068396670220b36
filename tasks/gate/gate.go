// Package gate is the all-in-one step: read the release, the inventory and
// the telemetry, correlate, score, and decide. `pulsegate gate` and the
// pulsegate-gate task run it.
package gate

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
)

// Telemetry is one source to read.
type Telemetry struct {
	Name     string // defaults to Type, made unique with a suffix
	Type     string
	Path     string
	MaxAge   time.Duration // 0: store.DefaultMaxAge
	FailMode string        // "": the policy's
	Cluster  string        // given to signals without one
	// Pull is set for a source polled over HTTP (Pull.URL): without a
	// store it is polled once, directly.
	Pull config.Pull
}

// Params are the step's inputs.
type Params struct {
	Release   string
	Inventory string
	Telemetry []Telemetry
	Policy    string // "": the built-in default
	Model     string // "": no anomaly scoring
	Namespace string
	Cluster   string
	Mode      string    // enforce (default) or shadow
	Now       time.Time // zero: time.Now()
	// Store is a store file (pulsegate fetch --store): every source is
	// read from it, with its stored health as of Now. "": read files and
	// poll url sources directly.
	Store string
	// Environment names the configured environment (for the record);
	// FailMode is its fail mode for sources without their own ("": the
	// policy's).
	Environment string
	FailMode    string
	// BreakGlass is a break-glass file ("": none); Config the configuration
	// file read (for its digest).
	BreakGlass string
	Config     string
}

// Env is what the step needs from its caller.
type Env struct {
	Sources *source.Registry
	// Rejects receives "FILE:LINE: reason" for every unusable record.
	Rejects io.Writer
	// ScoreAnomaly, when set, scores the targets' feature vectors with the
	// model at path and returns the score in 0..1 and the model's digest.
	ScoreAnomaly func(path string, in AnomalyInput) (score float64, digest string, detail string, err error)
	// Input, when set, receives the policy input as evaluated (for
	// `pulsegate gate --record`).
	Input func(policy.Input)
}

// AnomalyInput is what the anomaly scorer sees.
type AnomalyInput struct {
	Targets []correlate.Target
	Signals []signal.Signal
	Matches []correlate.Match
	Now     time.Time
	Window  time.Duration
}

// FutureSkew is how far after now a record may be stamped and still count
// (clocks drift); later records are left out of a decision as of now.
const FutureSkew = time.Minute

// Run evaluates the gate once.
func Run(p Params, env Env) (*policy.Decision, error) {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	mode := policy.Enforce
	if p.Mode != "" {
		m, err := policy.ParseMode(p.Mode)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		mode = m
	}
	if p.Release == "" {
		return nil, tasks.Usage(errors.New("no release: give --release PATH"))
	}
	if p.Inventory == "" {
		return nil, tasks.Usage(errors.New("no inventory: give --inventory PATH (a Kubernetes List, as `kubectl get ... -o json` prints)"))
	}
	inputs := map[string]string{}

	pol := policy.Default()
	if p.Policy != "" {
		pp, err := policy.Load(p.Policy)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		pol = pp
	}
	inputs["policy"] = pol.Digest
	failMode := pol.FailMode
	if p.FailMode != "" {
		fm, err := policy.ParseFailMode(p.FailMode)
		if err != nil {
			return nil, tasks.Usage(fmt.Errorf("environment %s: %w", p.Environment, err))
		}
		failMode = fm
	}
	var breakGlass *policy.BreakGlass
	if p.BreakGlass != "" {
		bg, raw, err := policy.LoadBreakGlass(p.BreakGlass)
		if err == nil {
			err = bg.Check(now)
		}
		if err != nil {
			return nil, tasks.Usage(err)
		}
		breakGlass = bg
		inputs["break_glass"] = digest(raw)
	}
	if p.Config != "" {
		inputs["config"] = digestPath(p.Config)
	}

	// Check every telemetry type before reading anything: a typo is a
	// usage error, not a missing source.
	specs := make([]source.Spec, len(p.Telemetry))
	for i, t := range p.Telemetry {
		spec, err := env.Sources.Lookup(t.Type)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		specs[i] = spec
		if t.FailMode != "" {
			if _, err := policy.ParseFailMode(t.FailMode); err != nil {
				return nil, tasks.Usage(fmt.Errorf("telemetry %s: %w", t.Type, err))
			}
		}
	}

	rd, err := newReader(p, env, now, time.Duration(pol.Window))
	if err != nil {
		return nil, err
	}
	defer rd.close()

	rel, err := release.Load(p.Release, release.Options{Namespace: p.Namespace, Cluster: p.Cluster})
	if err != nil {
		return nil, tasks.Usage(err)
	}
	inputs["release"] = digestPath(p.Release)
	inv, err := inventory.Load(p.Inventory)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	inputs["inventory"] = inv.Digest
	// A Rollout with a workloadRef takes its template (and images) from the
	// cluster's Deployment when the release does not ship it.
	if rel, err = correlate.Resolve(rel, inv); err != nil {
		return nil, tasks.Usage(err)
	}
	ls, err := correlate.Correlate(rel, inv)
	if err != nil {
		return nil, tasks.Usage(err)
	}

	var all []signal.Signal
	var statuses []policy.SourceStatus
	var health []store.Health
	var sigRange [][2]int
	names := map[string]int{}
	for i, t := range p.Telemetry {
		name := t.Name
		if name == "" {
			name = t.Type
		}
		if names[name]++; names[name] > 1 {
			name = fmt.Sprintf("%s-%d", name, names[name])
		}
		ref := signal.SourceRef{Name: name, Type: t.Type}
		st := policy.SourceStatus{Name: name, Type: t.Type, FailMode: failMode, MaxAge: maxAge(t).String()}
		if t.FailMode != "" {
			st.FailMode = policy.FailMode(t.FailMode)
		}
		b, h, err := rd.read(i, t, specs[i], ref, env)
		start := len(all)
		if b != nil {
			st.Records, st.Rejected = b.Records, b.Rejected
			h.Written = b.Written
			for _, s := range b.Signals {
				if s.Time.After(now.Add(FutureSkew)) {
					continue // not yet happened as of now
				}
				if s.Asset.Cluster == "" {
					s.Asset.Cluster = cmp.Or(t.Cluster, p.Cluster)
				}
				if s.Time.After(h.LastRecord) {
					h.LastRecord = s.Time
				}
				all = append(all, s)
			}
			st.Signals = len(all) - start
			inputs["telemetry/"+name] = rd.digest(t, b)
		}
		if err != nil {
			h.Err = fmt.Errorf("cannot read %s: %w", t.Path, unwrapPath(err))
		}
		statuses = append(statuses, st)
		health = append(health, h)
		sigRange = append(sigRange, [2]int{start, len(all)})
	}

	matcher := correlate.NewMatcher(ls, inv, rel.Cluster)
	var matches []correlate.Match
	window := time.Duration(pol.Window)
	for i := range all {
		if now.Sub(all[i].Time) > window {
			continue // too old to count
		}
		for _, m := range matcher.Targets(&all[i]) {
			m.Signal = i
			matches = append(matches, m)
		}
	}
	matchedBySource := make([]int, len(statuses))
	seen := map[int]bool{}
	for _, m := range matches {
		if seen[m.Signal] || all[m.Signal].Heartbeat {
			continue
		}
		seen[m.Signal] = true
		for si, r := range sigRange {
			if m.Signal >= r[0] && m.Signal < r[1] {
				matchedBySource[si]++
			}
		}
	}
	for i := range statuses {
		state, age, detail := health[i].Evaluate(now, maxAge(p.Telemetry[i]))
		if state == store.Fresh && matchedBySource[i] == 0 {
			state = store.NoData
			detail += "; nothing about the release's targets"
		}
		statuses[i].Status, statuses[i].Detail, statuses[i].Matched = state, detail, matchedBySource[i]
		if state != store.Unavailable && age > 0 || state == store.Fresh || state == store.NoData {
			a := age.Seconds()
			statuses[i].AgeSeconds = &a
		}
	}
	var warnings []string
	if len(p.Telemetry) == 0 {
		warnings = append(warnings, "no telemetry given: the decision rests on nothing but the policy")
	}

	anomaly := policy.Anomaly{Detail: "no model given (--model PATH); the risk score has no anomaly part"}
	if p.Model != "" {
		if env.ScoreAnomaly == nil {
			anomaly.Detail = "this build cannot score models"
		} else {
			score, dg, detail, err := env.ScoreAnomaly(p.Model, AnomalyInput{Targets: ls.Targets, Signals: all, Matches: matches, Now: now, Window: window})
			if err != nil {
				return nil, tasks.Usage(fmt.Errorf("model %s: %w", p.Model, err))
			}
			anomaly = policy.Anomaly{Ran: true, Score: score, ModelDigest: dg, Detail: detail}
			inputs["model"] = dg
		}
	}
	rk := risk.Score(risk.Input{Now: now, Signals: all, Matches: matches, Targets: ls.Targets, Anomaly: anomaly.Score, AnomalyRan: anomaly.Ran}, risk.Defaults())

	info := policy.ReleaseInfo{Cluster: rel.Cluster, Images: rel.Images}
	for _, w := range rel.Workloads {
		info.Workloads = append(info.Workloads, w.Ref())
	}
	in := policy.Input{
		Now: now, Mode: mode, Environment: p.Environment, Release: info, Targets: ls.Targets, Excluded: ls.Excluded,
		Signals: policy.Matches(all, matches, ls.Targets), Sources: statuses, Risk: rk, Anomaly: anomaly,
		Inputs: inputs, Warnings: warnings, BreakGlass: breakGlass,
	}
	if env.Input != nil {
		env.Input(in)
	}
	d, err := policy.Evaluate(pol, in)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	return &d, nil
}

func maxAge(t Telemetry) time.Duration {
	if t.MaxAge > 0 {
		return t.MaxAge
	}
	return store.DefaultMaxAge
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// digestPath hashes a file, or a folder's files in name order.
func digestPath(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return digest(b)
	}
	// The whole tree, as release.Load reads it: a change in a subfolder
	// changes the digest.
	var names []string
	_ = filepath.WalkDir(path, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(path, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(path, n))
		fmt.Fprintf(h, "%s %s\n", n, digest(b))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
