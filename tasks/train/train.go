// Package train is the retraining step: read a telemetry history (raw
// telemetry files, Signals as JSON lines, or the local store), cut it into
// feature windows per pod, node and namespace, fit an isolation forest,
// check it against the current model on recent benign windows, install it
// (keeping the previous one for rollback) or keep it aside as a rejected
// candidate, and write the training report. `pulsegate train`, the
// pulsegate-train Tekton task and the Argo retraining CronWorkflow run it.
package train

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/model"
	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/pkg/feature"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
	"github.com/pulsegate/pulsegate/tasks/score"
)

// Params are the step's inputs.
type Params struct {
	// Store is a pulsegate store (see Env.ReadStore); "" reads none.
	Store string
	// Telemetry are raw telemetry files, read as `pulsegate gate` reads
	// them (Type and Path; Name defaults to Type).
	Telemetry []gate.Telemetry
	// Signals are files of Signals, one JSON object per line, as
	// `pulsegate fetch` and `pulsegate normalize` write them.
	Signals []string
	// Window is the length of a feature window; it must be positive.
	Window time.Duration
	// Since and Until bound the history (Since inclusive, Until
	// exclusive); zero is unbounded.
	Since, Until time.Time
	// Out is where the promoted model goes. When it holds a model
	// already, that model is the current one (unless Current says
	// otherwise) and is kept as Out+".prev".
	Out string
	// Current is the model to compare with; "" means Out, when it exists.
	Current string
	// Report is a folder for the training report; "" writes none.
	Report string
	// Forest options and the split (see model.TrainOptions).
	Seed              uint64
	Trees, MaxSamples int
	Extended          bool
	Holdout           float64
	MinWindows        int
	// MaxShift is the promotion bound (0: model.DefaultMaxShift).
	MaxShift float64
	// Force installs the candidate even when the check rejects it or
	// cannot run; the result says so.
	Force bool
}

// Outcomes of a run.
const (
	FirstModel = "first model" // no current model: installed
	Promoted   = "promoted"    // the check passed: installed
	Forced     = "forced"      // the check failed or could not run, --force installed it
	Rejected   = "rejected"    // the check failed: kept aside as a candidate
)

// Result is what the step did.
type Result struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	// Model is the file the new model was written to: Out, or the
	// candidate file beside it when rejected.
	Model    string `json:"model"`
	Checksum string `json:"checksum"`
	// Previous is where the replaced model was kept ("" when none).
	Previous string `json:"previous,omitempty"`
	// Current is the model the candidate was compared with.
	Current    string            `json:"current,omitempty"`
	Comparison *model.Comparison `json:"comparison,omitempty"`
	Signals    int               `json:"signals"`
	Windows    int               `json:"windows"`
	Training   int               `json:"training_windows"`
	Holdout    int               `json:"holdout_windows"`
	DataWindow iforest.Window    `json:"data_window"`
	Warnings   []string          `json:"warnings,omitempty"`
	Report     []string          `json:"report,omitempty"`
}

// Env is what the step needs from its caller.
type Env struct {
	Sources *source.Registry
	// Rejects receives "FILE:LINE: reason" for every unusable record.
	Rejects io.Writer
	// ReadStore reads the Signals of the store at path within
	// [since, until) (zero: unbounded); nil when this build has no store.
	ReadStore func(path string, since, until time.Time) ([]signal.Signal, error)
	// Progress, when set, sees the windows built and their total.
	Progress func(done, total int)
	// Now is the clock for the run time in the report; nil is time.Now.
	Now func() time.Time
}

// Run trains, checks and installs a model as Params say.
func Run(p Params, env Env) (*Result, error) {
	now := env.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	if err := p.check(); err != nil {
		return nil, tasks.Usage(err)
	}
	sigs, inputs, err := read(p, env)
	if err != nil {
		return nil, err
	}
	ws, err := feature.Windows(sigs, feature.WindowOptions{Size: p.Window, Since: p.Since, Until: p.Until, Progress: env.Progress})
	if err != nil {
		return nil, fmt.Errorf("build windows from %d signals: %w", len(sigs), err)
	}
	tr, err := model.Train(ws, model.TrainOptions{Trees: p.Trees, MaxSamples: p.MaxSamples, Seed: p.Seed, Extended: p.Extended, Holdout: p.Holdout, MinWindows: p.MinWindows})
	if err != nil {
		return nil, err
	}
	res := &Result{
		Checksum: tr.Forest.Checksum(), Signals: len(sigs), Windows: len(ws), Training: len(tr.Train),
		Holdout: len(tr.Holdout), DataWindow: tr.Forest.Metadata().Window, Warnings: tr.Warnings,
	}
	if err := decide(p, tr, res); err != nil {
		return nil, err
	}
	if p.Report != "" {
		files, err := model.WriteReport(p.Report, model.Report{
			Model: res.Model, Outcome: res.Outcome, Reason: res.Reason, Trained: tr, Window: p.Window,
			Comparison: res.Comparison, Inputs: inputs, Elapsed: now().Sub(start),
		})
		if err != nil {
			return res, err
		}
		res.Report = files
	}
	return res, nil
}

func (p Params) check() error {
	var errs []error
	if p.Store == "" && len(p.Telemetry) == 0 && len(p.Signals) == 0 {
		errs = append(errs, errors.New("no history: give --store PATH, --telemetry TYPE=PATH or --signals FILE"))
	}
	if p.Window <= 0 {
		errs = append(errs, fmt.Errorf("--window %v: must be positive (for example 10m)", p.Window))
	}
	if p.Out == "" {
		errs = append(errs, errors.New("no --out: where should the model go?"))
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && !p.Until.After(p.Since) {
		errs = append(errs, errors.New("--until must be after --since"))
	}
	if !(p.Holdout >= 0 && p.Holdout <= 0.5) {
		errs = append(errs, fmt.Errorf("--holdout %v: must be between 0 and 0.5", p.Holdout))
	}
	if p.MaxShift < 0 || p.MaxShift > 1 {
		errs = append(errs, fmt.Errorf("--max-shift %v: must be between 0 and 1", p.MaxShift))
	}
	if p.Trees < 0 || p.MaxSamples < 0 || p.MinWindows < 0 {
		errs = append(errs, errors.New("--trees, --max-samples and --min-windows cannot be negative"))
	}
	return errors.Join(errs...)
}

// read gathers the history and names its inputs for the report.
func read(p Params, env Env) ([]signal.Signal, []string, error) {
	var sigs []signal.Signal
	var inputs []string
	if p.Store != "" {
		if env.ReadStore == nil {
			return nil, nil, tasks.Usage(fmt.Errorf("--store %s: this build cannot read a store; give --telemetry or --signals", p.Store))
		}
		s, err := env.ReadStore(p.Store, p.Since, p.Until)
		if err != nil {
			return nil, nil, fmt.Errorf("read store %s: %w", p.Store, err)
		}
		sigs = append(sigs, s...)
		inputs = append(inputs, "store "+p.Store+" ("+strconv.Itoa(len(s))+" signals)")
	}
	for _, t := range p.Telemetry {
		spec, err := env.Sources.Lookup(t.Type)
		if err != nil {
			return nil, nil, tasks.Usage(fmt.Errorf("--telemetry %s=%s: %w", t.Type, t.Path, err))
		}
		name := t.Name
		if name == "" {
			name = t.Type
		}
		b, err := source.ReadFile(t.Path, spec, signal.SourceRef{Name: name, Type: t.Type}, func(r source.Reject) {
			if env.Rejects != nil {
				fmt.Fprintln(env.Rejects, r.Error())
			}
		})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, tasks.Usage(fmt.Errorf("--telemetry %s=%s: %w", t.Type, t.Path, err))
			}
			return nil, nil, fmt.Errorf("read %s telemetry %s: %w", t.Type, t.Path, err)
		}
		if t.Cluster != "" {
			for i := range b.Signals {
				if b.Signals[i].Asset.Cluster == "" {
					b.Signals[i].Asset.Cluster = t.Cluster
				}
			}
		}
		sigs = append(sigs, b.Signals...)
		inputs = append(inputs, fmt.Sprintf("%s %s (%d records, %d rejected)", t.Type, filepath.Base(t.Path), b.Records, b.Rejected))
	}
	for _, path := range p.Signals {
		by, order, err := score.ReadSignals(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, tasks.Usage(fmt.Errorf("--signals %s: %w", path, err))
			}
			return nil, nil, err
		}
		n := 0
		for _, name := range order {
			sigs = append(sigs, by[name]...)
			n += len(by[name])
		}
		inputs = append(inputs, fmt.Sprintf("signals %s (%d)", filepath.Base(path), n))
	}
	return sigs, inputs, nil
}

// decide runs the promotion check and installs or sets aside the model.
func decide(p Params, tr *model.Trained, res *Result) error {
	cur := p.Current
	if cur == "" {
		if _, err := os.Stat(p.Out); err == nil {
			cur = p.Out
		}
	}
	install := func(outcome, reason string) error {
		prev, err := model.Install(tr.Forest, p.Out)
		if err != nil {
			return err
		}
		res.Outcome, res.Reason, res.Model, res.Previous = outcome, reason, p.Out, prev
		return nil
	}
	if cur == "" {
		return install(FirstModel, fmt.Sprintf("no current model at %s: installed the first one", p.Out))
	}
	res.Current = cur
	current, err := model.LoadFile(cur)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return tasks.Usage(fmt.Errorf("--current: %w", err))
		}
		return fmt.Errorf("the current model cannot be read, so the candidate cannot be checked (give --force to replace it): %w", err)
	}
	var reason string
	c, err := model.Compare(current, tr.Forest, vectorsOf(tr.Holdout), p.MaxShift)
	switch {
	case err == nil && c.Promote:
		res.Comparison = &c
		return install(Promoted, c.Reason)
	case err == nil:
		res.Comparison = &c
		reason = c.Reason
	default:
		reason = "the check could not run: " + err.Error()
	}
	if p.Force {
		return install(Forced, reason+"; installed anyway (--force)")
	}
	cand := p.Out + model.CandidateSuffix
	if err := model.WriteFile(tr.Forest, cand); err != nil {
		return err
	}
	res.Outcome, res.Reason, res.Model = Rejected, reason, cand
	return nil
}

func vectorsOf(ws []feature.Window) [][]float64 {
	out := make([][]float64, len(ws))
	for i := range ws {
		out[i] = ws[i].Vector
	}
	return out
}

// Summary is the result in a few lines for a person: what was done, why,
// and where things are.
func (r *Result) Summary() string {
	var b strings.Builder
	switch r.Outcome {
	case FirstModel, Promoted, Forced:
		fmt.Fprintf(&b, "%s: model %s installed at %s\n", strings.ToUpper(r.Outcome), r.Checksum, r.Model)
	case Rejected:
		fmt.Fprintf(&b, "REJECTED: the current model %s stays; the candidate %s is kept at %s for review\n", r.Current, r.Checksum, r.Model)
	}
	fmt.Fprintf(&b, "  why: %s\n", r.Reason)
	if r.Previous != "" {
		fmt.Fprintf(&b, "  the previous model is kept at %s (pulsegate model rollback --model %s)\n", r.Previous, r.Model)
	}
	fmt.Fprintf(&b, "  data: %d signals, %d windows; trained on %d from %s to %s; %d recent benign windows held out\n",
		r.Signals, r.Windows, r.Training, r.DataWindow.Start, r.DataWindow.End, r.Holdout)
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	if len(r.Report) > 0 {
		fmt.Fprintf(&b, "  report: %s\n", r.Report[0])
	}
	return b.String()
}
