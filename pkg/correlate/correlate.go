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
	// that bring this target in, sorted.
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
	byID map[string]*Target
	// replaced maps every replaced pod to its target, so that a pod is
	// never also listed as its own neighbour.
	replaced map[*corev1.Pod]*Target

	// Nodes, indexed like nodes.
	nodes    []*corev1.Node
	nodeIdx  map[string]int
	current  []*nodeUse // per node: the replaced pods that run there
	sigs     []*signature
	sigByKey map[string]*signature
	pinned   []pin // workloads with spec.nodeName
	ro       *releaseObjects
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
		inv: inv, opt: o, byID: map[string]*Target{}, replaced: map[*corev1.Pod]*Target{},
		nodes: make([]*corev1.Node, len(names)), nodeIdx: make(map[string]int, len(names)),
		current: make([]*nodeUse, len(names)), sigByKey: map[string]*signature{},
	}
	for i, n := range names {
		b.nodes[i] = inv.Nodes[n]
		b.nodeIdx[n] = i
	}
	return b
}

func (b *builder) add(t Target, workload string) *Target {
	id := t.ID()
	if old, ok := b.byID[id]; ok {
		if rank(t.Relation) < rank(old.Relation) {
			old.Relation, old.Reason = t.Relation, t.Reason
		}
		for _, w := range old.Workloads {
			if w == workload {
				return old
			}
		}
		old.Workloads = append(old.Workloads, workload)
		return old
	}
	t.Workloads = []string{workload}
	p := &t
	b.byID[id] = p
	return p
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
		saSens = b.opt.sensitivity.Of(s.Labels, s.Annotations)
	}
	b.add(Target{Kind: "ServiceAccount", Name: sa, Namespace: w.Namespace, Relation: ServiceAccount,
		Reason: ref + " runs as this ServiceAccount", Sensitivity: saSens}, ref)

	replaced, err := b.replacedPods(w)
	if err != nil {
		return err
	}
	for _, p := range replaced {
		b.replaced[p] = b.add(Target{Kind: "Pod", Name: p.Name, Namespace: p.Namespace, Relation: ReplacedPod,
			Reason: "running pod of " + ref + " that the release replaces", Sensitivity: b.opt.sensitivity.Of(p.Labels, p.Annotations)}, ref)
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
	for _, svc := range b.services(w.Namespace) {
		if len(svc.Spec.Selector) == 0 {
			continue // endpoints managed by hand: nothing to match
		}
		sel := svc.Spec.Selector
		selects := len(tmpl) > 0 && subset(sel, tmpl)
		if !selects {
			for _, p := range replaced {
				if subset(sel, p.Labels) {
					selects = true
					break
				}
			}
		}
		if !selects {
			continue
		}
		exp := b.exposure(svc)
		svcRef := "Service " + svc.Namespace + "/" + svc.Name
		b.add(Target{Kind: "Service", Name: svc.Name, Namespace: svc.Namespace, Relation: NetworkNeighbour,
			Reason:      "selects the pods of " + ref + b.svcNote(svc),
			Sensitivity: b.opt.sensitivity.Of(svc.Labels, svc.Annotations), Exposure: exp}, ref)
		for _, p := range b.podsWithLabels(w.Namespace, svc.Spec.Selector) {
			if !live(p) || !subset(sel, p.Labels) {
				continue
			}
			if t := b.replaced[p]; t != nil {
				// Replaced pods behind an exposed Service are exposed too.
				t.Exposure = mergeExposure(t.Exposure, exp)
				continue
			}
			pt := b.add(Target{Kind: "Pod", Name: p.Name, Namespace: p.Namespace, Relation: NetworkNeighbour,
				Reason:      "behind " + svcRef + b.svcNote(svc) + " with the pods of " + ref,
				Sensitivity: b.opt.sensitivity.Of(p.Labels, p.Annotations)}, ref)
			pt.Exposure = mergeExposure(pt.Exposure, exp)
		}
	}
}

// subset reports whether every label of sel is in l with the same value:
// what a Service's equality-based selector means.
func subset(sel, l map[string]string) bool {
	for k, v := range sel {
		if lv, ok := l[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// podsWithLabels returns the pods of ns that carry the rarest of sel's
// labels: a superset of the pods sel selects.
func (b *builder) podsWithLabels(ns string, sel map[string]string) []*corev1.Pod {
	var best []*corev1.Pod
	first := true
	for k, v := range sel {
		if c := b.inv.PodsWithLabel(ns, k, v); first || len(c) < len(best) {
			best, first = c, false
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
		return b.opt.sensitivity.Of(n.Labels, n.Annotations)
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
var perNodeLabels = map[string]bool{corev1.LabelHostname: true}

func perNode(p *corev1.Pod) bool {
	for k := range p.Spec.NodeSelector {
		if perNodeLabels[k] {
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
			if perNodeLabels[e.Key] {
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

// profiles groups nodes that no signature without perNode can tell apart:
// the same labels (but per-node ones), taints, unschedulable flag and
// readiness. It returns each node's profile number.
func profiles(nodes []*corev1.Node) []int {
	out := make([]int, len(nodes))
	ids := map[string]int{}
	var sb strings.Builder
	var keys []string
	for i, n := range nodes {
		sb.Reset()
		keys = keys[:0]
		for k := range n.Labels {
			if !perNodeLabels[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			sb.WriteString(k)
			sb.WriteByte('=')
			sb.WriteString(n.Labels[k])
			sb.WriteByte(0)
		}
		sb.WriteByte(1)
		for _, t := range n.Spec.Taints {
			sb.WriteString(t.Key)
			sb.WriteByte('=')
			sb.WriteString(t.Value)
			sb.WriteByte(':')
			sb.WriteString(string(t.Effect))
			sb.WriteByte(0)
		}
		fmt.Fprintf(&sb, "\x01%v%v", n.Spec.Unschedulable, inventory.NodeReady(n))
		k := sb.String()
		id, ok := ids[k]
		if !ok {
			id = len(ids)
			ids[k] = id
		}
		out[i] = id
	}
	return out
}

// nodeResult is what the signatures decided for one node: the workloads
// that can land there and the groups left out, by reason.
type nodeResult struct {
	eligible []string // sorted
	firstRef string   // the first eligible workload in manifest order
	excluded []reasonGroup
}

type reasonGroup struct {
	reason    string
	workloads []string // sorted
}

// decide combines the signatures' verdicts for node n of profile prof.
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
	sort.Strings(reasons)
	for _, reason := range reasons {
		ws := byReason[reason]
		sortUnique(&ws, true)
		r.excluded = append(r.excluded, reasonGroup{reason, ws})
	}
	return r
}

func sortUnique(s *[]string, need bool) {
	if !need || len(*s) < 2 {
		return
	}
	sort.Strings(*s)
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
	var prof []int
	memo := map[int]nodeResult{}
	if len(b.sigs) > 0 {
		prof = profiles(b.nodes)
	}
	pinned := map[string][]string{}
	for _, p := range b.pinned {
		pinned[p.node] = append(pinned[p.node], p.ref)
	}
	nodeTargets := make([]Target, 0, len(b.nodes))
	for i, n := range b.nodes {
		var r nodeResult
		if len(b.sigs) > 0 {
			if anyPerNode {
				r = b.decide(n, prof[i])
			} else if m, ok := memo[prof[i]]; ok {
				r = m
			} else {
				r = b.decide(n, prof[i])
				memo[prof[i]] = r
			}
		}
		if refs := pinned[n.Name]; len(refs) > 0 {
			if r.firstRef == "" {
				r.firstRef = "spec.nodeName of " + refs[0]
			}
			r.eligible = append(append([]string(nil), r.eligible...), refs...)
			sortUnique(&r.eligible, true)
			delete(pinned, n.Name)
		}
		for _, g := range r.excluded {
			ls.Excluded = append(ls.Excluded, Excluded{Kind: "Node", Name: n.Name, Workload: g.workloads[0], Workloads: g.workloads, Reason: g.reason})
		}
		u := b.current[i]
		if u == nil && len(r.eligible) == 0 {
			continue
		}
		t := Target{Kind: "Node", Name: n.Name, Sensitivity: b.opt.sensitivity.Of(n.Labels, n.Annotations)}
		switch {
		case u != nil:
			t.Relation, t.Reason = CurrentNode, u.reason
			t.Workloads = append(append([]string(nil), u.workloads...), r.eligible...)
			sortUnique(&t.Workloads, true)
		case strings.HasPrefix(r.firstRef, "spec.nodeName of "):
			t.Relation, t.Reason, t.Workloads = EligibleNode, r.firstRef, append([]string(nil), r.eligible...)
		default:
			t.Relation, t.Reason, t.Workloads = EligibleNode, "new pods of "+r.firstRef+" can be scheduled here", append([]string(nil), r.eligible...)
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

	ls.Targets = make([]Target, 0, len(b.byID)+len(nodeTargets))
	for _, t := range b.byID {
		sort.Strings(t.Workloads)
		ls.Targets = append(ls.Targets, *t)
	}
	ls.Targets = append(ls.Targets, nodeTargets...)
	ids := make([]string, len(ls.Targets))
	ranks := make([]int, len(ls.Targets))
	order := make([]int, len(ls.Targets))
	for i, t := range ls.Targets {
		ids[i], ranks[i], order[i] = t.ID(), rank(t.Relation), i
	}
	sort.Slice(order, func(i, j int) bool {
		a, c := order[i], order[j]
		if ranks[a] != ranks[c] {
			return ranks[a] < ranks[c]
		}
		return ids[a] < ids[c]
	})
	sorted := make([]Target, len(order))
	for i, k := range order {
		sorted[i] = ls.Targets[k]
	}
	ls.Targets = sorted
	sort.SliceStable(ls.Excluded, func(i, j int) bool {
		a, c := ls.Excluded[i], ls.Excluded[j]
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		if a.Workload != c.Workload {
			return a.Workload < c.Workload
		}
		return a.Reason < c.Reason
	})
	return ls
}
