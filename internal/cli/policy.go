package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/tasks"
)

func newPolicyCommand() *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Show, check and test policies"}
	c.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the built-in default policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), policy.DefaultYAML)
			return err
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "check PATH",
		Short: "Load and compile a policy file; exit 0 when it is valid, 2 when not",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return tasks.Usage(err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: policy %q, %d rules, valid\n", args[0], p.Name, len(p.Rules))
			return err
		},
	})
	var verbose bool
	test := &cobra.Command{
		Use:   "test PATH",
		Short: "Run policy test cases: exit 0 when all pass, 1 when one fails, 2 on a usage error",
		Long: `test runs the cases in a policy test file, or in every *_test.yaml under a
folder. A case gives an input (a file recorded with 'pulsegate gate --record
DIR', or one written inline) and the verdict and reasons it expects; a failed
case prints what differs. See docs/policy.md.`,
		Example: `  pulsegate policy test examples/policy/
  pulsegate policy test examples/policy/policy_test.yaml -v`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := policy.RunTests(args[0])
			if err != nil {
				return tasks.Usage(err)
			}
			out := cmd.OutOrStdout()
			for _, c := range res.Cases {
				name := fmt.Sprintf("%s: %s", filepath.ToSlash(c.File), c.Name)
				if c.Diff != "" {
					fmt.Fprintf(out, "FAIL %s\n%s", name, c.Diff)
				} else if verbose {
					fmt.Fprintf(out, "PASS %s\n", name)
				}
			}
			failed := res.Failed()
			fmt.Fprintf(out, "%d passed, %d failed\n", len(res.Cases)-failed, failed)
			if failed > 0 {
				return &ExitError{Code: ExitBlock, Silent: true}
			}
			return nil
		},
	}
	test.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing cases too")
	c.AddCommand(test)
	c.AddCommand(&cobra.Command{
		Use:   "vars",
		Short: "List the fields of the values a rule reads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "variables: %s\n", strings.Join(policy.Variables, ", "))
			for _, k := range []string{"signal", "source", "target", "contribution"} {
				fmt.Fprintf(out, "\n%s:\n", k)
				doc := policy.Fields(k)
				names := make([]string, 0, len(doc))
				for n := range doc {
					names = append(names, n)
				}
				sortStrings(names)
				for _, n := range names {
					fmt.Fprintf(out, "  %-15s %s\n", n, doc[n])
				}
			}
			return nil
		},
	})
	return c
}
