package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
	"github.com/pulsegate/pulsegate/tasks/score"
)

func newScoreCommand() *cobra.Command {
	var p score.Params
	var telemetry []string
	var now, out, resultsDir string
	c := &cobra.Command{
		Use:   "score --targets FILE --inventory PATH [--signals FILE ...] [--telemetry TYPE=PATH ...]",
		Short: "Score a landing set against Signals and write the policy input",
		Long: `score reads the landing set that 'pulsegate correlate -o json' wrote, the
inventory it was computed from, and Signals (JSON lines as 'pulsegate fetch'
and 'pulsegate normalize' write them, or raw telemetry files as gate reads
them), matches the signals to the targets, scores the risk and writes the
policy input as JSON: the file 'pulsegate decide --input' reads.

With --results-dir it also writes the file risk-score (0..100) there, for a
Tekton result or an Argo output parameter.`,
		Example: `  pulsegate correlate --release deploy/ --inventory snapshot.json -o json > targets.json
  pulsegate score --targets targets.json --inventory snapshot.json --signals signals.jsonl --out scores.json
  pulsegate decide --input scores.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if now != "" {
				t, err := time.Parse(time.RFC3339Nano, now)
				if err != nil {
					return tasks.Usage(fmt.Errorf("--now: %q is not an RFC 3339 time like 2026-12-04T10:00:00Z", now))
				}
				p.Now = t
			}
			p.Telemetry = nil
			for _, v := range telemetry {
				typ, path, ok := strings.Cut(v, "=")
				if !ok || typ == "" || path == "" {
					return tasks.Usage(fmt.Errorf("--telemetry %q: want TYPE=PATH, e.g. falco=/var/log/falco.jsonl", v))
				}
				typ, name, _ := strings.Cut(typ, ":")
				p.Telemetry = append(p.Telemetry, gate.Telemetry{Type: typ, Name: name, Path: path})
			}
			in, err := score.Run(p, score.Env{Sources: builtin.Registry(), Rejects: cmd.ErrOrStderr(), ScoreAnomaly: gate.ScoreModel})
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return tasks.Usage(fmt.Errorf("--out: %w", err))
				}
				defer f.Close()
				w = f
			}
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(in); err != nil {
				return fmt.Errorf("write scores: %w", err)
			}
			if resultsDir != "" {
				return score.WriteResults(resultsDir, in)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&p.Targets, "targets", "", "landing set: the JSON of 'pulsegate correlate -o json'")
	fl.StringVar(&p.Inventory, "inventory", "", "cluster snapshot the landing set was computed from")
	fl.StringArrayVar(&p.Signals, "signals", nil, "Signals as JSON lines (repeatable)")
	fl.StringArrayVar(&telemetry, "telemetry", nil, "raw telemetry as TYPE=PATH or TYPE:NAME=PATH (repeatable)")
	fl.StringVar(&p.Cluster, "cluster", "", "cluster the release goes to (default: the landing set's)")
	fl.DurationVar(&p.Window, "window", 0, "how far back a signal counts (default: the built-in policy's)")
	fl.DurationVar(&p.MaxAge, "max-age", 0, "maximum age of every source (default 15m)")
	fl.StringVar(&p.Model, "model", "", "anomaly model file (default: no anomaly scoring)")
	fl.StringVar(&now, "now", "", "evaluate as of this RFC 3339 time (default: now)")
	fl.StringVarP(&out, "out", "O", "-", "where to write the policy input (- for standard output)")
	fl.StringVar(&resultsDir, "results-dir", "", "also write the result file risk-score into this folder")
	return c
}
