package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/model"
	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/feature"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
	"github.com/pulsegate/pulsegate/tasks/train"
)

// storeReader reads the Signals of a pulsegate store within a time range
// for `train --store`, opening it read-only (shared with gates reading it).
func storeReader(path string, since, until time.Time) ([]signal.Signal, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, tasks.Usage(fmt.Errorf("--store: %w", err))
	}
	s, err := store.Open(path, store.ReadOnly())
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Find(store.Query{Since: since, Until: until})
}

func newTrainCommand() *cobra.Command {
	var (
		p                             train.Params
		cfgPath, since, until, output string
		resultsDir                    string
		telemetry                     []string
		progress                      bool
	)
	c := &cobra.Command{
		Use:   "train (--store PATH | --telemetry TYPE=PATH ... | --signals FILE ... | --config FILE) --out model.json",
		Short: "Train the anomaly model on a telemetry history, check it and promote it",
		Long: `train cuts a telemetry history into feature windows per pod, node and
namespace (--window long), fits an isolation forest on all but the most
recent windows, and compares it with the current model on the recent benign
windows it held out.

When --out holds no model yet, the new one is installed there (first model).
Otherwise the model at --out (or --current) is the current one, and the new
model is promoted only when, on the held-out recent benign windows, its
score quantiles (p50, p95, p99) are within --max-shift of the current
model's. A promoted model replaces --out and the replaced one is kept as
--out.prev ('pulsegate model rollback' swaps them back); a rejected one is
written to --out.candidate for review and --out is left alone.

--report DIR writes report.md with a score histogram and per-feature
distributions (PNG) for a person to read in the Argo or Tekton UI or a PR.

Exit codes: 0 promoted or first model, 1 rejected, 2 usage error (or too
little history), 3 runtime error. docs/model.md has the details.`,
		Example: `  pulsegate train --telemetry tetragon=tetragon.jsonl --telemetry hubble=flows.jsonl \
    --window 10m --since 2026-11-01T00:00:00Z --out model.json --report train-report
  pulsegate train --config pulsegate.yaml --out model.json --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return tasks.Usage(err)
				}
				for _, t := range cfg.Telemetry {
					if t.Path == "" {
						continue // a pull source: nothing to read back
					}
					p.Telemetry = append(p.Telemetry, gate.Telemetry{Name: t.Name, Type: t.Type, Path: t.Path, Cluster: t.Cluster})
				}
				if p.Out == "" {
					p.Out = cfg.Model
				}
			}
			for _, v := range telemetry {
				typ, path, ok := strings.Cut(v, "=")
				if !ok || typ == "" || path == "" {
					errs = append(errs, fmt.Errorf("--telemetry %q: want TYPE=PATH, e.g. tetragon=/var/log/tetragon.jsonl", v))
					continue
				}
				typ, name, _ := strings.Cut(typ, ":")
				p.Telemetry = append(p.Telemetry, gate.Telemetry{Type: typ, Name: name, Path: path})
			}
			for _, tv := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--since", since, &p.Since}, {"--until", until, &p.Until}} {
				if tv.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, tv.v)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %q is not an RFC 3339 time like 2026-12-04T10:00:00Z", tv.flag, tv.v))
				}
				*tv.dst = t
			}
			if output != "text" && output != "json" {
				errs = append(errs, fmt.Errorf("-o %q: want text or json", output))
			}
			if err := errors.Join(errs...); err != nil {
				return tasks.Usage(err)
			}
			env := train.Env{Sources: builtin.Registry(), Rejects: cmd.ErrOrStderr(), ReadStore: storeReader}
			if f, ok := cmd.ErrOrStderr().(*os.File); progress || ok && train.IsTerminal(f) {
				pr := &train.Progress{W: cmd.ErrOrStderr(), TTY: ok && train.IsTerminal(f)}
				env.Progress = pr.Update
			}
			res, err := train.Run(p, env)
			if err != nil {
				if res == nil && isTrainingDataError(err) {
					return tasks.Usage(err)
				}
				return err
			}
			if resultsDir != "" {
				if err := writeTrainResults(resultsDir, res); err != nil {
					return err
				}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				fmt.Fprint(cmd.OutOrStdout(), res.Summary())
			}
			if res.Outcome == train.Rejected {
				return &ExitError{Code: ExitBlock, Silent: true, Err: errors.New("model rejected: " + res.Reason)}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&cfgPath, "config", "", "a pulsegate configuration: its telemetry files are the history, its model the default --out")
	fl.StringVar(&p.Store, "store", "", "a pulsegate store (bbolt) holding the history")
	fl.StringArrayVar(&telemetry, "telemetry", nil, "raw telemetry as TYPE=PATH or TYPE:NAME=PATH (repeatable)")
	fl.StringArrayVar(&p.Signals, "signals", nil, "Signals as JSON lines, as 'pulsegate fetch' writes them (repeatable)")
	fl.DurationVar(&p.Window, "window", 10*time.Minute, "feature window length")
	fl.StringVar(&since, "since", "", "use the history from this RFC 3339 time on")
	fl.StringVar(&until, "until", "", "use the history before this RFC 3339 time")
	fl.StringVar(&p.Out, "out", "", "where the promoted model goes; a model already there is the current one")
	fl.StringVar(&p.Current, "current", "", "the model to compare with (default: --out, when it exists)")
	fl.StringVar(&p.Report, "report", "", "write the training report (report.md, scores.png, features.png) into this folder")
	fl.Uint64Var(&p.Seed, "seed", 1, "random seed: the same history, options and seed give the same model")
	fl.IntVar(&p.Trees, "trees", 100, "trees in the forest")
	fl.IntVar(&p.MaxSamples, "max-samples", 256, "subsample size per tree (lowered to the window count)")
	fl.BoolVar(&p.Extended, "extended", false, "extended isolation forest (hyperplane splits)")
	fl.Float64Var(&p.Holdout, "holdout", 0.2, "fraction of the most recent windows held out of training for the promotion check (0..0.5)")
	fl.IntVar(&p.MinWindows, "min-windows", model.DefaultMinWindows, "fewest training windows accepted")
	fl.Float64Var(&p.MaxShift, "max-shift", model.DefaultMaxShift, "largest accepted move of the holdout score quantiles p50, p95, p99 (score units)")
	fl.BoolVar(&p.Force, "force", false, "install the new model even when the check rejects it or cannot run")
	fl.BoolVar(&progress, "progress", false, "print a progress line on standard error even when it is not a terminal")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	fl.StringVar(&resultsDir, "results-dir", "", "write the result files promoted (true/false), outcome and model-digest here (Tekton results, Argo output parameters)")
	return c
}

// isTrainingDataError tells errors about the history itself (too little
// of it, nothing in range), which the user fixes with flags, from failures.
func isTrainingDataError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "too few windows to train") || strings.Contains(s, "no signals in the time range") ||
		strings.Contains(s, "every feature is constant") || strings.Contains(s, "more than ")
}

func writeTrainResults(dir string, r *train.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	promoted := "false"
	if r.Outcome != train.Rejected {
		promoted = "true"
	}
	for name, v := range map[string]string{"promoted": promoted, "outcome": r.Outcome, "model-digest": r.Checksum} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func newModelShowCommand() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "show --model PATH",
		Short: "Print a saved model's checksum, schema, parameters and training metadata as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := model.LoadFile(path)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return tasks.Usage(fmt.Errorf("--model: %w", err))
				}
				return err
			}
			md := m.Metadata()
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Checksum       string             `json:"checksum"`
				Features       []string           `json:"features"`
				SchemaMatches  bool               `json:"schema_matches_this_build"`
				Trees          int                `json:"trees"`
				MaxSamples     int                `json:"max_samples"`
				HeightLimit    int                `json:"height_limit"`
				Seed           uint64             `json:"seed"`
				Extended       bool               `json:"extended"`
				Rows           int                `json:"training_rows"`
				Window         any                `json:"data_window"`
				ScoreQuantiles []iforest.Quantile `json:"score_quantiles"`
			}{m.Checksum(), md.Features, m.CheckFeatures(feature.Names) == nil, md.Trees, md.MaxSamples, md.HeightLimit, md.Seed, md.Extended, md.Rows, md.Window, md.ScoreQuantiles})
		},
	}
	c.Flags().StringVar(&path, "model", "", "the model file (required)")
	_ = c.MarkFlagRequired("model")
	return c
}

func newModelRollbackCommand() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "rollback --model PATH",
		Short: "Swap the model with the one 'pulsegate train' kept as PATH.prev (a second rollback undoes the first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := model.Rollback(path); err != nil {
				if strings.Contains(err.Error(), "no previous model") {
					return tasks.Usage(err)
				}
				return err
			}
			m, err := model.LoadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ROLLED BACK: %s is now model %s (data window %s to %s); the replaced one is kept at %s\n",
				path, m.Checksum(), m.Metadata().Window.Start, m.Metadata().Window.End, path+model.PrevSuffix)
			return nil
		},
	}
	c.Flags().StringVar(&path, "model", "", "the installed model file (required)")
	_ = c.MarkFlagRequired("model")
	return c
}
