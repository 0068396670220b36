// Package correlate maps a Release onto the resources it will touch (its
// landing set of Targets) and decides which Signals concern which Target.
// Only Signals that concern a Target may influence the release's decision.
//
// The landing set holds the pods the release replaces and the nodes they run
// on, the nodes its new pods can be scheduled on (Kubernetes' own
// scheduling helpers decide: node affinity, taints and tolerations;
// cordoned and NotReady nodes are left out except for DaemonSets), its
// namespaces and ServiceAccounts, and its network neighbours: the Services
// that select its pods and the other pods behind them. Nodes considered and
// left out are listed apart, with the reason, never among the targets.
package correlate

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

// Relation says how a Target relates to the release.
type Relation string

// Relations, from the closest to the farthest.
const (
	// ReplacedPod is a running pod that the release replaces.
	ReplacedPod Relation = "replaced-pod"
	// CurrentNode runs a pod that the release replaces.
	CurrentNode Relation = "current-node"
	// EligibleNode can receive the release's new pods (selectors,
	// affinity, taints and readiness allow it).
	EligibleNode Relation = "eligible-node"
	// Namespace is where the release lands.
	Namespace Relation = "namespace"
	// ServiceAccount runs the release's pods.
	ServiceAccount Relation = "service-account"
	// NetworkNeighbour is a Service that selects the release's pods, or
	// another pod behind such a Service: it shares traffic with the
	// release.
	NetworkNeighbour Relation = "network-neighbour"
)

// Target is one resource in the release's landing set.
type Target struct {
	Kind      string   `json:"kind"` // Pod, Node, Namespace, ServiceAccount, Service
	Name      string   `json:"name"`
	Namespace string   `json:"namespace,omitempty"`
	Relation  Relation `json:"relation"`
	// Reason says why the target is in the set, for a person.
	Reason string `json:"reason"`
	// Workloads lists the release workloads ("Deployment payments/api")
	// that bring this target in, sorted. Eligible nodes may share theirs:
	// do not modify.
	Workloads []string `json:"workloads,omitempty"`
	// Sensitivity is "high", "medium" or "low", from labels and
	// annotations (see Sensitivity); empty when no rule matches.
	Sensitivity string `json:"sensitivity,omitempty"`
	// Exposure lists how the target is reachable from outside the
	// cluster: a Service of type LoadBalancer or NodePort, external IPs,
	// an Ingress. Empty when it is not.
	Exposure []Exposure `json:"exposure,omitempty"`
	// NetworkPolicies names the release's NetworkPolicies that select the
	// release's pods in this namespace ("NetworkPolicy shop/web"), on
	// namespace targets. Recorded; they do not narrow the set.
	NetworkPolicies []string `json:"network_policies,omitempty"`
	// Cluster names the cluster when a landing set spans several.
	Cluster string `json:"cluster,omitempty"`
}

// Exposure is one way a target is reachable from outside the cluster.
type Exposure struct {
	// Type is "LoadBalancer", "NodePort", "ExternalIP" or "Ingress".
	Type string `json:"type"`
	// Via is the object that exposes it: "Service payments/api",
	// "Ingress payments/web".
	Via string `json:"via"`
	// Hosts are the Ingress rules' hosts or the load balancer's
	// addresses, when known.
	Hosts []string `json:"hosts,omitempty"`
}

// ID is "Kind/namespace/name" (namespace empty for cluster-scoped kinds).
func (t Target) ID() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

// String is the short human form: "node worker-3", "pod payments/api-1".
func (t Target) String() string {
	if t.Namespace == "" {
		return strings.ToLower(t.Kind) + " " + t.Name
	}
	return strings.ToLower(t.Kind) + " " + t.Namespace + "/" + t.Name
}

// Excluded is a node that was considered for new pods and left out, with
// the reason. One entry stands for every workload left out of that node for
// that reason.
type Excluded struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Workload is the first of Workloads.
	Workload string `json:"workload"`
	// Workloads are the release workloads whose pods cannot land here for
	// Reason, sorted. Shared between entries: do not modify.
	Workloads []string `json:"workloads,omitempty"`
	Reason    string   `json:"reason"`
	Cluster   string   `json:"cluster,omitempty"`
}

// LandingSet is the result of Correlate.
type LandingSet struct {
	Targets  []Target   `json:"targets"`
	Excluded []Excluded `json:"excluded,omitempty"`
}

// Option configures Correlate.
type Option func(*options) error

type options struct {
	sensitivity *Sensitivity
}

// WithSensitivity replaces the built-in sensitivity mapping
// (DefaultSensitivity). nil is rejected; an empty mapping gives no target a
// sensitivity.
func WithSensitivity(s *Sensitivity) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("correlate: WithSensitivity(nil): give DefaultSensitivity() or an empty mapping")
		}
		o.sensitivity = s
		return nil
	}
}

// Correlate computes the landing set of rel in inv. The result is
// deterministic: targets are ordered by relation, kind, namespace and name;
// excluded nodes by name, workload and reason.
func Correlate(rel *release.Release, inv *inventory.Inventory, opts ...Option) (*LandingSet, error) {
	o := options{sensitivity: DefaultSensitivity()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	b := newBuilder(inv, o)
	rel, err := b.useRelease(rel) // releaseobjects.go
	if err != nil {
		return nil, err
	}
	b.findReplaced(rel.Workloads)
	for i, w := range rel.Workloads {
		if err := b.workload(i, w); err != nil {
			return nil, err
		}
	}
	if err := b.releaseNotes(rel); err != nil {
		return nil, err
	}
	return b.finish(), nil
}

func rank(r Relation) int {
	switch r {
	case ReplacedPod:
		return 0
	case CurrentNode:
		return 1
	case EligibleNode:
		return 2
	case Namespace:
		return 3
	case ServiceAccount:
		return 4
	case NetworkNeighbour:
		return 5
	default:
		return 6
	}
}

type builder struct {
	inv  *inventory.Inventory
	opt  options
	sens sensIndex
	// byID holds the targets other than pods by ID, pods holds the pod
	// targets (by far the most) without building their IDs; targets lists
	// both in the order they were first added. Node targets of the
	// inventory's nodes are made apart, in finish.
	byID    map[string]*Target
	pods    map[podKey]*Target
	targets []*Target
	slab    []Target // where targets live: allocated in blocks
	arena   []string // where workload lists start: allocated in blocks
	// replaced maps every replaced pod to its target, so that a pod is
	// never also listed as its own neighbour.
	replaced map[*corev1.Pod]*Target
	// sels holds, per namespace, the Services with a selector.
	sels map[string][]svcSelector

	// Nodes, indexed like nodes.
	nodes    []*corev1.Node
	nodeIdx  map[string]int
	current  []*nodeUse // per node: the replaced pods that run there
	sigs     []*signature
	sigByKey map[string]*signature
	pinned   []pin // workloads with spec.nodeName
	// found holds each workload's replaced pods, from findReplaced; a
	// workload at or past len(found) has foundErr or is looked up then.
	found    [][]*corev1.Pod
	foundErr error
	ro       *releaseObjects
}

// podKey identifies a pod target as its ID does, without building the ID:
// namespace and name when neither holds a '/', else "namespace/name" and
// name "/" (which no plain key has). Two pods have the same key exactly
// when they have the same ID.
type podKey struct{ ns, name string }

func keyOf(ns, name string) podKey {
	if strings.IndexByte(ns, '/') >= 0 || strings.IndexByte(name, '/') >= 0 {
		return podKey{ns + "/" + name, "/"}
	}
	return podKey{ns, name}
}

// nodeUse records why a node is a current node.
type nodeUse struct {
	reason    string
	workloads []string
}

// pin is a workload whose template names its node.
type pin struct {
	ref, node string
}

func newBuilder(inv *inventory.Inventory, o options) *builder {
	names := inv.NodeNames()
	b := &builder{
		inv: inv, opt: o, sens: newSensIndex(o.sensitivity), byID: map[string]*Target{}, pods: map[podKey]*Target{},
		replaced: map[*corev1.Pod]*Target{}, sels: map[string][]svcSelector{},
		nodes: make([]*corev1.Node, len(names)), nodeIdx: make(map[string]int, len(names)),
		current: make([]*nodeUse, len(names)), sigByKey: map[string]*signature{},
	}
	for i, n := range names {
		b.nodes[i] = inv.Nodes[n]
		b.nodeIdx[n] = i
	}
	return b
}

// newTarget returns a new empty target, listed in b.targets.
func (b *builder) newTarget() *Target {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]Target, 0, 256)
	}
	b.slab = b.slab[:len(b.slab)+1]
	t := &b.slab[len(b.slab)-1]
	b.targets = append(b.targets, t)
	return t
}

// strs returns an empty slice with room for n strings (and no more: an
// append beyond n copies), cut from a shared block.
func (b *builder) strs(n int) []string {
	if n > 256 {
		return make([]string, 0, n)
	}
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]string, 0, 4096)
	}
	s := b.arena[len(b.arena) : len(b.arena) : len(b.arena)+n]
	b.arena = b.arena[:len(b.arena)+n]
	return s
}

// join records that workload brings the existing target t in, for rel and
// reason: the closest relation wins; each workload is listed once.
func join(t *Target, rel Relation, reason, workload string) {
	if rank(rel) < rank(t.Relation) {
		t.Relation, t.Reason = rel, reason
	}
	for _, w := range t.Workloads {
		if w == workload {
			return
		}
	}
	t.Workloads = append(t.Workloads, workload)
}

func (b *builder) add(t Target, workload string) *Target {
	var p *Target
	created := false
	if t.Kind == "Pod" {
		k := keyOf(t.Namespace, t.Name)
		if p = b.pods[k]; p == nil {
			p, created = b.newTarget(), true
			b.pods[k] = p
		}
	} else {
		id := t.ID()
		if p = b.byID[id]; p == nil {
			p, created = b.newTarget(), true
			b.byID[id] = p
		}
	}
	if !created {
		join(p, t.Relation, t.Reason, workload)
		return p
	}
	*p = t
	p.Workloads = append(b.strs(1), workload)
	return p
}

// addPod is add for a pod, reading its sensitivity only when it is new.
func (b *builder) addPod(p *corev1.Pod, rel Relation, reason, workload string) *Target {
	k := keyOf(p.Namespace, p.Name)
	if t := b.pods[k]; t != nil {
		join(t, rel, reason, workload)
		return t
	}
	t := b.newTarget()
	b.pods[k] = t
	*t = Target{Kind: "Pod", Name: p.Name, Namespace: p.Namespace, Relation: rel, Reason: reason,
		Sensitivity: b.sens.of(p.Labels, p.Annotations), Workloads: append(b.strs(1), workload)}
	return t
}

func (b *builder) workload(i int, w release.Workload) error {
	ref := w.Ref()
	b.add(Target{Kind: "Namespace", Name: w.Namespace, Relation: Namespace,
		Reason: "the release deploys " + ref + " into it", Sensitivity: b.nsSensitivity(w.Namespace)}, ref)
	sa := w.Template.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	saSens := ""
	if s := b.inv.ServiceAccount(w.Namespace, sa); s != nil {
		saSens = b.sens.of(s.Labels, s.Annotations)
	}
	b.add(Target{Kind: "ServiceAccount", Name: sa, Namespace: w.Namespace, Relation: ServiceAccount,
		Reason: ref + " runs as this ServiceAccount", Sensitivity: saSens}, ref)

	var replaced []*corev1.Pod
	var err error
	if i < len(b.found) {
		replaced = b.found[i]
	} else if b.foundErr != nil && i == len(b.found) {
		return b.foundErr
	} else if replaced, err = b.replacedPods(w); err != nil {
		return err
	}
	reason := "running pod of " + ref + " that the release replaces"
	for _, p := range replaced {
		b.replaced[p] = b.addPod(p, ReplacedPod, reason, ref)
		if ni, ok := b.nodeIdx[p.Spec.NodeName]; ok {
			u := b.current[ni]
			if u == nil {
				u = &nodeUse{reason: "runs " + p.Namespace + "/" + p.Name + " of " + ref}
				b.current[ni] = u
			}
			if len(u.workloads) == 0 || u.workloads[len(u.workloads)-1] != ref {
				u.workloads = append(u.workloads, ref)
			}
		} else if p.Spec.NodeName != "" {
			// A node the inventory does not list: still a target.
			b.add(Target{Kind: "Node", Name: p.Spec.NodeName, Relation: CurrentNode,
				Reason: "runs " + p.Namespace + "/" + p.Name + " of " + ref + " (the node is not in the inventory)"}, ref)
		}
	}
	b.neighbours(w, replaced)
	return b.placement(i, w)
}

// findReplaced looks up the replaced pods of every workload before any is
// added, so that the maps of pods are made at their size. It stops at the
// first workload whose selector is bad: that error is workload's to return,
// in turn.
func (b *builder) findReplaced(ws []release.Workload) {
	n := 0
	for _, w := range ws {
		pods, err := b.replacedPods(w)
		if err != nil {
			b.foundErr = err
			break
		}
		b.found = append(b.found, pods)
		n += len(pods)
	}
	b.replaced = make(map[*corev1.Pod]*Target, n)
	// Neighbours come on top: about as many again here.
	b.pods = make(map[podKey]*Target, 2*n)
	b.slab = make([]Target, 0, 2*n+2*len(ws))
}

// replacedPods finds the running pods of w: its controller's pods, and pods
// its selector matches whose controller is w or unknown; a bare Pod by name.
func (b *builder) replacedPods(w release.Workload) ([]*corev1.Pod, error) {
	if w.Kind == "Pod" {
		if p := b.inv.Pod(w.Namespace, w.Name); p != nil && live(p) {
			return []*corev1.Pod{p}, nil
		}
		return nil, nil
	}
	var sel klabels.Selector
	if w.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(w.Selector)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: spec.selector: %w", w.Source, w.Ref(), err)
		}
		if !s.Empty() {
			sel = s
		}
	}
	selected := func(p *corev1.Pod) bool { return sel != nil && sel.Matches(klabels.Set(p.Labels)) }
	var out []*corev1.Pod
	prefix := w.Name + "-"
	for _, c := range b.inv.Controllers(w.Namespace) {
		switch {
		case c.Name == w.Name && c.Kind == w.Kind:
			for _, p := range c.Pods {
				if live(p) {
					out = append(out, p)
				}
			}
		case c.Name == w.Name:
			for _, p := range c.Pods {
				if live(p) && (selected(p) || w.Kind == "Deployment" && c.Kind == "ReplicaSet" && strings.HasPrefix(p.Name, prefix)) {
					out = append(out, p)
				}
			}
		case c.Kind == "Pod" || c.Kind == "ReplicaSet" && strings.HasPrefix(c.Name, prefix):
			for _, p := range c.Pods {
				if live(p) && selected(p) {
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
}

// live reports whether a pod has not terminated.
func live(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// neighbours adds the Services in w's namespace that select w's pods, and
// the other running pods behind them.
func (b *builder) neighbours(w release.Workload, replaced []*corev1.Pod) {
	ref := w.Ref()
	tmpl := w.Template.Labels
	var sets []map[string]string // the replaced pods' distinct label sets
	for _, s := range b.selectors(w.Namespace) {
		selects := len(tmpl) > 0 && s.sel.matches(tmpl)
		if !selects && sets == nil && len(replaced) > 0 {
			sets = distinctLabels(replaced)
		}
		for _, l := range sets {
			if selects {
				break
			}
			selects = s.sel.matches(l)
		}
		if !selects {
			continue
		}
		svc := s.svc
		exp := b.exposure(svc)
		// What a target without exposure gets: one slice for all of them.
		var shared []Exposure
		if len(exp) > 0 {
			shared = slices.Clip(mergeExposure(nil, exp))
		}
		b.add(Target{Kind: "Service", Name: svc.Name, Namespace: svc.Namespace, Relation: NetworkNeighbour,
			Reason:      "selects the pods of " + ref + b.svcNote(svc),
			Sensitivity: b.sens.of(svc.Labels, svc.Annotations), Exposure: exp}, ref)
		reason := ""
		for _, p := range b.podsWithSelector(w.Namespace, s.sel) {
			if !live(p) || !s.sel.matches(p.Labels) {
				continue
			}
			if t := b.replaced[p]; t != nil {
				// Replaced pods behind an exposed Service are exposed too.
				t.Exposure = addExposure(t.Exposure, exp, shared)
				continue
			}
			if reason == "" {
				reason = "behind Service " + svc.Namespace + "/" + svc.Name + b.svcNote(svc) + " with the pods of " + ref
			}
			pt := b.addPod(p, NetworkNeighbour, reason, ref)
			pt.Exposure = addExposure(pt.Exposure, exp, shared)
		}
	}
}

// distinctLabels returns the label sets of pods, each once (pods of one
// workload mostly share theirs); past eight sets it stops comparing.
func distinctLabels(pods []*corev1.Pod) []map[string]string {
	sets := make([]map[string]string, 0, 1)
next:
	for _, p := range pods {
		if len(sets) < 8 {
			for _, s := range sets {
				if maps.Equal(s, p.Labels) {
					continue next
				}
			}
		}
		sets = append(sets, p.Labels)
	}
	return sets
}

// labelPair is one label of an equality-based selector.
type labelPair struct{ key, value string }

// selector is a Service's selector as pairs sorted by key.
type selector []labelPair

// matches reports whether every label of s is in l with the same value:
// what a Service's equality-based selector means.
func (s selector) matches(l map[string]string) bool {
	for _, p := range s {
		if v, ok := l[p.key]; !ok || v != p.value {
			return false
		}
	}
	return true
}

// svcSelector is a Service with its (non-empty) selector.
type svcSelector struct {
	svc *corev1.Service
	sel selector
}

// selectors returns the Services of ns (as b.services gives them) that
// have a selector: endpoints managed by hand have nothing to match.
func (b *builder) selectors(ns string) []svcSelector {
	if s, ok := b.sels[ns]; ok {
		return s
	}
	list := b.services(ns)
	out := make([]svcSelector, 0, len(list))
	for _, svc := range list {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := make(selector, 0, len(svc.Spec.Selector))
		for k, v := range svc.Spec.Selector {
			sel = append(sel, labelPair{k, v})
		}
		slices.SortFunc(sel, func(a, c labelPair) int { return strings.Compare(a.key, c.key) })
		out = append(out, svcSelector{svc, sel})
	}
	b.sels[ns] = out
	return out
}

// podsWithSelector returns the pods of ns that carry the rarest of sel's
// labels (of labels equally rare, the first by key): a superset of the pods
// sel selects.
func (b *builder) podsWithSelector(ns string, sel selector) []*corev1.Pod {
	var best []*corev1.Pod
	for i, p := range sel {
		if c := b.inv.PodsWithLabel(ns, p.key, p.value); i == 0 || len(c) < len(best) {
			best = c
		}
	}
	return best
}

// exposure lists how svc is reachable from outside the cluster.
func (b *builder) exposure(svc *corev1.Service) []Exposure {
	via := "Service " + svc.Namespace + "/" + svc.Name
	var out []Exposure
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		var hosts []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.Hostname != "" {
				hosts = append(hosts, in.Hostname)
			} else if in.IP != "" {
				hosts = append(hosts, in.IP)
			}
		}
		out = append(out, Exposure{Type: "LoadBalancer", Via: via, Hosts: hosts})
	case corev1.ServiceTypeNodePort:
		out = append(out, Exposure{Type: "NodePort", Via: via})
	}
	if len(svc.Spec.ExternalIPs) > 0 {
		out = append(out, Exposure{Type: "ExternalIP", Via: via, Hosts: append([]string(nil), svc.Spec.ExternalIPs...)})
	}
	for _, ing := range b.ingressesFor(svc.Namespace, svc.Name) {
		var hosts []string
		for _, r := range ing.Spec.Rules {
			if r.Host != "" {
				hosts = append(hosts, r.Host)
			}
		}
		sort.Strings(hosts)
		out = append(out, Exposure{Type: "Ingress", Via: "Ingress " + ing.Namespace + "/" + ing.Name, Hosts: hosts})
	}
	return out
}

// addExposure is mergeExposure(have, add), given shared, what that is for
// an empty have (its capacity clipped, so that an append copies).
func addExposure(have, add, shared []Exposure) []Exposure {
	switch {
	case len(add) == 0:
		return have
	case len(have) == 0:
		return shared
	}
	return mergeExposure(have, add)
}

func mergeExposure(have, add []Exposure) []Exposure {
	for _, e := range add {
		dup := false
		for _, h := range have {
			if h.Type == e.Type && h.Via == e.Via {
				dup = true
				break
			}
		}
		if !dup {
			have = append(have, e)
		}
	}
	return have
}

func (b *builder) nsSensitivity(ns string) string {
	if n := b.inv.Namespaces[ns]; n != nil {
		return b.sens.of(n.Labels, n.Annotations)
	}
	return ""
}

// sensitivity reads the built-in mapping from labels alone.
func sensitivity(l map[string]string) string { return DefaultSensitivity().Of(l, nil) }

// signature is the part of a pod template that decides where its pods can
// be scheduled. Workloads with the same signature land on the same nodes, so
// each signature is checked against the nodes once.
type signature struct {
	key       string
	pod       *corev1.Pod
	req       nodeaffinity.RequiredNodeAffinity
	tol       []corev1.Toleration
	daemonSet bool
	// perNode is true when the signature reads a label that differs from
	// node to node (kubernetes.io/hostname) or a node field: it is then
	// checked on every node rather than once per node profile.
	perNode   bool
	refs      []string // workloads, sorted
	firstRef  string   // the first in manifest order
	firstIdx  int
	byProfile map[int]string // profile -> reason ("" = eligible)
}

// placement records w's scheduling signature; nodes are checked in finish.
func (b *builder) placement(i int, w release.Workload) error {
	ref := w.Ref()
	spec := w.Template.Spec
	if spec.NodeName != "" {
		b.pinned = append(b.pinned, pin{ref: ref, node: spec.NodeName})
		return nil
	}
	ds := w.Kind == "DaemonSet"
	tol := spec.Tolerations
	if ds {
		// The DaemonSet controller adds these tolerations to its pods.
		tol = append(append([]corev1.Toleration{}, tol...), daemonSetTolerations...)
	}
	var aff *corev1.NodeAffinity
	if spec.Affinity != nil && spec.Affinity.NodeAffinity != nil {
		aff = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution}
	}
	raw, err := json.Marshal(struct {
		S map[string]string
		A *corev1.NodeAffinity
		T []corev1.Toleration
		D bool
	}{spec.NodeSelector, aff, tol, ds})
	if err != nil {
		return fmt.Errorf("%s: %s: %w", w.Source, ref, err)
	}
	key := string(raw)
	s := b.sigByKey[key]
	if s == nil {
		pod := &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: spec.NodeSelector}}
		if aff != nil {
			pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: aff}
		}
		s = &signature{key: key, pod: pod, req: nodeaffinity.GetRequiredNodeAffinity(pod), tol: tol, daemonSet: ds,
			perNode: perNode(pod), firstRef: ref, firstIdx: i, byProfile: map[int]string{}}
		b.sigByKey[key] = s
		b.sigs = append(b.sigs, s)
	}
	s.refs = append(s.refs, ref)
	return nil
}

// perNodeLabels are node labels that differ from node to node.
var perNodeLabels = []string{corev1.LabelHostname}

// perNodeLabel reports whether k is one of perNodeLabels.
func perNodeLabel(k string) bool {
	for _, l := range perNodeLabels {
		if k == l {
			return true
		}
	}
	return false
}

func perNode(p *corev1.Pod) bool {
	for k := range p.Spec.NodeSelector {
		if perNodeLabel(k) {
			return true
		}
	}
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, t := range p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(t.MatchFields) > 0 {
			return true
		}
		for _, e := range t.MatchExpressions {
			if perNodeLabel(e.Key) {
				return true
			}
		}
	}
	return false
}

// check decides whether pods of s can be scheduled on n: "" if so, else
// the reason.
func (s *signature) check(n *corev1.Node) string {
	match, err := s.req.Match(n)
	switch {
	case err != nil:
		return "node affinity: " + err.Error()
	case !match:
		return "nodeSelector or required node affinity does not match"
	case n.Spec.Unschedulable && !s.daemonSet:
		return "cordoned (unschedulable)"
	case !inventory.NodeReady(n) && !s.daemonSet:
		return "not Ready"
	}
	if taint, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, s.tol, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false); bad {
		return fmt.Sprintf("taint %s=%s:%s not tolerated", taint.Key, taint.Value, taint.Effect)
	}
	return ""
}

var daemonSetTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// profiler groups nodes that no signature without perNode can tell apart:
// the same labels (but per-node ones), taints (key, value and effect, in
// order), unschedulable flag and readiness. Profiles are numbered 0, 1, ...
// in the order id first sees them. Nodes are grouped by a hash, then
// compared field by field, so equal hashes never merge different profiles.
type profiler struct {
	seed    maphash.Seed
	buckets map[uint64][]profileRep
	count   int
}

type profileRep struct {
	n     *corev1.Node
	ready bool
	id    int
}

func newProfiler() *profiler {
	return &profiler{seed: maphash.MakeSeed(), buckets: map[uint64][]profileRep{}}
}

// id returns n's profile number.
func (p *profiler) id(n *corev1.Node) int {
	ready := inventory.NodeReady(n)
	h := profileHash(p.seed, n, ready)
	for _, r := range p.buckets[h] {
		if r.ready == ready && sameProfile(r.n, n) {
			return r.id
		}
	}
	id := p.count
	p.count++
	p.buckets[h] = append(p.buckets[h], profileRep{n, ready, id})
	return id
}

// profileHash hashes what profiler compares: labels (but per-node ones) in
// any order, taints in order, the unschedulable flag and readiness.
func profileHash(seed maphash.Seed, n *corev1.Node, ready bool) uint64 {
	var h uint64
	for k, v := range n.Labels {
		if !perNodeLabel(k) {
			h += mix(maphash.String(seed, k), maphash.String(seed, v))
		}
	}
	for _, t := range n.Spec.Taints {
		h = mix(h, maphash.String(seed, t.Key))
		h = mix(h, maphash.String(seed, t.Value))
		h = mix(h, maphash.String(seed, string(t.Effect)))
	}
	if n.Spec.Unschedulable {
		h = mix(h, 1)
	}
	if ready {
		h = mix(h, 2)
	}
	return h
}

// mix combines two 64-bit hashes (the finalizer of MurmurHash3 over a
// multiply-xor of the two).
func mix(a, b uint64) uint64 {
	h := a*0x9e3779b97f4a7c15 ^ b
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// sameProfile reports whether a and b have the same labels but per-node
// ones, the same taints in the same order and the same unschedulable flag
// (readiness is compared by the caller).
func sameProfile(a, b *corev1.Node) bool {
	if a.Spec.Unschedulable != b.Spec.Unschedulable || len(a.Spec.Taints) != len(b.Spec.Taints) {
		return false
	}
	for i := range a.Spec.Taints {
		ta, tb := &a.Spec.Taints[i], &b.Spec.Taints[i]
		if ta.Key != tb.Key || ta.Value != tb.Value || ta.Effect != tb.Effect {
			return false
		}
	}
	if sharedLabels(a.Labels) != sharedLabels(b.Labels) {
		return false
	}
	for k, v := range a.Labels {
		if perNodeLabel(k) {
			continue
		}
		if w, ok := b.Labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// sharedLabels counts the labels of l that are not per-node ones.
func sharedLabels(l map[string]string) int {
	n := len(l)
	for _, k := range perNodeLabels {
		if _, ok := l[k]; ok {
			n--
		}
	}
	return n
}

// nodeResult is what the signatures decided for one node: the workloads
// that can land there and the groups left out, by reason.
type nodeResult struct {
	eligible []string // sorted
	firstRef string   // the first eligible workload in manifest order
	reason   string   // "new pods of <firstRef> can be scheduled here"
	excluded []reasonGroup
}

type reasonGroup struct {
	reason    string
	workloads []string // sorted
}

// decide combines the signatures' verdicts for node n of profile prof. The
// excluded groups come in the order of the landing set's Excluded list:
// by first workload, then reason.
func (b *builder) decide(n *corev1.Node, prof int) nodeResult {
	var r nodeResult
	firstIdx := -1
	byReason := map[string][]string{}
	var reasons []string
	for _, s := range b.sigs {
		var reason string
		if s.perNode {
			reason = s.check(n)
		} else {
			var ok bool
			if reason, ok = s.byProfile[prof]; !ok {
				reason = s.check(n)
				s.byProfile[prof] = reason
			}
		}
		if reason == "" {
			r.eligible = append(r.eligible, s.refs...)
			if firstIdx < 0 || s.firstIdx < firstIdx {
				firstIdx, r.firstRef = s.firstIdx, s.firstRef
			}
			continue
		}
		if _, ok := byReason[reason]; !ok {
			reasons = append(reasons, reason)
		}
		byReason[reason] = append(byReason[reason], s.refs...)
	}
	sortUnique(&r.eligible, len(b.sigs) > 1)
	if r.firstRef != "" {
		r.reason = "new pods of " + r.firstRef + " can be scheduled here"
	}
	for _, reason := range reasons {
		ws := byReason[reason]
		sortUnique(&ws, true)
		r.excluded = append(r.excluded, reasonGroup{reason, ws})
	}
	slices.SortFunc(r.excluded, func(a, c reasonGroup) int {
		if x := strings.Compare(a.workloads[0], c.workloads[0]); x != 0 {
			return x
		}
		return strings.Compare(a.reason, c.reason)
	})
	return r
}

// mergeUnique appends to dst the strings of the sorted a and b, sorted and
// each once: what sortUnique makes of their concatenation.
func mergeUnique(dst, a, b []string) []string {
	for len(a) > 0 || len(b) > 0 {
		var v string
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] <= b[0]:
			v, a = a[0], a[1:]
		default:
			v, b = b[0], b[1:]
		}
		if len(dst) == 0 || dst[len(dst)-1] != v {
			dst = append(dst, v)
		}
	}
	return dst
}

func sortUnique(s *[]string, need bool) {
	if !need || len(*s) < 2 {
		return
	}
	slices.Sort(*s)
	out := (*s)[:1]
	for _, v := range (*s)[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	*s = out
}

// finish checks every node against every signature, adds node targets, and
// orders the result.
func (b *builder) finish() *LandingSet {
	ls := &LandingSet{}
	for _, s := range b.sigs {
		sort.Strings(s.refs)
	}
	anyPerNode := false
	for _, s := range b.sigs {
		anyPerNode = anyPerNode || s.perNode
	}
	var prof *profiler
	var memo []*nodeResult // by profile
	if len(b.sigs) > 0 {
		prof = newProfiler()
	}
	pinned := map[string][]string{}
	for _, p := range b.pinned {
		pinned[p.node] = append(pinned[p.node], p.ref)
	}
	// First what every node gets, to size the lists; then the lists.
	rs := make([]*nodeResult, len(b.nodes))
	var perNodeResults []nodeResult
	if anyPerNode {
		perNodeResults = make([]nodeResult, len(b.nodes))
	}
	nExcluded, nTargets := 0, 0
	var none nodeResult
	for i, n := range b.nodes {
		r := &none
		if prof != nil {
			id := prof.id(n)
			if id == len(memo) {
				memo = append(memo, nil)
			}
			if anyPerNode {
				perNodeResults[i] = b.decide(n, id)
				r = &perNodeResults[i]
			} else if memo[id] != nil {
				r = memo[id]
			} else {
				m := b.decide(n, id)
				memo[id] = &m
				r = &m
			}
		}
		var refs []string
		if len(pinned) > 0 {
			refs = pinned[n.Name]
		}
		if len(refs) > 0 {
			c := *r
			if c.firstRef == "" {
				c.firstRef = "spec.nodeName of " + refs[0]
			}
			c.eligible = append(append([]string(nil), c.eligible...), refs...)
			sortUnique(&c.eligible, true)
			delete(pinned, n.Name)
			r = &c
		}
		rs[i] = r
		nExcluded += len(r.excluded)
		if b.current[i] != nil || len(r.eligible) > 0 {
			nTargets++
		}
	}
	ls.Excluded = make([]Excluded, 0, nExcluded+len(pinned))
	nodeTargets := make([]Target, 0, nTargets)
	for i, n := range b.nodes {
		r := rs[i]
		for _, g := range r.excluded {
			ls.Excluded = append(ls.Excluded, Excluded{Kind: "Node", Name: n.Name, Workload: g.workloads[0], Workloads: g.workloads, Reason: g.reason})
		}
		u := b.current[i]
		if u == nil && len(r.eligible) == 0 {
			continue
		}
		t := Target{Kind: "Node", Name: n.Name, Sensitivity: b.sens.of(n.Labels, n.Annotations)}
		switch {
		case u != nil:
			t.Relation, t.Reason = CurrentNode, u.reason
			sortUnique(&u.workloads, true)
			t.Workloads = mergeUnique(b.strs(len(u.workloads)+len(r.eligible)), u.workloads, r.eligible)
		case strings.HasPrefix(r.firstRef, "spec.nodeName of "):
			t.Relation, t.Reason, t.Workloads = EligibleNode, r.firstRef, append(b.strs(len(r.eligible)), r.eligible...)
		default:
			// Nodes of one profile share the list.
			t.Relation, t.Reason, t.Workloads = EligibleNode, r.reason, slices.Clip(r.eligible)
		}
		nodeTargets = append(nodeTargets, t)
	}
	// Pinned to nodes the inventory does not list.
	var missing []string
	for n := range pinned {
		missing = append(missing, n)
	}
	sort.Strings(missing)
	for _, n := range missing {
		refs := pinned[n]
		sort.Strings(refs)
		ls.Excluded = append(ls.Excluded, Excluded{Kind: "Node", Name: n, Workload: refs[0], Workloads: refs,
			Reason: "spec.nodeName names a node that is not in the inventory"})
	}

	ls.Targets = b.order(nodeTargets)
	// Nodes come by name, each one's groups by workload and reason: only
	// nodes missing from the inventory need sorting in.
	cmpExcluded := func(a, c Excluded) int {
		if x := strings.Compare(a.Name, c.Name); x != 0 {
			return x
		}
		if x := strings.Compare(a.Workload, c.Workload); x != 0 {
			return x
		}
		return strings.Compare(a.Reason, c.Reason)
	}
	if !slices.IsSortedFunc(ls.Excluded, cmpExcluded) {
		slices.SortStableFunc(ls.Excluded, cmpExcluded)
	}
	return ls
}

// order returns the targets and nodeTargets ordered by relation and ID,
// each target's workloads sorted.
func (b *builder) order(nodeTargets []Target) []Target {
	all := len(b.targets) + len(nodeTargets)
	target := func(i int) *Target {
		if i < len(b.targets) {
			return b.targets[i]
		}
		return &nodeTargets[i-len(b.targets)]
	}
	// The IDs, built into one string.
	size := 0
	for i := range all {
		t := target(i)
		size += len(t.Kind) + len(t.Namespace) + len(t.Name) + 2
	}
	buf := make([]byte, 0, size)
	type sortKey struct {
		id        string
		rank, idx int32
	}
	keys := make([]sortKey, all)
	ends := make([]int, all)
	for i := range all {
		t := target(i)
		buf = append(buf, t.Kind...)
		buf = append(buf, '/')
		buf = append(buf, t.Namespace...)
		buf = append(buf, '/')
		buf = append(buf, t.Name...)
		ends[i] = len(buf)
	}
	ids := string(buf)
	start := 0
	for i := range all {
		keys[i] = sortKey{id: ids[start:ends[i]], rank: int32(rank(target(i).Relation)), idx: int32(i)}
		start = ends[i]
	}
	cmpKey := func(a, c sortKey) int {
		if a.rank != c.rank {
			return int(a.rank - c.rank)
		}
		return strings.Compare(a.id, c.id)
	}
	// Node targets come by name: they need only ordering by relation,
	// stably, and merging with the others, sorted.
	other, nodes := keys[:len(b.targets)], keys[len(b.targets):]
	slices.SortFunc(other, cmpKey)
	if !slices.IsSortedFunc(nodes, cmpKey) {
		nodes = slices.Clone(nodes)
		slices.SortStableFunc(nodes, func(a, c sortKey) int { return int(a.rank - c.rank) })
		if !slices.IsSortedFunc(nodes, cmpKey) {
			slices.SortFunc(nodes, cmpKey)
		}
	}
	merged := make([]sortKey, 0, all)
	for len(other) > 0 || len(nodes) > 0 {
		if len(nodes) == 0 || len(other) > 0 && cmpKey(other[0], nodes[0]) <= 0 {
			merged, other = append(merged, other[0]), other[1:]
		} else {
			merged, nodes = append(merged, nodes[0]), nodes[1:]
		}
	}
	keys = merged
	out := make([]Target, all)
	for i, k := range keys {
		t := target(int(k.idx))
		if int(k.idx) < len(b.targets) && len(t.Workloads) > 1 {
			slices.Sort(t.Workloads) // node targets' are sorted already
		}
		out[i] = *t
	}
	return out
}
