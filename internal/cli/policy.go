package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

func newPolicyCommand() *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Show and check policies"}
	c.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the built-in default policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), policy.DefaultYAML)
			return err
		},
	})
	return c
}
