package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/decide"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

func newReplayCommand() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "replay DECISION.json --inputs DIR",
		Short: "Re-evaluate a decision from its recorded inputs and check it is the same",
		Long: `replay runs the gate again on the inputs that 'pulsegate gate --record DIR'
saved, as of the recorded time, and compares the result with DECISION.json
(the gate's -o json output, or DIR/decision.json): the digest of every input,
the verdict, the reasons, the warnings and the decision id. It exits 0 when
they are the same, 1 when something differs (it names the input whose digest
differs), 2 on a usage error.`,
		Example: `  pulsegate gate --config pulsegate.yaml --release deploy/ -o json --record rec/ > decision.json
  pulsegate replay decision.json --inputs rec/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return tasks.Usage(errors.New("no record: give --inputs DIR (written by 'pulsegate gate --record DIR')"))
			}
			res, err := decide.Replay(args[0], dir, gate.Env{Sources: builtin.Registry(), Rejects: cmd.ErrOrStderr(), ScoreAnomaly: gate.ScoreModel})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			d := res.Replayed
			if res.Same() {
				fmt.Fprintf(out, "replay: the same decision\n  decision %s: %s with %d reasons\n", d.DecisionID, d.Verdict, len(d.Reasons))
				for _, r := range d.Reasons {
					fmt.Fprintf(out, "  - [%s] %s\n", r.Rule, r.Message)
				}
				return nil
			}
			fmt.Fprintf(out, "replay: a different decision (recorded %s, replayed %s)\n", res.Recorded.DecisionID, d.DecisionID)
			for _, x := range res.Differences {
				fmt.Fprintf(out, "  %s\n", x)
			}
			return &ExitError{Code: ExitBlock, Silent: true}
		},
	}
	c.Flags().StringVar(&dir, "inputs", "", "the record folder written by 'pulsegate gate --record DIR'")
	return c
}
