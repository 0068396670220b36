package correlate

// The release's own Services, Ingresses and NetworkPolicies, and Argo
// Rollouts that take their pod template from a Deployment (workloadRef).
// docs/correlation.md ("Services, Ingresses and NetworkPolicies in the
// release", "Argo Rollouts with workloadRef") says what they change.

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

// releaseObjects is what the release ships besides workloads, indexed for
// the builder. A builder without any has a nil one.
type releaseObjects struct {
	// services holds, for each namespace where the release ships a
	// Service, the Services a workload's pods can be behind: the
	// cluster's, except those the release replaces (same name), and the
	// release's, sorted by name.
	services map[string][]*corev1.Service
	// svcNote is the reason's note for each Service of the release.
	svcNote map[*corev1.Service]string
	// ingresses holds, for each "namespace/service" that an Ingress of the
	// release routes to or that a replaced cluster Ingress routed to, the
	// Ingresses that route to it: the cluster's, except those the release
	// replaces, then the release's.
	ingresses map[string][]*networkingv1.Ingress
}

// Resolve returns rel with the pod template of every Argo Rollout whose
// spec.workloadRef names no workload of the release taken from the
// inventory's Deployment or ReplicaSet (release.Release.Resolve): rel
// itself when there is none, else a copy with its Images recomputed. A
// reference found in neither is an error naming the Rollout, its file and
// line and the missing object. Correlate does this itself; callers that
// report the release's images use it first.
func Resolve(rel *release.Release, inv *inventory.Inventory) (*release.Release, error) {
	return rel.Resolve(func(kind, ns, name string) (*metav1.LabelSelector, *corev1.PodTemplateSpec, bool) {
		return clusterTemplate(inv, kind, ns, name)
	})
}

// useRelease resolves the release's workloadRefs against the inventory
// and indexes its Services and Ingresses. It returns the release to
// correlate: rel itself, or a resolved copy.
func (b *builder) useRelease(rel *release.Release) (*release.Release, error) {
	rel, err := Resolve(rel, b.inv)
	if err != nil {
		return nil, err
	}
	if len(rel.Services) == 0 && len(rel.Ingresses) == 0 {
		return rel, nil
	}
	ro := &releaseObjects{svcNote: map[*corev1.Service]string{}}
	b.ro = ro

	// Services: the last of a name wins, as `kubectl apply` leaves it.
	byKey := map[string]release.Service{}
	var nss []string
	for _, s := range rel.Services {
		k := s.Service.Namespace + "/" + s.Service.Name
		if _, ok := byKey[k]; !ok {
			nss = append(nss, s.Service.Namespace)
		}
		byKey[k] = s
	}
	if len(byKey) > 0 {
		ro.services = map[string][]*corev1.Service{}
	}
	for _, ns := range nss {
		if _, done := ro.services[ns]; done {
			continue
		}
		var list []*corev1.Service
		replaced := map[string]bool{}
		for _, s := range b.inv.ServicesInNamespace(ns) {
			if _, ok := byKey[ns+"/"+s.Name]; ok {
				replaced[s.Name] = true
				continue
			}
			list = append(list, s)
		}
		for _, s := range byKey {
			if s.Service.Namespace == ns {
				list = append(list, s.Service)
				note := "from the release, " + s.Source
				if replaced[s.Service.Name] {
					note += ", replacing the cluster's"
				}
				ro.svcNote[s.Service] = note
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		ro.services[ns] = list
	}

	// Ingresses: the release's replace the cluster's of the same name.
	ingByKey := map[string]*networkingv1.Ingress{}
	var ingOrder []*networkingv1.Ingress
	for _, in := range rel.Ingresses {
		k := in.Ingress.Namespace + "/" + in.Ingress.Name
		if _, ok := ingByKey[k]; !ok {
			ingOrder = append(ingOrder, in.Ingress)
		}
		ingByKey[k] = in.Ingress
	}
	if len(ingByKey) == 0 {
		return rel, nil
	}
	ro.ingresses = map[string][]*networkingv1.Ingress{}
	touched := map[string]bool{}
	for _, in := range b.inv.Ingresses {
		if ingByKey[in.Namespace+"/"+in.Name] != nil {
			for _, svc := range inventory.IngressServices(in) {
				touched[in.Namespace+"/"+svc] = true
			}
		}
	}
	for i, in := range ingOrder {
		ingOrder[i] = ingByKey[in.Namespace+"/"+in.Name]
		for _, svc := range inventory.IngressServices(ingOrder[i]) {
			touched[ingOrder[i].Namespace+"/"+svc] = true
		}
	}
	for k := range touched {
		ns, svc, _ := strings.Cut(k, "/")
		var list []*networkingv1.Ingress
		for _, in := range b.inv.IngressesFor(ns, svc) {
			if ingByKey[in.Namespace+"/"+in.Name] == nil {
				list = append(list, in)
			}
		}
		for _, in := range ingOrder {
			if in.Namespace == ns && routesTo(in, svc) {
				list = append(list, in)
			}
		}
		ro.ingresses[k] = list
	}
	return rel, nil
}

func routesTo(in *networkingv1.Ingress, svc string) bool {
	for _, s := range inventory.IngressServices(in) {
		if s == svc {
			return true
		}
	}
	return false
}

// clusterTemplate finds a Deployment or ReplicaSet of the inventory for a
// Rollout's workloadRef.
func clusterTemplate(inv *inventory.Inventory, kind, ns, name string) (*metav1.LabelSelector, *corev1.PodTemplateSpec, bool) {
	switch kind {
	case "Deployment":
		for _, d := range inv.Deployments {
			if d.Namespace == ns && d.Name == name {
				return d.Spec.Selector, &d.Spec.Template, true
			}
		}
	case "ReplicaSet":
		for _, rs := range inv.ReplicaSets {
			if rs.Namespace == ns && rs.Name == name {
				return rs.Spec.Selector, &rs.Spec.Template, true
			}
		}
	}
	return nil, nil, false
}

// services returns the Services a workload's pods in ns can be behind,
// sorted by name: the cluster's, with the release's in place of those of
// the same name and beside the others.
func (b *builder) services(ns string) []*corev1.Service {
	if b.ro != nil {
		if l, ok := b.ro.services[ns]; ok {
			return l
		}
	}
	return b.inv.ServicesInNamespace(ns)
}

// ingressesFor returns the Ingresses that route to Service ns/name: the
// cluster's, with the release's in place of those of the same name.
func (b *builder) ingressesFor(ns, name string) []*networkingv1.Ingress {
	if b.ro != nil {
		if l, ok := b.ro.ingresses[ns+"/"+name]; ok {
			return l
		}
	}
	return b.inv.IngressesFor(ns, name)
}

// svcNote is " (from the release, FILE:LINE)" for a Service of the
// release, "" for one of the cluster.
func (b *builder) svcNote(svc *corev1.Service) string {
	if b.ro == nil {
		return ""
	}
	if n, ok := b.ro.svcNote[svc]; ok {
		return " (" + n + ")"
	}
	return ""
}

// releaseNotes records on each namespace target the release's
// NetworkPolicies that select the release's pods there, and the Rollouts
// whose pod template comes from a workloadRef.
func (b *builder) releaseNotes(rel *release.Release) error {
	type policy struct {
		np   release.NetworkPolicy
		sel  klabels.Selector
		refs []string
	}
	var pols []*policy
	for _, np := range rel.NetworkPolicies {
		sel, err := metav1.LabelSelectorAsSelector(&np.NetworkPolicy.Spec.PodSelector)
		if err != nil {
			return fmt.Errorf("%s: NetworkPolicy %s/%s: spec.podSelector: %w", np.Source, np.NetworkPolicy.Namespace, np.NetworkPolicy.Name, err)
		}
		pols = append(pols, &policy{np: np, sel: sel})
	}
	notes := map[string][]string{} // namespace -> notes, in manifest order
	var nsOrder []string
	note := func(ns, s string) {
		if _, ok := notes[ns]; !ok {
			nsOrder = append(nsOrder, ns)
		}
		notes[ns] = append(notes[ns], s)
	}
	for _, w := range rel.Workloads {
		if w.WorkloadRef != nil && w.WorkloadRef.From != "" {
			note(w.Namespace, w.Ref()+" takes its pod template from "+w.WorkloadRef.From)
		}
		for _, p := range pols {
			if p.np.NetworkPolicy.Namespace == w.Namespace && p.sel.Matches(klabels.Set(w.Template.Labels)) {
				p.refs = append(p.refs, w.Ref())
			}
		}
	}
	for _, p := range pols {
		if len(p.refs) == 0 {
			continue
		}
		np := p.np.NetworkPolicy
		ns := np.Namespace
		name := "NetworkPolicy " + ns + "/" + np.Name
		note(ns, fmt.Sprintf("%s from the release (%s) selects the pods of %s (%s)", name, p.np.Source, strings.Join(p.refs, ", "), policyTypes(np)))
		if t := b.byID[(Target{Kind: "Namespace", Name: ns}).ID()]; t != nil {
			t.NetworkPolicies = append(t.NetworkPolicies, name)
		}
	}
	for _, ns := range nsOrder {
		if t := b.byID[(Target{Kind: "Namespace", Name: ns}).ID()]; t != nil {
			t.Reason += "; " + strings.Join(notes[ns], "; ")
		}
	}
	return nil
}

// policyTypes is the NetworkPolicy's policy types as the API server
// defaults them: Ingress, and Egress when it has egress rules.
func policyTypes(np *networkingv1.NetworkPolicy) string {
	var ts []string
	for _, t := range np.Spec.PolicyTypes {
		ts = append(ts, string(t))
	}
	if len(ts) == 0 {
		ts = append(ts, string(networkingv1.PolicyTypeIngress))
		if len(np.Spec.Egress) > 0 {
			ts = append(ts, string(networkingv1.PolicyTypeEgress))
		}
	}
	return strings.Join(ts, ", ")
}
