package correlate_test

// Generated clusters and releases for TestSameLandingSets: nodes with
// pools, zones, taints, cordons and readiness; pods of Deployments (some
// without their ReplicaSet), StatefulSets, DaemonSets and bare pods, some
// finished, some on nodes the inventory lacks; Services of every type with
// selectors on app and tier, Ingresses, ServiceAccounts and namespaces with
// sensitive labels; releases with node selectors (hostname too), node
// affinity (matchFields, a bad operator), tolerations, spec.nodeName, bad
// selectors, the same workload twice, and Services, Ingresses and
// NetworkPolicies of their own.

import (
	"fmt"
	"math/rand/v2"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

func eqPick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

var (
	eqNss    = []string{"a", "a-b", "shop", "pay"}
	eqApps   = []string{"api", "web", "db", "w", "api-x"}
	eqTiers  = []string{"front", "back", "prod", "staging"}
	eqPools  = []string{"p1", "p2", "p3"}
	eqZones  = []string{"z1", "z2"}
	eqTkeys  = []string{"dedicated", "gpu", corev1.TaintNodeUnschedulable, corev1.TaintNodeNotReady, corev1.TaintNodeDiskPressure}
	eqTvals  = []string{"", "a", "b"}
	eqTeff   = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}
	eqKinds  = []string{"Deployment", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "CronJob"}
	eqSensKV = [][2]string{{"data-classification", "pii"}, {"env", "staging"}, {"tier", "prod"}, {"environment", "PRODUCTION"}}
)

func eqLabels(r *rand.Rand, base map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	if r.IntN(4) == 0 {
		kv := eqPick(r, eqSensKV)
		m[kv[0]] = kv[1]
	}
	return m
}

func eqInventory(r *rand.Rand, nNodes, nPods int) (*inventory.Inventory, []string) {
	inv := inventory.New()
	var nodeNames []string
	for i := range nNodes {
		name := fmt.Sprintf("n-%03d", i)
		if r.IntN(10) == 0 {
			name = fmt.Sprintf("n-%d", i) // prefix games
		}
		l := eqLabels(r, map[string]string{corev1.LabelHostname: name, "pool": eqPick(r, eqPools)})
		if r.IntN(2) == 0 {
			l["zone"] = eqPick(r, eqZones)
		}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
		if r.IntN(5) == 0 {
			n.Annotations = map[string]string{"env": "prod"}
		}
		for range r.IntN(3) {
			if r.IntN(2) == 0 {
				n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: eqPick(r, eqTkeys), Value: eqPick(r, eqTvals), Effect: eqPick(r, eqTeff)})
			}
		}
		if r.IntN(8) == 0 {
			n.Spec.Unschedulable = true
		}
		switch r.IntN(10) {
		case 0:
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
		case 1:
		default:
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		}
		inv.Nodes[name] = n
		nodeNames = append(nodeNames, name)
	}
	for _, ns := range eqNss {
		inv.Namespaces[ns] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: eqLabels(r, map[string]string{"team": ns})}}
		inv.ServiceAccounts = append(inv.ServiceAccounts, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns, Labels: eqLabels(r, nil)}})
		for _, a := range eqApps {
			if r.IntN(3) == 0 {
				inv.ServiceAccounts = append(inv.ServiceAccounts, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: a, Namespace: ns, Annotations: eqLabels(r, nil)}})
			}
			inv.ReplicaSets = append(inv.ReplicaSets, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: a + "-1", Namespace: ns,
				OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: a, Controller: eqPtr(true)}}}})
		}
		// Services
		for i := range 1 + r.IntN(5) {
			s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i), Namespace: ns, Labels: eqLabels(r, nil)}}
			switch r.IntN(5) {
			case 0:
			case 1:
				s.Spec.Selector = map[string]string{"tier": eqPick(r, eqTiers)}
			case 2:
				s.Spec.Selector = map[string]string{"tier": eqPick(r, eqTiers), "app": eqPick(r, eqApps)}
			default:
				s.Spec.Selector = map[string]string{"app": eqPick(r, eqApps)}
			}
			switch r.IntN(4) {
			case 0:
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				if r.IntN(2) == 0 {
					s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}, {Hostname: "lb.example"}}
				}
			case 1:
				s.Spec.Type = corev1.ServiceTypeNodePort
			}
			if r.IntN(6) == 0 {
				s.Spec.ExternalIPs = []string{"5.6.7.8"}
			}
			inv.Services = append(inv.Services, s)
			if r.IntN(3) == 0 {
				inv.Ingresses = append(inv.Ingresses, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "ing" + s.Name, Namespace: ns},
					Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "b.example"}, {Host: "a.example"}},
						DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: s.Name}}}})
			}
		}
	}
	for i := range nPods {
		ns, app := eqPick(r, eqNss), eqPick(r, eqApps)
		l := eqLabels(r, map[string]string{"app": app, "team": ns})
		if r.IntN(2) == 0 {
			l["tier"] = eqPick(r, eqTiers)
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: l}}
		switch r.IntN(6) {
		case 0, 1:
			p.Name = fmt.Sprintf("%s-1-%04d", app, i)
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: app + "-1", Controller: eqPtr(true)}}
		case 2:
			p.Name = fmt.Sprintf("%s-%d", app, i)
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "StatefulSet", Name: app, Controller: eqPtr(true)}}
		case 3:
			p.Name = fmt.Sprintf("%s-%04d", app, i)
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: app, Controller: eqPtr(true)}}
		case 4:
			p.Name = fmt.Sprintf("%s-x%04d", app, i)
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: app + "-orphan", Controller: eqPtr(true)}}
		default:
			p.Name = fmt.Sprintf("%s-%04d", app, i%50)
		}
		switch r.IntN(20) {
		case 0:
		case 1:
			p.Spec.NodeName = "ghost-" + eqPick(r, eqTvals)
		default:
			if len(nodeNames) > 0 {
				p.Spec.NodeName = eqPick(r, nodeNames)
			}
		}
		p.Status.Phase = corev1.PodRunning
		if r.IntN(12) == 0 {
			p.Status.Phase = eqPick(r, []corev1.PodPhase{corev1.PodSucceeded, corev1.PodFailed})
		}
		inv.Pods = append(inv.Pods, p)
	}
	inv.Index()
	return inv, nodeNames
}

func eqPtr[T any](v T) *T { return &v }

func eqRelease(r *rand.Rand, nodeNames []string, max int) *release.Release {
	out := &release.Release{}
	for range 1 + r.IntN(max) {
		kind, ns, app := eqPick(r, eqKinds), eqPick(r, eqNss), eqPick(r, eqApps)
		if kind == "Pod" {
			app = fmt.Sprintf("%s-%04d", app, r.IntN(50))
		}
		w := release.Workload{Kind: kind, Namespace: ns, Name: app, Source: fmt.Sprintf("rel.yaml:%d", r.IntN(100))}
		switch r.IntN(5) {
		case 0:
		case 1:
			w.Selector = &metav1.LabelSelector{}
		case 2:
			w.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": eqPick(r, eqTiers)}}
		default:
			w.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
		}
		if r.IntN(60) == 0 {
			w.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}
		}
		w.Template.Labels = map[string]string{"app": app}
		if r.IntN(3) == 0 {
			w.Template.Labels["tier"] = eqPick(r, eqTiers)
		}
		if r.IntN(8) == 0 {
			w.Template.Labels = nil
		}
		spec := &w.Template.Spec
		if r.IntN(2) == 0 {
			spec.NodeSelector = map[string]string{"pool": eqPick(r, eqPools)}
		}
		if r.IntN(10) == 0 && len(nodeNames) > 0 {
			if spec.NodeSelector == nil {
				spec.NodeSelector = map[string]string{}
			}
			spec.NodeSelector[corev1.LabelHostname] = eqPick(r, nodeNames)
		}
		switch r.IntN(8) {
		case 0:
			spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{eqPick(r, eqZones)}}}}}}}}
		case 1:
			if len(nodeNames) > 0 {
				spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{eqPick(r, nodeNames), eqPick(r, nodeNames)}}}}}}}}
			}
		case 2:
			spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: "Bogus"}}}}}}}
		}
		for range r.IntN(3) {
			spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: eqPick(r, eqTkeys), Operator: eqPick(r, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}), Value: eqPick(r, eqTvals), Effect: eqPick(r, eqTeff)})
		}
		if r.IntN(12) == 0 {
			spec.NodeName = eqPick(r, append([]string{"ghost-a", "ghost-b"}, nodeNames...))
		}
		if r.IntN(3) == 0 {
			spec.ServiceAccountName = app
		}
		out.Workloads = append(out.Workloads, w)
		if r.IntN(15) == 0 {
			out.Workloads = append(out.Workloads, w) // the same workload twice
		}
	}
	if r.IntN(4) == 0 {
		for i := range 1 + r.IntN(3) {
			ns := eqPick(r, eqNss)
			s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", r.IntN(4)), Namespace: ns}}
			s.Spec.Selector = map[string]string{"app": eqPick(r, eqApps)}
			if r.IntN(2) == 0 {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
			}
			out.Services = append(out.Services, release.Service{Service: s, Source: fmt.Sprintf("rel.yaml:%d", 500+i)})
			if r.IntN(2) == 0 {
				out.Ingresses = append(out.Ingresses, release.Ingress{Ingress: &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "ing" + s.Name, Namespace: ns},
					Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "new.example"}},
						DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: s.Name}}}}, Source: fmt.Sprintf("rel.yaml:%d", 600+i)})
			}
			if r.IntN(2) == 0 {
				out.NetworkPolicies = append(out.NetworkPolicies, release.NetworkPolicy{NetworkPolicy: &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "np", Namespace: ns},
					Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": eqPick(r, eqApps)}}}}, Source: fmt.Sprintf("rel.yaml:%d", 700+i)})
			}
		}
	}
	return out
}

// eqSeeds is how many cases TestSameLandingSets runs.
const eqSeeds = 300

// eqCase is case seed: an inventory, a release, and whether to correlate
// with eqRules rather than the default sensitivity mapping.
func eqCase(seed int) (*inventory.Inventory, *release.Release, bool) {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	nNodes := r.IntN(30)
	if seed%50 == 0 {
		nNodes = 200
	}
	inv, names := eqInventory(r, nNodes, r.IntN(300))
	return inv, eqRelease(r, names, 12), seed%7 == 0
}
