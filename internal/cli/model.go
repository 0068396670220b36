package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/model"
	"github.com/pulsegate/pulsegate/tasks"
)

func newModelCommand() *cobra.Command {
	c := &cobra.Command{Use: "model", Short: "Evaluate and inspect anomaly models"}
	var opt model.EvalOptions
	ev := &cobra.Command{
		Use:   "evaluate --csv FILE",
		Short: "Fit and score an isolation forest on a labelled CSV over several seeds",
		Long: `evaluate reads a CSV with a header whose label column is 1 for an anomaly
and 0 otherwise (every other column is a feature), fits an isolation forest
on all rows and scores all rows for each seed, and prints one JSON object:
auc_mean, auc_sd, ap_mean, fit_seconds, score_seconds,
score_points_per_second, rows, columns. Use it to check the model on your
own labelled data.`,
		Example: `  pulsegate model evaluate --csv shuttle.csv --seeds 10`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("csv")
			f, err := os.Open(path)
			if err != nil {
				return tasks.Usage(fmt.Errorf("--csv: %w", err))
			}
			defer f.Close()
			res, err := model.Evaluate(f, opt)
			if err != nil {
				return tasks.Usage(fmt.Errorf("%s: %w", path, err))
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		},
	}
	ev.Flags().String("csv", "", "labelled CSV file (required)")
	_ = ev.MarkFlagRequired("csv")
	ev.Flags().StringVar(&opt.LabelColumn, "label-column", "label", "the label column (1 = anomaly)")
	ev.Flags().IntVar(&opt.Seeds, "seeds", 10, "number of seeds (0..seeds-1)")
	ev.Flags().IntVar(&opt.Trees, "trees", 100, "trees per forest")
	ev.Flags().IntVar(&opt.MaxSamples, "max-samples", 256, "subsample size per tree (lowered to the row count)")
	ev.Flags().BoolVar(&opt.Extended, "extended", false, "extended isolation forest (hyperplane splits)")
	c.AddCommand(ev, newModelShowCommand(), newModelRollbackCommand())
	return c
}
