// Package correlate maps a Release onto the resources it will touch (its
// landing set of Targets) and decides which Signals concern which Target.
// Only Signals that concern a Target may influence the release's decision.
package correlate

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
)

// Target is one resource in the release's landing set.
type Target struct {
	Kind      string   `json:"kind"` // Pod, Node, Namespace, ServiceAccount
	Name      string   `json:"name"`
	Namespace string   `json:"namespace,omitempty"`
	Relation  Relation `json:"relation"`
	// Reason says why the target is in the set, for a person.
	Reason string `json:"reason"`
	// Workloads lists the release workloads ("Deployment payments/api")
	// that bring this target in.
	Workloads []string `json:"workloads,omitempty"`
	// Sensitivity is "high", "medium" or "low", from labels.
	Sensitivity string `json:"sensitivity,omitempty"`
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

// Excluded is a node that was considered and left out, with the reason.
type Excluded struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Workload string `json:"workload"`
	Reason   string `json:"reason"`
}

// LandingSet is the result of Correlate.
type LandingSet struct {
	Targets  []Target   `json:"targets"`
	Excluded []Excluded `json:"excluded,omitempty"`
}

// Correlate computes the landing set of rel in inv. The result is
// deterministic: targets are ordered by relation, kind, namespace and name.
func Correlate(rel *release.Release, inv *inventory.Inventory) (*LandingSet, error) {
	b := builder{inv: inv, byID: map[string]*Target{}}
	for _, w := range rel.Workloads {
		if err := b.workload(w); err != nil {
			return nil, err
		}
	}
	ls := &LandingSet{Targets: make([]Target, 0, len(b.byID)), Excluded: b.excluded}
	for _, t := range b.byID {
		sort.Strings(t.Workloads)
		ls.Targets = append(ls.Targets, *t)
	}
	sort.Slice(ls.Targets, func(i, j int) bool {
		a, c := ls.Targets[i], ls.Targets[j]
		if ra, rc := rank(a.Relation), rank(c.Relation); ra != rc {
			return ra < rc
		}
		return a.ID() < c.ID()
	})
	sort.Slice(ls.Excluded, func(i, j int) bool {
		a, c := ls.Excluded[i], ls.Excluded[j]
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		return a.Workload < c.Workload
	})
	return ls, nil
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
	default:
		return 4
	}
}

type builder struct {
	inv      *inventory.Inventory
	byID     map[string]*Target
	excluded []Excluded
}

func (b *builder) add(t Target, workload string) {
	id := t.ID()
	if old, ok := b.byID[id]; ok {
		if rank(t.Relation) < rank(old.Relation) {
			old.Relation, old.Reason = t.Relation, t.Reason
		}
		for _, w := range old.Workloads {
			if w == workload {
				return
			}
		}
		old.Workloads = append(old.Workloads, workload)
		return
	}
	t.Workloads = []string{workload}
	b.byID[id] = &t
}

func (b *builder) workload(w release.Workload) error {
	ref := w.Ref()
	b.add(Target{Kind: "Namespace", Name: w.Namespace, Relation: Namespace,
		Reason: "the release deploys " + ref + " into it", Sensitivity: b.nsSensitivity(w.Namespace)}, ref)
	sa := w.Template.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	b.add(Target{Kind: "ServiceAccount", Name: sa, Namespace: w.Namespace, Relation: ServiceAccount,
		Reason: ref + " runs as this ServiceAccount"}, ref)

	replaced, err := b.replacedPods(w)
	if err != nil {
		return err
	}
	for _, p := range replaced {
		b.add(Target{Kind: "Pod", Name: p.Name, Namespace: p.Namespace, Relation: ReplacedPod,
			Reason: "running pod of " + ref + " that the release replaces", Sensitivity: sensitivity(p.Labels)}, ref)
		if p.Spec.NodeName != "" {
			b.add(Target{Kind: "Node", Name: p.Spec.NodeName, Relation: CurrentNode,
				Reason: "runs " + p.Namespace + "/" + p.Name + " of " + ref}, ref)
		}
	}
	b.eligibleNodes(w)
	return nil
}

// replacedPods finds the running pods of w: by the workload's selector in
// its namespace, confirmed by the pod's controller when the inventory knows
// it; a bare Pod by name.
func (b *builder) replacedPods(w release.Workload) ([]*corev1.Pod, error) {
	if w.Kind == "Pod" {
		if p := b.inv.Pod(w.Namespace, w.Name); p != nil {
			return []*corev1.Pod{p}, nil
		}
		return nil, nil
	}
	var sel labels.Selector
	if w.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(w.Selector)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: spec.selector: %w", w.Source, w.Ref(), err)
		}
		sel = s
	}
	var out []*corev1.Pod
	for _, p := range b.inv.PodsInNamespace(w.Namespace) {
		kind, name := b.inv.Controller(p)
		owned := name == w.Name && (kind == w.Kind || (w.Kind == "Deployment" && kind == "ReplicaSet" && strings.HasPrefix(p.Name, w.Name+"-")))
		if owned || (sel != nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) && (kind == "Pod" || name == w.Name || kind == "ReplicaSet" && strings.HasPrefix(name, w.Name+"-"))) {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// eligibleNodes adds the nodes where the workload's new pods may be placed,
// using the scheduler's own helpers for affinity and taints, and records the
// rest as excluded with the reason.
func (b *builder) eligibleNodes(w release.Workload) {
	ref := w.Ref()
	pod := &corev1.Pod{ObjectMeta: w.Template.ObjectMeta, Spec: w.Template.Spec}
	pod.Namespace = w.Namespace
	tolerations := pod.Spec.Tolerations
	if w.Kind == "DaemonSet" {
		// The DaemonSet controller adds these tolerations to its pods.
		tolerations = append(append([]corev1.Toleration{}, tolerations...), daemonSetTolerations...)
	}
	if pod.Spec.NodeName != "" {
		n := b.inv.Nodes[pod.Spec.NodeName]
		if n == nil {
			b.excluded = append(b.excluded, Excluded{Kind: "Node", Name: pod.Spec.NodeName, Workload: ref, Reason: "spec.nodeName names a node that is not in the inventory"})
			return
		}
		b.add(Target{Kind: "Node", Name: n.Name, Relation: EligibleNode, Reason: "spec.nodeName of " + ref, Sensitivity: sensitivity(n.Labels)}, ref)
		return
	}
	req := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, name := range b.inv.NodeNames() {
		n := b.inv.Nodes[name]
		reason := ""
		match, err := req.Match(n)
		switch {
		case err != nil:
			reason = "node affinity: " + err.Error()
		case !match:
			reason = "nodeSelector or required node affinity of " + ref + " does not match"
		case n.Spec.Unschedulable && w.Kind != "DaemonSet":
			reason = "cordoned (unschedulable)"
		case !inventory.NodeReady(n) && w.Kind != "DaemonSet":
			reason = "not Ready"
		}
		if reason == "" {
			if taint, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, tolerations, func(t *corev1.Taint) bool {
				return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
			}, false); bad {
				reason = fmt.Sprintf("taint %s=%s:%s not tolerated", taint.Key, taint.Value, taint.Effect)
			}
		}
		if reason != "" {
			b.excluded = append(b.excluded, Excluded{Kind: "Node", Name: name, Workload: ref, Reason: reason})
			continue
		}
		b.add(Target{Kind: "Node", Name: name, Relation: EligibleNode,
			Reason: "new pods of " + ref + " can be scheduled here", Sensitivity: sensitivity(n.Labels)}, ref)
	}
}

var daemonSetTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

func (b *builder) nsSensitivity(ns string) string {
	if n := b.inv.Namespaces[ns]; n != nil {
		return sensitivity(n.Labels)
	}
	return ""
}

// sensitivity reads the built-in label mapping: data-classification
// pii/confidential/restricted or tier/env prod(uction) -> high.
func sensitivity(l map[string]string) string {
	switch strings.ToLower(l["data-classification"]) {
	case "pii", "confidential", "restricted", "secret":
		return "high"
	}
	for _, k := range []string{"tier", "env", "environment"} {
		switch strings.ToLower(l[k]) {
		case "prod", "production":
			return "high"
		case "staging":
			return "medium"
		}
	}
	return ""
}
