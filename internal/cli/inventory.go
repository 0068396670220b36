package cli

import (
	"bufio"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/kubeconfig"
	"github.com/pulsegate/pulsegate/tasks"
)

// clusterFlags are the flags of every command that reads a live cluster.
type clusterFlags struct {
	kubeconfig  string
	syncTimeout time.Duration
}

func (f *clusterFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	c.Flags().DurationVar(&f.syncTimeout, "sync-timeout", inventory.DefaultSyncTimeout, "how long to wait for the cluster's initial lists")
}

func newInventoryCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "inventory",
		Short: "Read what runs where in a cluster",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newInventorySnapshotCommand())
	return c
}

func newInventorySnapshotCommand() *cobra.Command {
	var f clusterFlags
	var context string
	c := &cobra.Command{
		Use:   "snapshot [--kubeconfig PATH] [--context NAME] > snapshot.json",
		Short: "Write a cluster's inventory as a snapshot file (a Kubernetes List)",
		Long: `snapshot lists and watches the twelve resources the landing set is computed
from (namespaces, nodes, pods, replicasets, deployments, statefulsets,
daemonsets, jobs, cronjobs, services, ingresses, serviceaccounts) until the
caches are in sync, and writes them as one Kubernetes List in JSON: the file
that --inventory reads. Managed fields and kubectl's last-applied annotation
are left out; the output is deterministic.

The read-only ClusterRole it needs is catalog/rbac/inventory-reader.yaml.`,
		Example: `  pulsegate inventory snapshot --context prod-eu-1 > snapshot.json
  pulsegate correlate --release deploy/ --inventory snapshot.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kubeconfig.Load(kubeconfig.Options{Path: f.kubeconfig, Context: context})
			if err != nil {
				return tasks.Usage(err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			inv, err := inventory.FromCluster(cmd.Context(), kc.Config, inventory.LiveOptions{Cluster: kc.Name, SyncTimeout: f.syncTimeout, Logger: log})
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			if err := inv.WriteList(w); err != nil {
				return fmt.Errorf("write snapshot: %w", err)
			}
			return w.Flush()
		},
	}
	f.register(c)
	c.Flags().StringVar(&context, "context", "", "kubeconfig context (default: the current one)")
	return c
}
