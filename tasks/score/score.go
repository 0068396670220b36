// Package score is the scoring step on its own: read the landing set that
// `pulsegate correlate -o json` wrote, the inventory, and Signals (JSON
// lines as `pulsegate fetch` and `pulsegate normalize` write them, or raw
// telemetry files), match the signals to the targets, score the risk and
// write the policy input that `pulsegate decide --input` reads. `pulsegate
// score` and the pulsegate-score task run it.
package score

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
	taskcorrelate "github.com/pulsegate/pulsegate/tasks/correlate"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

// Params are the step's inputs.
type Params struct {
	// Targets is the landing set: the JSON `pulsegate correlate -o json`
	// writes.
	Targets string
	// Inventory is the snapshot the landing set was computed from (pods
	// are matched to their nodes through it).
	Inventory string
	// Signals are files of Signals, one JSON object per line.
	Signals []string
	// Telemetry are raw telemetry files, read like `pulsegate gate` does.
	Telemetry []gate.Telemetry
	// Cluster is the release's cluster; "" takes the landing set's only
	// cluster, if it has one.
	Cluster string
	// Window is how far back a signal counts; 0 means the default policy's.
	Window time.Duration
	// MaxAge is every source's maximum age; 0 means store.DefaultMaxAge.
	MaxAge time.Duration
	// Model is an anomaly model file; "" scores without one.
	Model string
	// Now is the evaluation time; zero means time.Now().
	Now time.Time
}

// Env is what the step needs from its caller.
type Env struct {
	Sources *source.Registry
	// Rejects receives "FILE:LINE: reason" for every unusable record.
	Rejects io.Writer
	// ScoreAnomaly scores a model, as gate.Env.ScoreAnomaly.
	ScoreAnomaly func(path string, in gate.AnomalyInput) (float64, string, string, error)
}

// Run scores the landing set and returns the policy input.
func Run(p Params, env Env) (*policy.Input, error) {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	if p.Targets == "" {
		return nil, tasks.Usage(errors.New("no targets: give --targets FILE (the JSON of `pulsegate correlate -o json`)"))
	}
	if p.Inventory == "" {
		return nil, tasks.Usage(errors.New("no inventory: give --inventory PATH (the snapshot the targets were computed from)"))
	}
	ls, err := LoadTargets(p.Targets)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	inv, err := inventory.Load(p.Inventory)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	cluster := p.Cluster
	if cluster == "" && len(ls.Clusters) == 1 {
		cluster = ls.Clusters[0].Name
	}
	window := p.Window
	if window <= 0 {
		window = time.Duration(policy.Default().Window)
	}
	inputs := map[string]string{"targets": digestFile(p.Targets), "inventory": inv.Digest}

	var all []signal.Signal
	var statuses []policy.SourceStatus
	var health []store.Health
	var ranges [][2]int
	add := func(st policy.SourceStatus, h store.Health, sigs []signal.Signal) {
		start := len(all)
		for _, s := range sigs {
			if s.Time.After(now.Add(gate.FutureSkew)) {
				continue
			}
			if s.Asset.Cluster == "" {
				s.Asset.Cluster = cluster
			}
			if s.Time.After(h.LastRecord) {
				h.LastRecord = s.Time
			}
			all = append(all, s)
		}
		st.Signals = len(all) - start
		statuses = append(statuses, st)
		health = append(health, h)
		ranges = append(ranges, [2]int{start, len(all)})
	}
	for _, path := range p.Signals {
		bySource, order, err := ReadSignals(path)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		inputs["signals/"+path] = digestFile(path)
		for _, name := range order {
			sigs := bySource[name]
			st := policy.SourceStatus{Name: name, Type: sigs[0].Source.Type, Records: len(sigs), MaxAge: maxAge(p.MaxAge).String(), FailMode: policy.Default().FailMode}
			add(st, store.Health{}, sigs)
		}
	}
	for _, t := range p.Telemetry {
		spec, err := env.Sources.Lookup(t.Type)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		name := t.Name
		if name == "" {
			name = t.Type
		}
		st := policy.SourceStatus{Name: name, Type: t.Type, MaxAge: maxAge(p.MaxAge).String(), FailMode: policy.Default().FailMode}
		b, err := source.ReadFile(t.Path, spec, signal.SourceRef{Name: name, Type: t.Type}, func(r source.Reject) {
			if env.Rejects != nil {
				fmt.Fprintln(env.Rejects, r.Error())
			}
		})
		h := store.Health{Err: err}
		var sigs []signal.Signal
		if b != nil {
			st.Records, st.Rejected, h.Written, sigs = b.Records, b.Rejected, b.Written, b.Signals
			inputs["telemetry/"+name] = digestFile(t.Path)
		}
		add(st, h, sigs)
	}

	lset := &correlate.LandingSet{Targets: ls.Targets, Excluded: ls.Excluded}
	matcher := correlate.NewMatcher(lset, inv, cluster)
	var matches []correlate.Match
	for i := range all {
		if now.Sub(all[i].Time) > window {
			continue
		}
		for _, m := range matcher.Targets(&all[i]) {
			m.Signal = i
			matches = append(matches, m)
		}
	}
	matched := make([]int, len(statuses))
	seen := map[int]bool{}
	for _, m := range matches {
		if seen[m.Signal] || all[m.Signal].Heartbeat {
			continue
		}
		seen[m.Signal] = true
		for si, r := range ranges {
			if m.Signal >= r[0] && m.Signal < r[1] {
				matched[si]++
			}
		}
	}
	for i := range statuses {
		state, age, detail := health[i].Evaluate(now, maxAge(p.MaxAge))
		if state == store.Fresh && matched[i] == 0 {
			state = store.NoData
			detail += "; nothing about the release's targets"
		}
		statuses[i].Status, statuses[i].Detail, statuses[i].Matched = state, detail, matched[i]
		if state != store.Unavailable {
			a := age.Seconds()
			statuses[i].AgeSeconds = &a
		}
	}

	anomaly := policy.Anomaly{Detail: "no model given (--model PATH); the risk score has no anomaly part"}
	if p.Model != "" && env.ScoreAnomaly != nil {
		s, dg, detail, err := env.ScoreAnomaly(p.Model, gate.AnomalyInput{Targets: ls.Targets, Signals: all, Matches: matches, Now: now, Window: window})
		if err != nil {
			return nil, tasks.Usage(fmt.Errorf("model %s: %w", p.Model, err))
		}
		anomaly = policy.Anomaly{Ran: true, Score: s, ModelDigest: dg, Detail: detail}
		inputs["model"] = dg
	}
	var warnings []string
	if len(statuses) == 0 {
		warnings = append(warnings, "no signals given: the decision rests on nothing but the policy")
	}
	rk := risk.Score(risk.Input{Now: now, Signals: all, Matches: matches, Targets: ls.Targets, Anomaly: anomaly.Score, AnomalyRan: anomaly.Ran}, risk.Defaults())
	in := &policy.Input{
		Now: now, Release: policy.ReleaseInfo{Cluster: cluster, Workloads: ls.Workloads, Images: ls.Images},
		Targets: ls.Targets, Excluded: ls.Excluded, Signals: policy.Matches(all, matches, ls.Targets),
		Sources: statuses, Risk: rk, Anomaly: anomaly, Inputs: inputs, Warnings: warnings,
	}
	if in.Release.Workloads == nil {
		in.Release.Workloads = []string{}
	}
	return in, nil
}

// LoadTargets reads the JSON of `pulsegate correlate -o json`. Unknown keys
// are errors.
func LoadTargets(path string) (*taskcorrelate.Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	var r taskcorrelate.Results
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("targets %s: %w", path, lineOf(b, err))
	}
	for i, t := range r.Targets {
		if t.Kind == "" || t.Name == "" {
			return nil, fmt.Errorf("targets %s: target %d: missing kind or name", path, i)
		}
	}
	return &r, nil
}

// ReadSignals reads Signals, one JSON object per line, grouped by source
// name in the order the names first appear. Blank lines are skipped; a bad
// line is an error naming the file and line.
func ReadSignals(path string) (map[string][]signal.Signal, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read signals: %w", err)
	}
	defer f.Close()
	by := map[string][]signal.Signal{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var s signal.Signal
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if s.Source.Name == "" {
			return nil, nil, fmt.Errorf("%s:%d: signal has no source.name", path, n)
		}
		if s.Time.IsZero() {
			return nil, nil, fmt.Errorf("%s:%d: signal has no time", path, n)
		}
		if _, ok := by[s.Source.Name]; !ok {
			order = append(order, s.Source.Name)
		}
		by[s.Source.Name] = append(by[s.Source.Name], s)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return by, order, nil
}

// WriteResults writes the step's result file into dir: risk-score (the
// score in 0..100, two decimals).
func WriteResults(dir string, in *policy.Input) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	v := strconv.FormatFloat(in.Risk.Score, 'f', 2, 64)
	if err := os.WriteFile(filepath.Join(dir, "risk-score"), []byte(v), 0o644); err != nil {
		return fmt.Errorf("write result risk-score: %w", err)
	}
	return nil
}

func maxAge(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return store.DefaultMaxAge
}

func digestFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func lineOf(b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return err
	}
	return fmt.Errorf("line %d: %w", 1+bytes.Count(b[:off], []byte("\n")), err)
}
