package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/fetch"
)

func newFetchCommand() *cobra.Command {
	var cfgPath, out, storePath string
	var only []string
	var ttl time.Duration
	var compact bool
	c := &cobra.Command{
		Use:   "fetch --config FILE [--out FILE] [--store PATH]",
		Short: "Poll the configured pull sources once and write their Signals, or keep them in the store",
		Long: `fetch polls every pull source of the configuration (telemetry entries with a
url: prometheus, alertmanager, msgraph-alerts, crowdstrike; or with kubernetes:
trivy, Trivy Operator's reports through a kubeconfig) once, concurrently,
and writes their Signals as JSON lines to --out (standard output by default).
A summary per source goes to standard error. Credentials are read from the
files or environment variables the configuration names and never printed.

With --store, the Signals go into the store (created if missing) instead
of standard output (give --out as well for both), the configured file
sources (a path, not a url) are read into it too, every source's outcome
is recorded there for 'pulsegate signals' and 'pulsegate gate --store', and
Signals older than --ttl are removed. Reading the same records again
stores them once. --compact then rewrites the store file without the space
removed Signals left (into a new file, renamed over the old one).

Exit 0 when every source answered, 1 when some could not be polled (the
others are still written), 2 on usage or configuration errors, 3 when the
output cannot be written.`,
		Example: `  pulsegate fetch --config pulsegate.yaml --out signals.jsonl
  pulsegate fetch --config pulsegate.yaml --source prometheus | pulsegate ...
  pulsegate fetch --config pulsegate.yaml --store /var/lib/pulsegate/store.db --ttl 72h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return tasks.Usage(errors.New("--config is required"))
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return tasks.Usage(err)
			}
			if ttl < 0 {
				return tasks.Usage(errors.New("--ttl must not be negative"))
			}
			if compact && storePath == "" {
				return tasks.Usage(errors.New("--compact compacts the store: give --store"))
			}
			var st *store.Store
			if storePath != "" {
				s, err := store.Open(storePath)
				if err != nil {
					return err
				}
				defer s.Close()
				st = s
			}
			var w io.Writer = cmd.OutOrStdout()
			if st != nil && !cmd.Flags().Changed("out") {
				w = io.Discard
			}
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
			var sink io.Writer = bw
			if w == io.Discard {
				sink = nil
			}
			res, err := fetch.Run(cmd.Context(), fetch.Params{Telemetry: cfg.Telemetry, Only: only, TTL: ttl, Cluster: cfg.Cluster}, fetch.Env{
				Sources: builtin.Registry(),
				Store:   st,
				Out:     sink,
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
				stored := ""
				if st != nil {
					stored = fmt.Sprintf(", %d new to the store", s.Stored)
				}
				fmt.Fprintf(stderr, "%s (%s): ok, %d records, %d rejected, %d signals%s\n", s.Name, s.Type, s.Health.Records, s.Health.Rejected, s.Signals, stored)
			}
			if st != nil && res.Expired > 0 {
				fmt.Fprintf(stderr, "store %s: %d signals older than %s expired\n", storePath, res.Expired, ttl)
			}
			if st != nil && compact {
				before, after, err := st.Compact()
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "store %s: compacted from %d to %d bytes\n", storePath, before, after)
			}
			if res.Failed() {
				return &ExitError{Code: ExitBlock, Err: errors.New("some sources could not be polled"), Silent: true}
			}
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "configuration file (its telemetry entries with a url or kubernetes are polled)")
	c.Flags().StringVarP(&out, "out", "O", "-", "where to write the Signals as JSON lines (- for standard output)")
	c.Flags().StringSliceVar(&only, "source", nil, "poll only the sources of these names (repeatable)")
	c.Flags().StringVar(&storePath, "store", "", "keep the Signals and every source's freshness in this store file (also reads the file sources)")
	c.Flags().DurationVar(&ttl, "ttl", 7*24*time.Hour, "with --store, remove Signals older than this (0 keeps everything)")
	c.Flags().BoolVar(&compact, "compact", false, "with --store, rewrite the store file afterwards to give back the space of removed Signals")
	return c
}
