package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/report"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/decide"
)

func newDecideCommand() *cobra.Command {
	var p decide.Params
	var output string
	var evidence evidenceFlags
	c := &cobra.Command{
		Use:   "decide --input FILE [--policy PATH]",
		Short: "Apply a policy to a recorded policy input, once",
		Long: `decide evaluates a policy over a policy input: DIR/input.json written by
'pulsegate gate --record DIR', or one written by hand (docs/policy.md). It
prints the decision and exits like gate: 0 proceed (always in shadow mode),
1 block, 2 usage or configuration error. 'pulsegate score' writes such an
input too. Like gate, it can append to the audit log, sign an attestation
and write result files and reports.`,
		Example: `  pulsegate gate --config pulsegate.yaml --release deploy/ --record rec/
  pulsegate decide --input rec/input.json --policy stricter.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := report.Lookup(output)
			if err != nil {
				return tasks.Usage(err)
			}
			sign, err := evidence.check()
			if err != nil {
				return err
			}
			d, err := decide.Run(p)
			if err != nil {
				return err
			}
			if err := w(cmd.OutOrStdout(), d); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if err := evidence.write(cmd, d, sign); err != nil {
				return err
			}
			if d.Verdict == policy.Block && d.Enforced {
				return &ExitError{Code: ExitBlock, Silent: true}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&p.Input, "input", "", "policy input in JSON (DIR/input.json of a record)")
	fl.StringVar(&p.Policy, "policy", "", "policy file (default: the built-in policy)")
	fl.StringVar(&p.Mode, "mode", "", "enforce or shadow (default: the input's)")
	fl.StringVar(&p.Environment, "environment", "", "environment name the rules see (default: the input's)")
	fl.StringVar(&p.BreakGlass, "break-glass-file", "", "break-glass file: who, why, ticket, expires")
	fl.StringVarP(&output, "output", "o", "text", "report format: text, json or markdown")
	evidence.register(fl)
	return c
}

func sortStrings(s []string) { sort.Strings(s) }
