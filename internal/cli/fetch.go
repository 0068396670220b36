package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/fetch"
)

func newFetchCommand() *cobra.Command {
	var cfgPath, out string
	var only []string
	c := &cobra.Command{
		Use:   "fetch --config FILE [--out FILE]",
		Short: "Poll the configured pull sources once and write their Signals",
		Long: `fetch polls every pull source of the configuration (telemetry entries with a
url: prometheus, alertmanager, msgraph-alerts, crowdstrike) once, concurrently,
and writes their Signals as JSON lines to --out (standard output by default).
A summary per source goes to standard error. Credentials are read from the
files or environment variables the configuration names and never printed.

Exit 0 when every source answered, 1 when some could not be polled (the
others are still written), 2 on usage or configuration errors, 3 when the
output cannot be written.`,
		Example: `  pulsegate fetch --config pulsegate.yaml --out signals.jsonl
  pulsegate fetch --config pulsegate.yaml --source prometheus | pulsegate ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return tasks.Usage(errors.New("--config is required"))
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return tasks.Usage(err)
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
			bw := bufio.NewWriterSize(w, 1<<16)
			stderr := cmd.ErrOrStderr()
			res, err := fetch.Run(cmd.Context(), fetch.Params{Telemetry: cfg.Telemetry, Only: only}, fetch.Env{
				Sources: builtin.Registry(),
				Out:     bw,
				Rejects: stderr,
				Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			if err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write signals: %w", err)
			}
			for _, s := range res.Sources {
				if s.Status != "ok" {
					fmt.Fprintf(stderr, "%s (%s): unavailable: %s\n", s.Name, s.Type, s.Error)
					continue
				}
				fmt.Fprintf(stderr, "%s (%s): ok, %d records, %d rejected, %d signals\n", s.Name, s.Type, s.Health.Records, s.Health.Rejected, s.Signals)
			}
			if res.Failed() {
				return &ExitError{Code: ExitBlock, Err: errors.New("some sources could not be polled"), Silent: true}
			}
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file (its telemetry entries with a url are polled)")
	c.Flags().StringVarP(&out, "out", "O", "-", "where to write the Signals as JSON lines (- for standard output)")
	c.Flags().StringSliceVar(&only, "source", nil, "poll only the sources of these names (repeatable)")
	return c
}
