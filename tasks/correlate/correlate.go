// Package correlate is the correlate step: read a release and an inventory
// (a snapshot file, or one or more live clusters through kubeconfig
// contexts) and compute the release's landing set. `pulsegate correlate`
// and the pulsegate-correlate task run it.
package correlate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/kubeconfig"
	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/tasks"
)

// Params are the step's inputs. Exactly one of Inventory and Contexts
// gives the cluster; with neither, UseCurrentContext reads the kubeconfig's
// current context.
type Params struct {
	// Release is rendered manifests: a file, a folder or "-".
	Release string
	// Inventory is a snapshot file (a Kubernetes List), or "-".
	Inventory string
	// Contexts are kubeconfig contexts to read live; several give one
	// landing set per cluster, merged, each target naming its cluster.
	Contexts []string
	// UseCurrentContext reads the kubeconfig's current context when
	// neither Inventory nor Contexts is given.
	UseCurrentContext bool
	// Kubeconfig is a kubeconfig path; "" means $KUBECONFIG or
	// ~/.kube/config.
	Kubeconfig string
	// Namespace is for manifests that name none; "" means the context's
	// namespace (live) or "default".
	Namespace string
	// Cluster names the cluster of a snapshot.
	Cluster string
	// Sensitivity is a sensitivity mapping file; "" means the built-in one.
	Sensitivity string
	// SyncTimeout bounds a live inventory's initial list; 0 means
	// inventory.DefaultSyncTimeout.
	SyncTimeout time.Duration
}

// Results are the step's outputs: the landing set, as in the gate's
// decision JSON.
type Results struct {
	Workloads []string             `json:"workloads"`
	Clusters  []Cluster            `json:"clusters"`
	Targets   []correlate.Target   `json:"targets"`
	Excluded  []correlate.Excluded `json:"excluded"`
	Images    []release.Image      `json:"images,omitempty"`
	Other     map[string]int       `json:"ignored_kinds,omitempty"`
	Counts    map[string]int       `json:"counts"`
	byCluster []*correlate.LandingSet
}

// Cluster is one inventory the landing set was computed in.
type Cluster struct {
	Name string `json:"name"`
	// Context is the kubeconfig context, empty for a snapshot.
	Context string `json:"context,omitempty"`
	// Inventory is the digest of the inventory (sha256 of its List).
	Inventory string `json:"inventory"`
	Nodes     int    `json:"nodes"`
	Pods      int    `json:"pods"`
}

// Env is what the step needs from its caller.
type Env struct {
	// Logger receives informer errors while a live inventory syncs; nil
	// discards them.
	Logger *slog.Logger
}

// Run computes the landing set.
func Run(ctx context.Context, p Params, env Env) (*Results, error) {
	if p.Release == "" {
		return nil, tasks.Usage(errors.New("no release: give --release PATH"))
	}
	live := len(p.Contexts) > 0 || (p.Inventory == "" && p.UseCurrentContext)
	switch {
	case p.Inventory != "" && len(p.Contexts) > 0:
		return nil, tasks.Usage(errors.New("give either --inventory PATH or --context NAME, not both"))
	case p.Inventory == "" && !live:
		return nil, tasks.Usage(errors.New("no inventory: give --inventory PATH (a snapshot) or --context NAME (a live cluster)"))
	}
	if p.Inventory == "-" && p.Release == "-" {
		return nil, tasks.Usage(errors.New("--release and --inventory cannot both read standard input"))
	}
	var opts []correlate.Option
	if p.Sensitivity != "" {
		s, err := correlate.LoadSensitivity(p.Sensitivity)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		opts = append(opts, correlate.WithSensitivity(s))
	}

	type source struct {
		ctx, ns string
		inv     *inventory.Inventory
	}
	var srcs []source
	if !live {
		inv, err := inventory.Load(p.Inventory)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		inv.Cluster = p.Cluster
		srcs = append(srcs, source{inv: inv})
	} else {
		contexts := p.Contexts
		if len(contexts) == 0 {
			contexts = []string{""}
		}
		seen := map[string]bool{}
		for _, c := range contexts {
			if seen[c] {
				return nil, tasks.Usage(fmt.Errorf("--context %s given twice", c))
			}
			seen[c] = true
			kc, err := kubeconfig.Load(kubeconfig.Options{Path: p.Kubeconfig, Context: c})
			if err != nil {
				return nil, tasks.Usage(err)
			}
			name := kc.Name
			if len(contexts) == 1 && p.Cluster != "" {
				name = p.Cluster
			}
			inv, err := inventory.FromCluster(ctx, kc.Config, inventory.LiveOptions{Cluster: name, SyncTimeout: p.SyncTimeout, Logger: env.Logger})
			if err != nil {
				return nil, fmt.Errorf("context %q: %w", kc.Context, err)
			}
			srcs = append(srcs, source{ctx: kc.Context, ns: kc.Namespace, inv: inv})
		}
	}

	res := &Results{Counts: map[string]int{}}
	multi := len(srcs) > 1
	for _, s := range srcs {
		ns := p.Namespace
		if ns == "" {
			ns = s.ns
		}
		rel, err := release.Load(p.Release, release.Options{Namespace: ns, Cluster: s.inv.Cluster})
		if err != nil {
			return nil, tasks.Usage(err)
		}
		// A Rollout's workloadRef from the cluster brings its images.
		if rel, err = correlate.Resolve(rel, s.inv); err != nil {
			return nil, tasks.Usage(err)
		}
		if res.Workloads == nil {
			for _, w := range rel.Workloads {
				res.Workloads = append(res.Workloads, w.Ref())
			}
			res.Images, res.Other = rel.Images, rel.Other
			if len(res.Other) == 0 {
				res.Other = nil
			}
		}
		ls, err := correlate.Correlate(rel, s.inv, opts...)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		res.byCluster = append(res.byCluster, ls)
		res.Clusters = append(res.Clusters, Cluster{Name: s.inv.Cluster, Context: s.ctx, Inventory: s.inv.Digest, Nodes: len(s.inv.Nodes), Pods: len(s.inv.Pods)})
		for _, t := range ls.Targets {
			if multi {
				t.Cluster = s.inv.Cluster
			}
			res.Targets = append(res.Targets, t)
			res.Counts[string(t.Relation)]++
		}
		for _, e := range ls.Excluded {
			if multi {
				e.Cluster = s.inv.Cluster
			}
			res.Excluded = append(res.Excluded, e)
		}
	}
	if res.Excluded == nil {
		res.Excluded = []correlate.Excluded{}
	}
	res.Counts["excluded"] = len(res.Excluded)
	return res, nil
}

// LandingSets returns the landing set of each cluster, in the order of
// Clusters.
func (r *Results) LandingSets() []*correlate.LandingSet { return r.byCluster }

// WriteText prints the landing set for a person: one line per target, then
// the excluded nodes.
func (r *Results) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Clusters {
		name := c.Name
		if name == "" {
			name = "(unnamed)"
		}
		fmt.Fprintf(&b, "Cluster %s: %d nodes, %d pods, inventory %s\n", name, c.Nodes, c.Pods, c.Inventory)
	}
	fmt.Fprintf(&b, "Release: %s\n", strings.Join(r.Workloads, ", "))
	if len(r.Other) > 0 {
		kinds := make([]string, 0, len(r.Other))
		for k := range r.Other {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for i, k := range kinds {
			kinds[i] = fmt.Sprintf("%d %s", r.Other[k], k)
		}
		fmt.Fprintf(&b, "Ignored (kinds correlation does not use): %s\n", strings.Join(kinds, ", "))
	}
	rels := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		if k != "excluded" {
			rels = append(rels, k)
		}
	}
	sort.Strings(rels)
	var parts []string
	for _, k := range rels {
		parts = append(parts, fmt.Sprintf("%d %s", r.Counts[k], k))
	}
	fmt.Fprintf(&b, "Targets (%d): %s\n", len(r.Targets), strings.Join(parts, ", "))
	for _, t := range r.Targets {
		name := t.Name
		if t.Namespace != "" {
			name = t.Namespace + "/" + t.Name
		}
		if t.Cluster != "" {
			name = t.Cluster + ":" + name
		}
		extra := ""
		if t.Sensitivity != "" {
			extra += " [sensitivity " + t.Sensitivity + "]"
		}
		for _, e := range t.Exposure {
			extra += " [exposed: " + e.Type + " via " + e.Via + "]"
		}
		fmt.Fprintf(&b, "  %-18s %-14s %s: %s%s\n", t.Relation, t.Kind, name, t.Reason, extra)
	}
	if len(r.Excluded) > 0 {
		fmt.Fprintf(&b, "Excluded (%d):\n", len(r.Excluded))
		for _, e := range r.Excluded {
			name := e.Name
			if e.Cluster != "" {
				name = e.Cluster + ":" + name
			}
			who := e.Workload
			if n := len(e.Workloads); n > 1 {
				who = fmt.Sprintf("%s and %d more", e.Workload, n-1)
			}
			fmt.Fprintf(&b, "  %-14s %s: %s (%s)\n", e.Kind, name, e.Reason, who)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
