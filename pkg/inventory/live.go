package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// DefaultSyncTimeout bounds the initial list of every resource. A cluster
// of 150,000 pods lists in well under a minute; a list that has not finished
// by then is stuck (RBAC, an unreachable server).
const DefaultSyncTimeout = 60 * time.Second

// forbiddenGrace is how long a 403 or 401 may last before Watch gives up
// without waiting for the sync timeout. RBAC bindings created a moment ago
// can take a little while to reach the authorizer's cache.
const forbiddenGrace = 3 * time.Second

// LiveOptions configure Watch and FromCluster. The zero value is usable.
type LiveOptions struct {
	// Cluster is recorded as Inventory.Cluster.
	Cluster string
	// SyncTimeout bounds the wait for every informer's initial list;
	// 0 means DefaultSyncTimeout.
	SyncTimeout time.Duration
	// Logger receives list and watch errors while the informers run; nil
	// discards them.
	Logger *slog.Logger
}

// Watcher keeps the inventory's resources in client-go shared informer
// caches (list, then watch). Inventory returns point-in-time views of them.
type Watcher struct {
	cluster   string
	factory   informers.SharedInformerFactory
	resources []*resource
	cancel    context.CancelFunc
	stopOnce  sync.Once
}

// resource is one watched resource and the last error its reflector saw.
type resource struct {
	name     string // "pods"
	informer cache.SharedIndexInformer
	mu       sync.Mutex
	err      error
	since    time.Time // first of the consecutive 401/403 errors
}

func (r *resource) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		if r.since.IsZero() {
			r.since = time.Now()
		}
	} else {
		r.since = time.Time{}
	}
	r.err = err
}

func (r *resource) lastErr() (error, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err, r.since
}

// FromCluster lists and watches the inventory's resources through cfg until
// every cache has synced, returns one Inventory of them, and stops. The error
// names each resource that could not be listed and why (an RBAC 403 names
// the verbs and resource to grant; catalog/rbac/inventory-reader.yaml grants
// exactly these).
func FromCluster(ctx context.Context, cfg *rest.Config, opts LiveOptions) (*Inventory, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("inventory from cluster: %w", err)
	}
	w, err := Watch(ctx, cs, opts)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	return w.Inventory()
}

// Watch starts shared informers for the inventory's twelve resources and
// waits until their caches have synced, or fails with the resources that
// did not and their last errors. Call Stop when done; cancelling ctx stops
// the informers too.
func Watch(ctx context.Context, client kubernetes.Interface, opts LiveOptions) (*Watcher, error) {
	timeout := opts.SyncTimeout
	if timeout <= 0 {
		timeout = DefaultSyncTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	runCtx, cancel := context.WithCancel(ctx)
	f := informers.NewSharedInformerFactory(client, 0)
	w := &Watcher{cluster: opts.Cluster, factory: f, cancel: cancel}
	infs := map[string]cache.SharedIndexInformer{
		"namespaces":      f.Core().V1().Namespaces().Informer(),
		"nodes":           f.Core().V1().Nodes().Informer(),
		"pods":            f.Core().V1().Pods().Informer(),
		"replicasets":     f.Apps().V1().ReplicaSets().Informer(),
		"deployments":     f.Apps().V1().Deployments().Informer(),
		"statefulsets":    f.Apps().V1().StatefulSets().Informer(),
		"daemonsets":      f.Apps().V1().DaemonSets().Informer(),
		"jobs":            f.Batch().V1().Jobs().Informer(),
		"cronjobs":        f.Batch().V1().CronJobs().Informer(),
		"services":        f.Core().V1().Services().Informer(),
		"ingresses":       f.Networking().V1().Ingresses().Informer(),
		"serviceaccounts": f.Core().V1().ServiceAccounts().Informer(),
	}
	for _, k := range Kinds {
		inf := infs[k.Resource]
		r := &resource{name: k.Resource, informer: inf}
		if err := inf.SetTransform(stripTransform); err != nil {
			cancel()
			return nil, fmt.Errorf("inventory: %s informer: %w", r.name, err)
		}
		if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			r.setErr(err)
			log.Warn("inventory list/watch failed", "resource", r.name, "err", err)
		}); err != nil {
			cancel()
			return nil, fmt.Errorf("inventory: %s informer: %w", r.name, err)
		}
		w.resources = append(w.resources, r)
	}
	f.Start(runCtx.Done())

	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var pending []*resource
		for _, r := range w.resources {
			if !r.informer.HasSynced() {
				pending = append(pending, r)
			}
		}
		if len(pending) == 0 {
			return w, nil
		}
		// Give up on a 403/401 that lasted forbiddenGrace, once every
		// pending resource has answered (or after twice the grace).
		var oldest time.Duration
		answered := true
		for _, r := range pending {
			err, since := r.lastErr()
			answered = answered && err != nil
			if !since.IsZero() && time.Since(since) > oldest {
				oldest = time.Since(since)
			}
		}
		denied := oldest >= forbiddenGrace && (answered || oldest >= 2*forbiddenGrace)
		if denied {
			// Name every resource not synced yet, not only the first
			// refused: the fix is usually one role for all of them.
			errs := make([]error, 0, len(pending))
			for _, r := range pending {
				err, _ := r.lastErr()
				if err == nil {
					err = errors.New("no answer yet")
				}
				errs = append(errs, describe(r.name, err))
			}
			w.Stop()
			return nil, fmt.Errorf("inventory: cannot list and watch the cluster's resources: %w", errors.Join(errs...))
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			errs := make([]error, 0, len(pending))
			for _, r := range pending {
				err, _ := r.lastErr()
				if err == nil {
					err = errors.New("no answer yet")
				}
				errs = append(errs, describe(r.name, err))
			}
			w.Stop()
			cause := fmt.Sprintf("timed out after %s", timeout)
			if ctx.Err() != nil {
				cause = ctx.Err().Error()
			}
			return nil, fmt.Errorf("inventory: caches not synced (%s): %w", cause, errors.Join(errs...))
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// describe names the resource in a list/watch error and, for a 403, what to
// grant.
func describe(resource string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("list %s: forbidden: grant get, list and watch on %s (catalog/rbac/inventory-reader.yaml): %w", resource, resource, err)
	}
	return fmt.Errorf("list %s: %w", resource, err)
}

// Stop stops the informers. It is safe to call more than once.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() {
		w.cancel()
		w.factory.Shutdown()
	})
}

// Inventory returns the current contents of the caches as an Inventory,
// indexed, with Digest the sha256 of its WriteList output (so a live
// inventory and a snapshot written from it have the same digest). The
// objects are shared with the caches: they must not be modified.
func (w *Watcher) Inventory() (*Inventory, error) {
	inv := New()
	inv.Cluster = w.cluster
	for _, r := range w.resources {
		objs := r.informer.GetStore().List()
		for _, o := range objs {
			if err := inv.addTyped(o); err != nil {
				return nil, fmt.Errorf("inventory: %s: %w", r.name, err)
			}
		}
	}
	sortAll(inv)
	inv.Index()
	d, err := inv.digestList()
	if err != nil {
		return nil, err
	}
	inv.Digest = d
	return inv, nil
}

// sortAll orders every slice by namespace and name, so that a live
// inventory iterates like a snapshot that WriteList wrote.
func sortAll(inv *Inventory) {
	sortObjects(inv.ReplicaSets)
	sortObjects(inv.Deployments)
	sortObjects(inv.StatefulSets)
	sortObjects(inv.DaemonSets)
	sortObjects(inv.Jobs)
	sortObjects(inv.CronJobs)
	sortObjects(inv.Services)
	sortObjects(inv.Ingresses)
	sortObjects(inv.ServiceAccounts)
}

func sortObjects[T metav1.Object](s []T) {
	sort.Slice(s, func(i, j int) bool {
		if a, b := s[i].GetNamespace(), s[j].GetNamespace(); a != b {
			return a < b
		}
		return s[i].GetName() < s[j].GetName()
	})
}

// addTyped adds an object from an informer cache.
func (inv *Inventory) addTyped(o any) error {
	switch v := o.(type) {
	case *corev1.Namespace:
		inv.Namespaces[v.Name] = v
	case *corev1.Node:
		inv.Nodes[v.Name] = v
	case *corev1.Pod:
		inv.Pods = append(inv.Pods, v)
	case *appsv1.ReplicaSet:
		inv.ReplicaSets = append(inv.ReplicaSets, v)
	case *appsv1.Deployment:
		inv.Deployments = append(inv.Deployments, v)
	case *appsv1.StatefulSet:
		inv.StatefulSets = append(inv.StatefulSets, v)
	case *appsv1.DaemonSet:
		inv.DaemonSets = append(inv.DaemonSets, v)
	case *batchv1.Job:
		inv.Jobs = append(inv.Jobs, v)
	case *batchv1.CronJob:
		inv.CronJobs = append(inv.CronJobs, v)
	case *corev1.Service:
		inv.Services = append(inv.Services, v)
	case *networkingv1.Ingress:
		inv.Ingresses = append(inv.Ingresses, v)
	case *corev1.ServiceAccount:
		inv.ServiceAccounts = append(inv.ServiceAccounts, v)
	default:
		return fmt.Errorf("unexpected object %T in the cache", o)
	}
	return nil
}

// stripTransform drops managed fields and kubectl's last-applied annotation
// before an object enters the cache: on a large cluster they are most of
// its memory, and nothing here reads them.
func stripTransform(obj any) (any, error) {
	if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return obj, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[lastApplied]; ok {
			delete(a, lastApplied)
			if len(a) == 0 {
				m.SetAnnotations(nil)
			}
		}
	}
	return obj, nil
}
