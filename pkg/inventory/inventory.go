// Package inventory holds what runs where in a cluster: namespaces, nodes,
// pods and their controllers, Services, Ingresses and ServiceAccounts. It is
// read from a snapshot file (a Kubernetes List, exactly what `kubectl get
// namespaces,nodes,pods,... -A -o json` prints) or, in a later stage, from a
// live cluster. An Inventory is read-only once built and safe for concurrent
// use.
package inventory

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/pulsegate/pulsegate/pkg/kube"
)

// Inventory is a point-in-time view of one cluster.
type Inventory struct {
	Cluster         string
	Namespaces      map[string]*corev1.Namespace
	Nodes           map[string]*corev1.Node
	Pods            []*corev1.Pod
	ReplicaSets     []*appsv1.ReplicaSet
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	DaemonSets      []*appsv1.DaemonSet
	Jobs            []*batchv1.Job
	CronJobs        []*batchv1.CronJob
	Services        []*corev1.Service
	Ingresses       []*networkingv1.Ingress
	ServiceAccounts []*corev1.ServiceAccount
	// Skipped counts objects of kinds the inventory does not use.
	Skipped map[string]int
	// Digest is the sha256 of the snapshot bytes ("sha256:...").
	Digest string

	podsByNS   map[string][]*corev1.Pod
	podsByNode map[string][]*corev1.Pod
	podByKey   map[nsName]*corev1.Pod
	podByCID   map[string]*corev1.Pod
	rsByKey    map[nsName]*appsv1.ReplicaSet
	jobByKey   map[nsName]*batchv1.Job
	nodeNames  []string
	ctrlsByNS  map[string][]*ControllerPods
	svcByNS    map[string][]*corev1.Service
	saByKey    map[nsName]*corev1.ServiceAccount
	ingBySvc   map[nsName][]*networkingv1.Ingress
	podsByLbl  map[label][]*corev1.Pod
	// podRaw holds the item bytes of the pods that Parse read with the pod
	// decoder (which keeps only some fields), for WriteList; slimPods says
	// that Load read pods with it and kept nothing else.
	podRaw   map[*corev1.Pod][]byte
	slimPods bool
}

// ControllerPods are the pods of one top-level controller in a namespace,
// as Controller names it: Kind "Pod" for a pod without a controller (then
// Pods holds that one pod).
type ControllerPods struct {
	Kind, Name string
	Pods       []*corev1.Pod // sorted by name
}

// Load reads a snapshot file (JSON or YAML), or standard input for "-",
// to evaluate releases against: pods hold the fields listed in pod.go (THE
// RULE) and nothing else is kept, so WriteList refuses such an inventory
// (use Parse to rewrite a snapshot).
func Load(path string) (*Inventory, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	inv, err := parse(b, path, false)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return inv, nil
}

// Parse builds an Inventory from snapshot bytes. Pods hold the fields
// listed in pod.go (THE RULE) when the snapshot is a JSON List; the
// inventory keeps a copy of each pod's bytes, so WriteList writes pods
// whole.
func Parse(b []byte, file string) (*Inventory, error) { return parse(b, file, true) }

// parse is Parse; keep says whether to keep the pods' bytes for WriteList.
func parse(b []byte, file string, keep bool) (*Inventory, error) {
	inv := New()
	if parseList(b, inv, keep) == nil {
		sum := sha256.Sum256(b)
		inv.Digest = "sha256:" + hex.EncodeToString(sum[:])
		inv.Index()
		return inv, nil
	}
	objs, err := kube.Parse(b, file)
	if err != nil {
		return nil, err
	}
	inv = New()
	var errs []error
	for _, o := range objs {
		if err := inv.add(o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	inv.Digest = "sha256:" + hex.EncodeToString(sum[:])
	inv.Index()
	return inv, nil
}

// New returns an empty inventory; fill it and call Index.
func New() *Inventory {
	return &Inventory{
		Namespaces: map[string]*corev1.Namespace{},
		Nodes:      map[string]*corev1.Node{},
		Skipped:    map[string]int{},
	}
}

func (inv *Inventory) add(o kube.Object) error {
	switch o.Kind {
	case "Namespace":
		v := new(corev1.Namespace)
		if err := o.Decode(v); err != nil {
			return err
		}
		inv.Namespaces[v.Name] = v
	case "Node":
		v := new(corev1.Node)
		if err := o.Decode(v); err != nil {
			return err
		}
		inv.Nodes[v.Name] = v
	case "Pod":
		return decodeInto(o, &inv.Pods)
	case "ReplicaSet":
		return decodeInto(o, &inv.ReplicaSets)
	case "Deployment":
		return decodeInto(o, &inv.Deployments)
	case "StatefulSet":
		return decodeInto(o, &inv.StatefulSets)
	case "DaemonSet":
		return decodeInto(o, &inv.DaemonSets)
	case "Job":
		return decodeInto(o, &inv.Jobs)
	case "CronJob":
		return decodeInto(o, &inv.CronJobs)
	case "Service":
		return decodeInto(o, &inv.Services)
	case "Ingress":
		return decodeInto(o, &inv.Ingresses)
	case "ServiceAccount":
		return decodeInto(o, &inv.ServiceAccounts)
	default:
		inv.Skipped[o.Kind]++
	}
	return nil
}

func decodeInto[T any](o kube.Object, dst *[]*T) error {
	v := new(T)
	if err := o.Decode(v); err != nil {
		return err
	}
	*dst = append(*dst, v)
	return nil
}

// Index builds the lookup tables. Call it after changing the slices.
func (inv *Inventory) Index() {
	inv.rsByKey = make(map[nsName]*appsv1.ReplicaSet, len(inv.ReplicaSets))
	for _, rs := range inv.ReplicaSets {
		inv.rsByKey[nsName{rs.Namespace, rs.Name}] = rs
	}
	inv.jobByKey = make(map[nsName]*batchv1.Job, len(inv.Jobs))
	for _, j := range inv.Jobs {
		inv.jobByKey[nsName{j.Namespace, j.Name}] = j
	}
	inv.podByKey = make(map[nsName]*corev1.Pod, len(inv.Pods))
	inv.podByCID = make(map[string]*corev1.Pod, 2*len(inv.Pods))
	inv.ctrlsByNS = map[string][]*ControllerPods{}
	slices.SortStableFunc(inv.Pods, func(a, b *corev1.Pod) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	type ctrlKey struct{ ns, kind, name string }
	ctrl := map[ctrlKey]*ControllerPods{}
	var byNS, byNode grouper[string, *corev1.Pod]
	var byLbl grouper[label, *corev1.Pod]
	for _, p := range inv.Pods {
		byNS.add(p.Namespace, p)
		if p.Spec.NodeName != "" {
			byNode.add(p.Spec.NodeName, p)
		}
		inv.podByKey[nsName{p.Namespace, p.Name}] = p
		for _, list := range [2][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, cs := range list {
				if id := ContainerID(cs.ContainerID); id != "" {
					inv.podByCID[id] = p
					if len(id) > 12 {
						inv.podByCID[id[:12]] = p // Falco's short id
					}
				}
			}
		}
		for k, v := range p.Labels {
			byLbl.add(label{p.Namespace, k, v}, p)
		}
		kind, name := inv.Controller(p)
		ck := ctrlKey{p.Namespace, kind, name}
		c := ctrl[ck]
		if c == nil {
			c = &ControllerPods{Kind: kind, Name: name}
			ctrl[ck] = c
			inv.ctrlsByNS[p.Namespace] = append(inv.ctrlsByNS[p.Namespace], c)
		}
		c.Pods = append(c.Pods, p)
	}
	inv.podsByNS, inv.podsByNode, inv.podsByLbl = byNS.m(), byNode.m(), byLbl.m()
	for _, cs := range inv.ctrlsByNS {
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].Kind != cs[j].Kind {
				return cs[i].Kind < cs[j].Kind
			}
			return cs[i].Name < cs[j].Name
		})
	}
	inv.nodeNames = inv.nodeNames[:0]
	for n := range inv.Nodes {
		inv.nodeNames = append(inv.nodeNames, n)
	}
	sort.Strings(inv.nodeNames)
	inv.svcByNS = map[string][]*corev1.Service{}
	for _, s := range inv.Services {
		inv.svcByNS[s.Namespace] = append(inv.svcByNS[s.Namespace], s)
	}
	for _, ss := range inv.svcByNS {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	}
	inv.saByKey = make(map[nsName]*corev1.ServiceAccount, len(inv.ServiceAccounts))
	for _, sa := range inv.ServiceAccounts {
		inv.saByKey[nsName{sa.Namespace, sa.Name}] = sa
	}
	inv.ingBySvc = map[nsName][]*networkingv1.Ingress{}
	for _, ing := range inv.Ingresses {
		seen := map[string]bool{}
		for _, svc := range IngressServices(ing) {
			if !seen[svc] {
				seen[svc] = true
				k := nsName{ing.Namespace, svc}
				inv.ingBySvc[k] = append(inv.ingBySvc[k], ing)
			}
		}
	}
}

// IngressServices names the Services an Ingress routes to (default backend
// and rule paths), in the order they appear; names may repeat.
func IngressServices(ing *networkingv1.Ingress) []string {
	var out []string
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		out = append(out, b.Service.Name)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				out = append(out, p.Backend.Service.Name)
			}
		}
	}
	return out
}

// Controllers returns the top-level controllers of the pods in ns, with
// their pods, sorted by kind and name.
func (inv *Inventory) Controllers(ns string) []*ControllerPods { return inv.ctrlsByNS[ns] }

// PodsWithLabel returns the pods of ns whose label key has value, sorted by
// name.
func (inv *Inventory) PodsWithLabel(ns, key, value string) []*corev1.Pod {
	return inv.podsByLbl[label{ns, key, value}]
}

// ServicesInNamespace returns the Services of ns, sorted by name.
func (inv *Inventory) ServicesInNamespace(ns string) []*corev1.Service { return inv.svcByNS[ns] }

// ServiceAccount returns the ServiceAccount ns/name, or nil.
func (inv *Inventory) ServiceAccount(ns, name string) *corev1.ServiceAccount {
	return inv.saByKey[nsName{ns, name}]
}

// IngressesFor returns the Ingresses that route to Service ns/name.
func (inv *Inventory) IngressesFor(ns, name string) []*networkingv1.Ingress {
	return inv.ingBySvc[nsName{ns, name}]
}

func key(ns, name string) string { return ns + "/" + name }

// grouper collects values by key with one map lookup per value.
type grouper[K comparable, V any] struct {
	idx   map[K]int
	lists [][]V
}

func (g *grouper[K, V]) add(k K, v V) {
	i, ok := g.idx[k]
	if !ok {
		if g.idx == nil {
			g.idx = map[K]int{}
		}
		i = len(g.lists)
		g.idx[k] = i
		g.lists = append(g.lists, nil)
	}
	g.lists[i] = append(g.lists[i], v)
}

// m returns the groups as a map (never nil).
func (g *grouper[K, V]) m() map[K][]V {
	out := make(map[K][]V, len(g.idx))
	for k, i := range g.idx {
		out[k] = g.lists[i]
	}
	return out
}

// nsName keys the lookup tables (no string is built for a lookup).
type nsName struct{ ns, name string }

// label keys podsByLbl: a namespace, a label key and its value.
type label struct{ ns, key, value string }

// ContainerID strips the runtime prefix ("containerd://") from id.
func ContainerID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// NodeNames returns all node names, sorted.
func (inv *Inventory) NodeNames() []string { return inv.nodeNames }

// PodsInNamespace returns the pods of ns, sorted by name.
func (inv *Inventory) PodsInNamespace(ns string) []*corev1.Pod { return inv.podsByNS[ns] }

// PodsOnNode returns the pods bound to node, sorted by namespace and name.
func (inv *Inventory) PodsOnNode(node string) []*corev1.Pod { return inv.podsByNode[node] }

// Pod returns the pod ns/name, or nil.
func (inv *Inventory) Pod(ns, name string) *corev1.Pod { return inv.podByKey[nsName{ns, name}] }

// PodByContainerID finds the pod running a container, by full or 12-char id.
func (inv *Inventory) PodByContainerID(id string) *corev1.Pod { return inv.podByCID[ContainerID(id)] }

// Controller names the top-level controller of a pod: for a pod owned by a
// ReplicaSet owned by a Deployment it returns ("Deployment", name). A pod
// without an owner is its own controller.
func (inv *Inventory) Controller(p *corev1.Pod) (kind, name string) {
	for _, ref := range p.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		switch ref.Kind {
		case "ReplicaSet":
			if rs := inv.rsByKey[nsName{p.Namespace, ref.Name}]; rs != nil {
				for _, up := range rs.OwnerReferences {
					if up.Controller != nil && *up.Controller && (up.Kind == "Deployment" || up.Kind == "Rollout") {
						return up.Kind, up.Name
					}
				}
			}
			return ref.Kind, ref.Name
		case "Job":
			if j := inv.jobByKey[nsName{p.Namespace, ref.Name}]; j != nil {
				for _, up := range j.OwnerReferences {
					if up.Controller != nil && *up.Controller && up.Kind == "CronJob" {
						return up.Kind, up.Name
					}
				}
			}
			return ref.Kind, ref.Name
		default:
			return ref.Kind, ref.Name
		}
	}
	return "Pod", p.Name
}

// NodeReady reports whether the node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
