package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pulsegate/pulsegate/pkg/policy"
	pkgremediate "github.com/pulsegate/pulsegate/pkg/remediate"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
	"github.com/pulsegate/pulsegate/tasks/remediate"
)

// remediateTestEnv, when set (by tests), replaces the step's environment:
// a Runner on a test API server instead of one from a kubeconfig.
var remediateTestEnv *remediate.Env

func newRemediateCommand() *cobra.Command {
	var p remediate.Params
	var output, resultsDir string
	var noWait bool
	c := &cobra.Command{
		Use:   "remediate --remediation-config PATH --decision PATH [--action NAME ...] [--attempt N] [--apply]",
		Short: "Run one remediation attempt for a blocked decision",
		Long: `remediate runs the remediation actions that the configuration allows in
the environment (the environment's run list, or --action) for a decision
that blocked: it starts an Argo Workflow or Tekton PipelineRun with the
block's targets and reasons as parameters and waits for its outcome, or
acts on the block's targets with a built-in (cordon, isolate-pod,
delete-pod, scale-to-zero). Without --apply every change is a server-side
dry run. Names derive from the decision id, the action and --attempt: a
re-run of the same attempt finds what it started.

It exits 0 when every action succeeded (or was a dry run, or the decision
needs none), 1 when one failed or timed out, 2 for a usage error or an
action the environment does not allow, 3 for a runtime error.`,
		Example: `  pulsegate gate --config pulsegate.yaml --release deploy/ --report-dir report
  pulsegate remediate --remediation-config remediation.yaml --environment prod \
    --decision report/decision.json --attempt 1 --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return tasks.Usage(fmt.Errorf("--output %q: want text or json", output))
			}
			if noWait {
				p.Wait = -1
			}
			env := remediate.Env{}
			if remediateTestEnv != nil {
				env = *remediateTestEnv
			}
			recs, err := remediate.Step(cmd.Context(), p, env)
			if err != nil {
				return err
			}
			if err := writeRecords(cmd.OutOrStdout(), output, recs); err != nil {
				return err
			}
			if resultsDir != "" {
				if err := writeRemediateResults(resultsDir, recs); err != nil {
					return err
				}
			}
			if remediate.Failed(recs) {
				return &ExitError{Code: ExitBlock, Silent: true}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&p.Config, "remediation-config", "", "remediation configuration: actions, environments' allow lists, budget")
	fl.StringVar(&p.Environment, "environment", "", "environment whose allow list applies (default \"default\")")
	fl.StringArrayVar(&p.Actions, "action", nil, "action to run (repeatable; default: the environment's run list)")
	fl.StringVar(&p.Decision, "decision", "", "the gate's decision: 'pulsegate gate -o json' output or decision.json of --report-dir")
	fl.StringVar(&p.DecisionID, "decision-id", "", "decision id that names what is created (default: the decision's; give the first block's on every attempt)")
	fl.IntVar(&p.Attempt, "attempt", 1, "attempt number, from 1: the same attempt finds what it started, the next one starts anew")
	fl.BoolVar(&p.Apply, "apply", false, "act (default: a server-side dry run that changes nothing)")
	fl.DurationVar(&p.Wait, "timeout", 0, "wait this long for a workflow's outcome (default: the action's timeout, else the budget's)")
	fl.BoolVar(&noWait, "no-wait", false, "start workflows and return without waiting for their outcome")
	fl.StringVar(&p.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	fl.StringVar(&p.Context, "context", "", "kubeconfig context (default: the current one)")
	fl.StringVar(&p.AuditLog, "audit-log", "", "append every action to this hash-chained audit log")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	fl.StringVar(&resultsDir, "results-dir", "", "write result files outcome and objects here (Tekton results, Argo output parameters)")
	return c
}

func writeRecords(w io.Writer, output string, recs []pkgremediate.Record) error {
	if output == "json" {
		if recs == nil {
			recs = []pkgremediate.Record{}
		}
		b, err := json.MarshalIndent(recs, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "nothing to remediate: the decision is not an enforced block")
		return err
	}
	for _, r := range recs {
		if _, err := fmt.Fprintln(w, r.String()); err != nil {
			return err
		}
	}
	return nil
}

// worst orders outcomes for the outcome result.
var worst = []pkgremediate.Outcome{pkgremediate.Error, pkgremediate.Timeout, pkgremediate.Failed, pkgremediate.Running, pkgremediate.Succeeded, pkgremediate.DryRun, pkgremediate.Skipped}

func writeRemediateResults(dir string, recs []pkgremediate.Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	outcome := "none"
	for _, o := range worst {
		for _, r := range recs {
			if r.Outcome == o && outcome == "none" {
				outcome = string(o)
			}
		}
	}
	var objs []string
	size := 0
	for _, r := range recs {
		if r.Object != "" && size+len(r.Object)+1 <= 2048 {
			objs = append(objs, r.Object)
			size += len(r.Object) + 1
		}
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "outcome"), []byte(outcome), 0o644),
		os.WriteFile(filepath.Join(dir, "objects"), []byte(strings.Join(objs, "\n")), 0o644),
	)
}

// remediateGateFlags are `pulsegate gate --remediate` and its settings.
type remediateGateFlags struct {
	enabled             bool
	p                   remediate.Params
	history             string
	kubeconfig, context string
}

func (f *remediateGateFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.enabled, "remediate", false, "on a block, run the environment's remediation, wait for fresh data and gate again, within the budget (needs --remediation-config)")
	fl.StringVar(&f.p.Config, "remediation-config", "", "remediation configuration for --remediate")
	fl.StringArrayVar(&f.p.Actions, "action", nil, "with --remediate: the action to run (repeatable; default: the environment's run list)")
	fl.BoolVar(&f.p.Apply, "apply", false, "with --remediate: act (default: a server-side dry run, and the block stands)")
	fl.StringVar(&f.p.Kubeconfig, "kubeconfig", "", "with --remediate: kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	fl.StringVar(&f.p.Context, "context", "", "with --remediate: kubeconfig context (default: the current one)")
	fl.StringVar(&f.history, "remediation-history", "", "with --remediate: write what the loop did (records, re-checks, result) to this JSON file")
}

// run gates once, and with --remediate runs the loop on a block.
func (f *remediateGateFlags) run(cmd *cobra.Command, p gate.Params, env gate.Env, auditLog string) (*policy.Decision, error) {
	if !f.enabled {
		for _, n := range []string{"remediation-config", "action", "apply", "remediation-history"} {
			if cmd.Flags().Changed(n) {
				return nil, tasks.Usage(fmt.Errorf("--%s needs --remediate", n))
			}
		}
		return gate.Run(p, env)
	}
	if f.p.Config == "" {
		return nil, tasks.Usage(errors.New("--remediate needs --remediation-config PATH"))
	}
	first, err := gate.Run(p, env)
	if err != nil {
		return nil, err
	}
	rp := f.p
	rp.Environment = p.Environment
	rp.AuditLog = auditLog
	renv := remediate.Env{}
	if remediateTestEnv != nil {
		renv = *remediateTestEnv
	}
	d, h, err := remediate.Gate(cmd.Context(), p, env, rp, renv, first)
	if err != nil {
		return nil, err
	}
	for _, r := range h.Records {
		fmt.Fprintln(cmd.ErrOrStderr(), "remediation", r.String())
	}
	if h.Result != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "remediation result:", h.Result)
	}
	if f.history != "" {
		b, err := json.MarshalIndent(h, "", "  ")
		if err == nil {
			err = os.WriteFile(f.history, append(b, '\n'), 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("write remediation history: %w", err)
		}
	}
	return d, nil
}
