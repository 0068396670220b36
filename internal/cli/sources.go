package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/source/builtin"
)

func newSourcesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sources",
		Short: "List the telemetry types pulsegate reads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tPRODUCT\tALERT-ONLY\tWHAT")
			for _, s := range builtin.Specs {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", s.Type, s.Product, s.AlertOnly, s.Summary)
			}
			return tw.Flush()
		},
	}
}
