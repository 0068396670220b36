package correlate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// The oracles below restate the scheduling rules from the Kubernetes
// documentation, independently of the scheduler helpers the code calls:
//
//   - "Taints and Tolerations": a toleration matches a taint when the keys
//     are equal (or the toleration's key is empty with Exists), the effects
//     are equal (or the toleration's is empty), and the operator is Exists
//     or the values are equal. NoSchedule and NoExecute taints keep pods
//     off; PreferNoSchedule does not.
//   - "Assigning Pods to Nodes": every nodeSelector label must be on the
//     node; a required In expression needs the label's value in the list.
//   - "DaemonSet": its pods tolerate not-ready and unreachable (NoExecute),
//     disk-, memory- and pid-pressure and unschedulable (NoSchedule), and
//     the DaemonSet controller places them on cordoned and NotReady nodes.

func tolerates(tol corev1.Toleration, t corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	if tol.Key == "" && tol.Operator != corev1.TolerationOpExists {
		return false
	}
	return tol.Operator == corev1.TolerationOpExists || tol.Value == t.Value
}

var dsTolerated = map[string]corev1.TaintEffect{
	"node.kubernetes.io/not-ready":       corev1.TaintEffectNoExecute,
	"node.kubernetes.io/unreachable":     corev1.TaintEffectNoExecute,
	"node.kubernetes.io/disk-pressure":   corev1.TaintEffectNoSchedule,
	"node.kubernetes.io/memory-pressure": corev1.TaintEffectNoSchedule,
	"node.kubernetes.io/pid-pressure":    corev1.TaintEffectNoSchedule,
	"node.kubernetes.io/unschedulable":   corev1.TaintEffectNoSchedule,
}

// blockingTaints lists the NoSchedule and NoExecute taints of n that w does
// not tolerate, as "key=value:Effect".
func blockingTaints(w release.Workload, n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		ok := false
		for _, tol := range w.Template.Spec.Tolerations {
			ok = ok || tolerates(tol, t)
		}
		if e, builtin := dsTolerated[t.Key]; w.Kind == "DaemonSet" && builtin && e == t.Effect {
			ok = true
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect))
		}
	}
	return out
}

func selectorMatches(w release.Workload, n *corev1.Node) bool {
	for k, v := range w.Template.Spec.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	if a := w.Template.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		// genRelease writes one term with one In expression.
		e := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0]
		v, ok := n.Labels[e.Key]
		if !ok || !slices.Contains(e.Values, v) {
			return false
		}
	}
	return true
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// causes lists every true reason why w's new pods cannot land on n; empty
// when they can.
func causes(w release.Workload, n *corev1.Node) []string {
	var out []string
	if !selectorMatches(w, n) {
		out = append(out, "does not match")
	}
	if w.Kind != "DaemonSet" {
		if n.Spec.Unschedulable {
			out = append(out, "cordoned")
		}
		if !ready(n) {
			out = append(out, "not Ready")
		}
	}
	for _, t := range blockingTaints(w, n) {
		out = append(out, "taint "+t+" not tolerated")
	}
	return out
}

// TestPropertyEligibility builds random clusters and one-workload releases
// and checks every node against the oracle: a node is an eligible target
// exactly when nothing keeps the pods off; an excluded node's reason is a
// true one; and an excluded node is never a target, unless it already runs
// a pod the release replaces (then it is the current node).
func TestPropertyEligibility(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 11))
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	checked := map[string]int{}
	for iter := range iterations {
		c := genCluster(r, 1+r.IntN(12), r.IntN(60))
		inv := c.inventory()
		for _, w := range genRelease(r, 3).Workloads {
			ls, err := Correlate(rel(w), inv)
			if err != nil {
				t.Fatal(err)
			}
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("iteration %d, %s: %s", iter, w.Ref(), fmt.Sprintf(format, args...))
			}
			nodeTargets := map[string]Target{}
			replacedOn := map[string]bool{}
			for _, tg := range ls.Targets {
				switch tg.Kind {
				case "Node":
					nodeTargets[tg.Name] = tg
				case "Pod":
					if tg.Relation == ReplacedPod {
						p := inv.Pod(tg.Namespace, tg.Name)
						if p == nil {
							fail("replaced pod %s is not in the inventory", tg)
						}
						if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
							fail("replaced pod %s has terminated (%s)", tg, p.Status.Phase)
						}
						if p.Namespace != w.Namespace {
							fail("replaced pod %s is in another namespace", tg)
						}
						if p.Spec.NodeName != "" {
							replacedOn[p.Spec.NodeName] = true
						}
					}
				}
			}
			excluded := map[string]string{}
			for _, e := range ls.Excluded {
				if e.Kind != "Node" || e.Workload != w.Ref() {
					fail("excluded entry %+v", e)
				}
				if _, dup := excluded[e.Name]; dup {
					fail("node %s excluded twice", e.Name)
				}
				excluded[e.Name] = e.Reason
			}
			for _, name := range inv.NodeNames() {
				n := inv.Nodes[name]
				want := causes(w, n)
				reason, isExcluded := excluded[name]
				tg, isTarget := nodeTargets[name]
				switch {
				case len(want) == 0:
					checked["eligible"]++
					if isExcluded {
						fail("node %s excluded (%q) but nothing keeps the pods off it", name, reason)
					}
					if !isTarget {
						fail("eligible node %s is not a target", name)
					}
				default:
					checked["excluded"]++
					if !isExcluded {
						fail("node %s not excluded; it should be: %q", name, want)
					}
					if !slices.ContainsFunc(want, func(c string) bool { return strings.Contains(reason, c) }) {
						fail("node %s excluded because %q; the true reasons are %q", name, reason, want)
					}
					if isTarget && !(tg.Relation == CurrentNode && replacedOn[name]) {
						fail("excluded node %s is a target: %+v", name, tg)
					}
				}
				if replacedOn[name] && (!isTarget || tg.Relation != CurrentNode) {
					fail("node %s runs a replaced pod but is not a current-node target", name)
				}
				if isTarget && tg.Relation == CurrentNode && !replacedOn[name] {
					fail("node %s is a current node but runs no replaced pod", name)
				}
			}
			for name := range nodeTargets {
				if inv.Nodes[name] == nil {
					fail("node target %s is not in the inventory", name)
				}
			}
		}
	}
	if checked["eligible"] == 0 || checked["excluded"] == 0 {
		t.Errorf("the generator does not cover both outcomes: %v", checked)
	}
	t.Logf("node checks: %v", checked)
}

// TestPropertyMultiWorkload: the landing set of several workloads is the
// union of their own landing sets.
func TestPropertyMultiWorkload(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	for iter := range 200 {
		c := genCluster(r, 1+r.IntN(10), r.IntN(50))
		inv := c.inventory()
		rl := genRelease(r, 4)
		all, err := Correlate(rl, inv)
		if err != nil {
			t.Fatal(err)
		}
		union := map[string]Relation{}
		for _, w := range rl.Workloads {
			one, err := Correlate(rel(w), inv)
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range one.Targets {
				if old, ok := union[tg.ID()]; !ok || rank(tg.Relation) < rank(old) {
					union[tg.ID()] = tg.Relation
				}
			}
		}
		got := map[string]Relation{}
		for _, tg := range all.Targets {
			got[tg.ID()] = tg.Relation
		}
		for id, rel := range union {
			if got[id] != rel {
				t.Fatalf("iteration %d: %s is %q in the release, %q in the union of its workloads", iter, id, got[id], rel)
			}
		}
		if len(got) != len(union) {
			t.Fatalf("iteration %d: %d targets, the union of the workloads' has %d", iter, len(got), len(union))
		}
	}
}

// TestPropertyMatcher builds random clusters, releases and signals, and
// checks the matcher against an oracle that restates its documented rules:
// a signal matches the pod it names (or its container id resolves to), the
// node it names, the node that pod runs on (unless the signal names
// another), and, when it names neither pod, node nor container, its
// namespace. In particular a signal whose asset lies outside the landing set
// never matches, nor does one from another cluster.
func TestPropertyMatcher(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 2026))
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	var matched, outside, total int
	for iter := range iterations {
		c := genCluster(r, 1+r.IntN(10), r.IntN(60))
		inv := c.inventory()
		ls, err := Correlate(genRelease(r, 3), inv)
		if err != nil {
			t.Fatal(err)
		}
		cluster := pick(r, []string{"", "prod"})
		m := NewMatcher(ls, inv, cluster)
		targets := map[string]int{}
		for i, tg := range ls.Targets {
			targets[tg.ID()] = i
		}
		for range 40 {
			a := genAsset(r, c)
			got := m.Targets(&signal.Signal{Asset: a})
			want := expectMatches(a, inv, targets, cluster)
			total++
			var gotIdx []int
			for _, mt := range got {
				gotIdx = append(gotIdx, mt.Target)
			}
			if !slices.IsSorted(gotIdx) || len(slices.Compact(slices.Clone(gotIdx))) != len(gotIdx) {
				t.Fatalf("iteration %d: %+v: matches not in target order, or repeated: %v", iter, a, gotIdx)
			}
			if !slices.Equal(gotIdx, want) {
				var g, w []string
				for _, i := range gotIdx {
					g = append(g, ls.Targets[i].ID())
				}
				for _, i := range want {
					w = append(w, ls.Targets[i].ID())
				}
				t.Fatalf("iteration %d (matcher cluster %q): asset %+v matches %v, want %v", iter, cluster, a, g, w)
			}
			if len(want) > 0 {
				matched++
				continue
			}
			outside++
		}
	}
	if matched == 0 || outside == 0 || matched < total/20 {
		t.Errorf("the generator covers too little: %d matched, %d outside, of %d", matched, outside, total)
	}
	t.Logf("%d signals: %d matched, %d outside the landing set", total, matched, outside)
}

// genAsset makes an asset that names parts of c, or things c lacks.
func genAsset(r *rand.Rand, c cluster) signal.Asset {
	var a signal.Asset
	a.Cluster = pick(r, []string{"", "", "prod", "staging"})
	var p *corev1.Pod
	if len(c.pods) > 0 && r.IntN(3) != 0 {
		p = pick(r, c.pods)
	}
	switch r.IntN(6) {
	case 0, 1: // pod by name
		if p != nil {
			a.Namespace, a.Pod = p.Namespace, p.Name
		} else {
			a.Namespace, a.Pod = pick(r, genNS), "ghost-1"
		}
	case 2: // container id only, in one of its forms
		if p != nil {
			id := inventory.ContainerID(p.Status.ContainerStatuses[0].ContainerID)
			a.ContainerID = pick(r, []string{id, id[:12], "containerd://" + id})
		} else {
			a.ContainerID = fmt.Sprintf("%064x", r.Uint64())
		}
	case 3: // node only
	case 4: // namespace-level: an object that is not a pod
		a.Namespace = pick(r, append(slices.Clone(genNS), "elsewhere"))
		a.Resource = "secrets/x"
	case 5: // pod and container id
		if p != nil {
			a.Namespace, a.Pod = p.Namespace, p.Name
			a.ContainerID = inventory.ContainerID(p.Status.ContainerStatuses[0].ContainerID)
		}
	}
	if r.IntN(2) == 0 || a == (signal.Asset{Cluster: a.Cluster}) {
		switch {
		case p != nil && p.Spec.NodeName != "" && r.IntN(2) == 0:
			a.Node = p.Spec.NodeName
		case len(c.nodes) > 0 && r.IntN(4) != 0:
			a.Node = pick(r, c.nodes).Name
		default:
			a.Node = "ghost-node"
		}
	}
	return a
}

// expectMatches is the oracle: the indices of the targets that asset a
// concerns, sorted.
func expectMatches(a signal.Asset, inv *inventory.Inventory, targets map[string]int, cluster string) []int {
	if cluster != "" && a.Cluster != "" && a.Cluster != cluster {
		return nil
	}
	set := map[int]bool{}
	ns, name := a.Namespace, a.Pod
	if name == "" && a.ContainerID != "" {
		id := a.ContainerID
		if i := strings.Index(id, "://"); i >= 0 {
			id = id[i+3:]
		}
		for _, p := range inv.Pods {
			for _, cs := range p.Status.ContainerStatuses {
				full := strings.TrimPrefix(cs.ContainerID, "containerd://")
				if id == full || len(id) == 12 && strings.HasPrefix(full, id) {
					ns, name = p.Namespace, p.Name
				}
			}
		}
	}
	if name != "" {
		if i, ok := targets["Pod/"+ns+"/"+name]; ok {
			set[i] = true
		}
		for _, p := range inv.Pods {
			if p.Namespace == ns && p.Name == name && p.Spec.NodeName != "" && (a.Node == "" || a.Node == p.Spec.NodeName) {
				if i, ok := targets["Node//"+p.Spec.NodeName]; ok {
					set[i] = true
				}
			}
		}
	}
	if a.Node != "" {
		if i, ok := targets["Node//"+a.Node]; ok {
			set[i] = true
		}
	}
	if name == "" && a.Node == "" && a.ContainerID == "" && ns != "" {
		if i, ok := targets["Namespace//"+ns]; ok {
			set[i] = true
		}
	}
	var out []int
	for i := range set {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}
