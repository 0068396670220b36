package correlate

import (
	"fmt"
	"math/rand/v2"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

// Builders for small hand-made clusters. A node is Ready unless notReady()
// is given.

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeLabels(kv ...string) nodeOpt {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func taint(key, value string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

// cordoned is what `kubectl cordon` leaves: unschedulable and its taint.
func cordoned() nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Unschedulable = true
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
}

func notReady() nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
	}
}

func noConditions() nodeOpt {
	return func(n *corev1.Node) { n.Status.Conditions = nil }
}

type podOpt func(*corev1.Pod)

func pod(ns, name, nodeName string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}}}
	p.Spec.NodeName = nodeName
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

func podLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func ownedBy(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, controllerRef(kind, name))
	}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func containerID(id string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "c", ContainerID: "containerd://" + id})
	}
}

func controllerRef(kind, name string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{Kind: kind, Name: name, Controller: &t}
}

func replicaSet(ns, name, deployment string) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if deployment != "" {
		rs.OwnerReferences = []metav1.OwnerReference{controllerRef("Deployment", deployment)}
	}
	return rs
}

func job(ns, name, cronJob string) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if cronJob != "" {
		j.OwnerReferences = []metav1.OwnerReference{controllerRef("CronJob", cronJob)}
	}
	return j
}

func namespace(name string, kv ...string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		ns.Labels[kv[i]] = kv[i+1]
	}
	return ns
}

// cluster is everything an inventory is made of, in the order given.
type cluster struct {
	namespaces []*corev1.Namespace
	nodes      []*corev1.Node
	pods       []*corev1.Pod
	rss        []*appsv1.ReplicaSet
	jobs       []*batchv1.Job
}

func (c cluster) inventory() *inventory.Inventory {
	inv := inventory.New()
	for _, ns := range c.namespaces {
		inv.Namespaces[ns.Name] = ns
	}
	for _, n := range c.nodes {
		inv.Nodes[n.Name] = n
	}
	inv.Pods = append(inv.Pods, c.pods...)
	inv.ReplicaSets = append(inv.ReplicaSets, c.rss...)
	inv.Jobs = append(inv.Jobs, c.jobs...)
	inv.Index()
	return inv
}

type wlOpt func(*release.Workload)

// workload is a release workload; Deployments and the like select
// app=<name> unless told otherwise.
func workload(kind, ns, name string, opts ...wlOpt) release.Workload {
	w := release.Workload{Kind: kind, Namespace: ns, Name: name, Source: "release.yaml:1"}
	switch kind {
	case "Pod", "CronJob", "Job":
	default:
		w.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	}
	w.Template.Labels = map[string]string{"app": name}
	w.Template.Spec.Containers = []corev1.Container{{Name: name, Image: "example/" + name + ":1"}}
	for _, o := range opts {
		o(&w)
	}
	return w
}

func nodeSelector(kv ...string) wlOpt {
	return func(w *release.Workload) {
		if w.Template.Spec.NodeSelector == nil {
			w.Template.Spec.NodeSelector = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			w.Template.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func tolerate(key string, op corev1.TolerationOperator, value string, effect corev1.TaintEffect) wlOpt {
	return func(w *release.Workload) {
		w.Template.Spec.Tolerations = append(w.Template.Spec.Tolerations, corev1.Toleration{Key: key, Operator: op, Value: value, Effect: effect})
	}
}

func requireNode(key string, op corev1.NodeSelectorOperator, values ...string) wlOpt {
	return func(w *release.Workload) {
		w.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}},
			},
		}}
	}
}

func preferNode(key string, values ...string) wlOpt {
	return func(w *release.Workload) {
		w.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}}}}},
		}}
	}
}

func nodeName(n string) wlOpt { return func(w *release.Workload) { w.Template.Spec.NodeName = n } }

func serviceAccount(sa string) wlOpt {
	return func(w *release.Workload) { w.Template.Spec.ServiceAccountName = sa }
}

func selectLabels(kv ...string) wlOpt {
	return func(w *release.Workload) {
		w.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			w.Selector.MatchLabels[kv[i]] = kv[i+1]
		}
	}
}

func rel(ws ...release.Workload) *release.Release { return &release.Release{Workloads: ws} }

// Generated clusters, for the property tests and the benchmarks.

var (
	genKeys   = []string{"dedicated", "gpu", "spot", corev1.TaintNodeUnschedulable, corev1.TaintNodeNotReady}
	genValues = []string{"", "a", "b"}
	genEffect = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}
	genPools  = []string{"general", "payments", "data"}
	genZones  = []string{"z1", "z2", "z3"}
	genNS     = []string{"shop", "payments", "data", "ops"}
	genApps   = []string{"api", "web", "worker", "db", "agent", "cron"}
	genKinds  = []string{"Deployment", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "CronJob", "Pod"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// genCluster makes a cluster of nNodes nodes (random pools, zones, taints,
// cordons and readiness) and nPods pods of the genApps apps, owned through
// ReplicaSets, StatefulSets, DaemonSets, Jobs of CronJobs, or nothing.
func genCluster(r *rand.Rand, nNodes, nPods int) cluster {
	return genClusterOf(r, nNodes, nPods, genNS, genApps)
}

// genClusterOf is genCluster with the given namespaces and apps.
func genClusterOf(r *rand.Rand, nNodes, nPods int, namespaces, apps []string) cluster {
	var c cluster
	for _, ns := range namespaces {
		kv := []string{"team", ns}
		if r.IntN(2) == 0 {
			kv = append(kv, "tier", "prod")
		}
		c.namespaces = append(c.namespaces, namespace(ns, kv...))
	}
	for i := range nNodes {
		var opts []nodeOpt
		opts = append(opts, nodeLabels("pool", pick(r, genPools), "zone", pick(r, genZones)))
		for range r.IntN(3) {
			if r.IntN(2) == 0 {
				opts = append(opts, taint(pick(r, genKeys), pick(r, genValues), pick(r, genEffect)))
			}
		}
		if r.IntN(8) == 0 {
			opts = append(opts, cordoned())
		}
		switch r.IntN(12) {
		case 0:
			opts = append(opts, notReady())
		case 1:
			opts = append(opts, noConditions())
		}
		if r.IntN(6) == 0 {
			opts = append(opts, nodeLabels("env", "prod"))
		}
		c.nodes = append(c.nodes, node(fmt.Sprintf("node-%04d", i), opts...))
	}
	rsSeen := map[string]bool{}
	jobSeen := map[string]bool{}
	for i := range nPods {
		ns, app := pick(r, namespaces), pick(r, apps)
		nodeName := ""
		if len(c.nodes) > 0 && r.IntN(20) != 0 {
			nodeName = pick(r, c.nodes).Name
		}
		opts := []podOpt{podLabels("app", app), containerID(fmt.Sprintf("%064x", r.Uint64()))}
		name := ""
		switch r.IntN(6) {
		case 0, 1: // Deployment -> ReplicaSet -> Pod; the ReplicaSet sometimes missing
			rs := fmt.Sprintf("%s-%x", app, r.IntN(3))
			name = fmt.Sprintf("%s-%05d", rs, i)
			opts = append(opts, ownedBy("ReplicaSet", rs))
			if k := ns + "/" + rs; !rsSeen[k] && r.IntN(4) != 0 {
				rsSeen[k] = true
				c.rss = append(c.rss, replicaSet(ns, rs, app))
			}
		case 2:
			name = fmt.Sprintf("%s-%d", app, i)
			opts = append(opts, ownedBy("StatefulSet", app))
		case 3:
			name = fmt.Sprintf("%s-%05d", app, i)
			opts = append(opts, ownedBy("DaemonSet", app))
		case 4:
			j := fmt.Sprintf("%s-2900000%d", app, r.IntN(2))
			name = fmt.Sprintf("%s-%05d", j, i)
			opts = append(opts, ownedBy("Job", j))
			if k := ns + "/" + j; !jobSeen[k] {
				jobSeen[k] = true
				c.jobs = append(c.jobs, job(ns, j, app))
			}
		default:
			name = fmt.Sprintf("%s-%05d", app, i)
		}
		if r.IntN(15) == 0 {
			opts = append(opts, phase(pick(r, []corev1.PodPhase{corev1.PodSucceeded, corev1.PodFailed})))
		}
		c.pods = append(c.pods, pod(ns, name, nodeName, opts...))
	}
	return c
}

// genRelease makes 1 to max workloads with random placement rules.
func genRelease(r *rand.Rand, max int) *release.Release {
	out := &release.Release{}
	seen := map[string]bool{}
	for range 1 + r.IntN(max) {
		kind, ns, app := pick(r, genKinds), pick(r, genNS), pick(r, genApps)
		if kind == "Pod" {
			app = fmt.Sprintf("%s-%05d", app, r.IntN(50))
		}
		if seen[kind+ns+app] {
			continue
		}
		seen[kind+ns+app] = true
		var opts []wlOpt
		if r.IntN(2) == 0 {
			opts = append(opts, nodeSelector("pool", pick(r, genPools)))
		}
		if r.IntN(4) == 0 {
			opts = append(opts, requireNode("zone", corev1.NodeSelectorOpIn, pick(r, genZones), pick(r, genZones)))
		}
		for range r.IntN(3) {
			op := corev1.TolerationOpEqual
			key, value := pick(r, genKeys), pick(r, genValues)
			switch r.IntN(4) {
			case 0:
				op, value = corev1.TolerationOpExists, ""
			case 1:
				op, key, value = corev1.TolerationOpExists, "", ""
				if r.IntN(3) != 0 {
					continue // tolerating everything is rare
				}
			}
			effect := corev1.TaintEffect("")
			if r.IntN(2) == 0 {
				effect = pick(r, genEffect)
			}
			opts = append(opts, tolerate(key, op, value, effect))
		}
		if r.IntN(3) == 0 {
			opts = append(opts, serviceAccount(app))
		}
		out.Workloads = append(out.Workloads, workload(kind, ns, app, opts...))
	}
	return out
}
