package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
)

func newNormalizeCommand() *cobra.Command {
	var typ string
	var summary bool
	c := &cobra.Command{
		Use:   "normalize --type TYPE [FILE...]",
		Short: "Print one normalized Signal per input record, as JSON lines",
		Long: `normalize reads raw telemetry (standard input when no file is given) and
writes one normalized Signal per usable record to standard output. Records it
cannot use go to standard error as FILE:LINE: reason. Exit 0 when every record
was used, 1 when some were rejected, 2 on usage errors.`,
		Example: `  pulsegate normalize --type falco /var/log/falco.jsonl
  kubectl logs ds/tetragon -c export-stdout | pulsegate normalize --type tetragon --summary`,
		RunE: func(cmd *cobra.Command, files []string) error {
			spec, err := builtin.Registry().Lookup(typ)
			if err != nil {
				return tasks.Usage(err)
			}
			if len(files) == 0 {
				files = []string{"-"}
			}
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			defer out.Flush()
			enc := json.NewEncoder(out)
			rejected := 0
			counts := map[string]int{}
			for _, f := range files {
				b, err := source.ReadFile(f, spec, signal.SourceRef{Name: typ, Type: typ}, func(r source.Reject) {
					fmt.Fprintln(cmd.ErrOrStderr(), r.Error())
				})
				if err != nil {
					return tasks.Usage(fmt.Errorf("read %s: %w", f, err))
				}
				rejected += b.Rejected
				for i := range b.Signals {
					s := &b.Signals[i]
					if summary {
						counts[fmt.Sprintf("%s\t%d\t%s", typ, s.ClassUID, s.Severity)]++
						continue
					}
					if err := enc.Encode(s); err != nil {
						return err
					}
				}
			}
			if summary {
				keys := make([]string, 0, len(counts))
				for k := range counts {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TYPE\tCLASS\tSEVERITY\tSIGNALS")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%d\n", k, counts[k])
				}
				fmt.Fprintf(tw, "rejected\t\t\t%d\n", rejected)
				tw.Flush()
			}
			if rejected > 0 {
				out.Flush()
				return &ExitError{Code: 1, Err: fmt.Errorf("%d records rejected", rejected)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "", "telemetry type (see 'pulsegate sources')")
	_ = c.MarkFlagRequired("type")
	c.Flags().BoolVar(&summary, "summary", false, "print counts by type, class and severity instead of signals")
	return c
}
