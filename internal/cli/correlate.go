package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/correlate"
)

func newCorrelateCommand() *cobra.Command {
	var f clusterFlags
	var p correlate.Params
	var output, out string
	c := &cobra.Command{
		Use:   "correlate --release PATH (--inventory PATH | --context NAME ...)",
		Short: "Print the resources a release will touch (its landing set)",
		Long: `correlate maps a release's rendered manifests onto a cluster: the pods it
replaces and the nodes they run on, the nodes its new pods can be scheduled
on, its namespaces and ServiceAccounts, and its network neighbours (the
Services that select its pods and the other pods behind them). Nodes
considered and left out are listed under excluded, with the reason.

The cluster is a snapshot file (--inventory, as 'pulsegate inventory
snapshot' writes it) or live clusters (--context, repeatable: one landing set
per cluster, each target naming its cluster).`,
		Example: `  pulsegate correlate --release deploy/ --inventory snapshot.json
  pulsegate correlate --release deploy/ --context prod-eu-1 --context prod-us-1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "text", "json":
			default:
				return tasks.Usage(fmt.Errorf("-o %q: want text or json", output))
			}
			if p.Inventory == "" && len(p.Contexts) == 0 {
				return tasks.Usage(errors.New("no inventory: give --inventory PATH (a snapshot) or --context NAME (a live cluster)"))
			}
			p.Kubeconfig, p.SyncTimeout = f.kubeconfig, f.syncTimeout
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			res, err := correlate.Run(cmd.Context(), p, correlate.Env{Logger: log})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return tasks.Usage(fmt.Errorf("--out: %w", err))
				}
				defer f.Close()
				w = f
			}
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return res.WriteText(w)
		},
	}
	f.register(c)
	fl := c.Flags()
	fl.StringVar(&p.Release, "release", "", "rendered manifests: a file, a folder, or - for stdin")
	fl.StringVar(&p.Inventory, "inventory", "", "cluster snapshot: a Kubernetes List in JSON or YAML")
	fl.StringArrayVar(&p.Contexts, "context", nil, "kubeconfig context to read live (repeatable)")
	fl.StringVar(&p.Namespace, "namespace", "", "namespace for manifests that name none (default: the context's, else \"default\")")
	fl.StringVar(&p.Cluster, "cluster", "", "name of the cluster (default: the context's cluster)")
	fl.StringVar(&p.Sensitivity, "sensitivity", "", "sensitivity mapping file (YAML; default: the built-in mapping)")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	fl.StringVar(&out, "out", "-", "where to write the landing set (- for standard output)")
	return c
}
