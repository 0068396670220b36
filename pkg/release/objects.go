package release

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/kube"
)

// network records o when it is a Service (v1), an Ingress or a
// NetworkPolicy (networking.k8s.io/v1), with ns for a missing namespace.
// It reports whether o was one of them. Other API versions of these kinds
// (extensions/v1beta1 Ingress) are left to be counted in Other.
func (r *Release) network(o kube.Object, ns string) (bool, error) {
	var meta *metav1.ObjectMeta
	switch {
	case o.Kind == "Service" && o.APIVersion == "v1":
		v := new(corev1.Service)
		if err := o.Decode(v); err != nil {
			return true, err
		}
		meta = &v.ObjectMeta
		r.Services = append(r.Services, Service{Service: v, Source: o.Where()})
	case o.Kind == "Ingress" && o.APIVersion == "networking.k8s.io/v1":
		v := new(networkingv1.Ingress)
		if err := o.Decode(v); err != nil {
			return true, err
		}
		meta = &v.ObjectMeta
		r.Ingresses = append(r.Ingresses, Ingress{Ingress: v, Source: o.Where()})
	case o.Kind == "NetworkPolicy" && o.APIVersion == "networking.k8s.io/v1":
		v := new(networkingv1.NetworkPolicy)
		if err := o.Decode(v); err != nil {
			return true, err
		}
		if _, err := metav1.LabelSelectorAsSelector(&v.Spec.PodSelector); err != nil {
			return true, fmt.Errorf("%s: %s: spec.podSelector: %w", o.Where(), o.Ref(), err)
		}
		meta = &v.ObjectMeta
		r.NetworkPolicies = append(r.NetworkPolicies, NetworkPolicy{NetworkPolicy: v, Source: o.Where()})
	default:
		return false, nil
	}
	if meta.Name == "" {
		return true, fmt.Errorf("%s: %s has no metadata.name", o.Where(), o.Kind)
	}
	if meta.Namespace == "" {
		meta.Namespace = ns
	}
	return true, nil
}

// checkWorkloadRef checks a Rollout's spec.workloadRef the way Argo
// Rollouts does (rollout/templateref.go, Resolve): a name, a kind it can
// read, and no template of the Rollout's own.
func checkWorkloadRef(o kube.Object, w Workload) error {
	ref := w.WorkloadRef
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	switch {
	case ref.Name == "":
		return fmt.Errorf("%s: %s: spec.workloadRef.name is empty", o.Where(), o.Ref())
	case group != "apps" || !strings.Contains(ref.APIVersion, "/") || ref.Kind != "Deployment" && ref.Kind != "ReplicaSet":
		return fmt.Errorf("%s: %s: spec.workloadRef is apiVersion %q kind %q: only a Deployment or ReplicaSet of apps/v1 can give the pod template",
			o.Where(), o.Ref(), ref.APIVersion, ref.Kind)
	case !emptyTemplate(w.Template):
		return fmt.Errorf("%s: %s: spec.template and spec.workloadRef are both set: Argo Rollouts requires an empty template with a workloadRef", o.Where(), o.Ref())
	}
	return nil
}

// emptyTemplate is Argo Rollouts' RolloutSpec.EmptyTemplate: no labels, no
// annotations and an empty pod spec.
func emptyTemplate(t corev1.PodTemplateSpec) bool {
	return len(t.Labels) == 0 && len(t.Annotations) == 0 && reflect.DeepEqual(t.Spec, corev1.PodSpec{})
}

// resolveInRelease gives every Rollout whose workloadRef names a workload
// of the release (same namespace, kind and name) that workload's template,
// and its selector when the Rollout has none.
func (r *Release) resolveInRelease() {
	for i := range r.Workloads {
		w := &r.Workloads[i]
		if w.WorkloadRef == nil {
			continue
		}
		for _, d := range r.Workloads {
			if d.Kind == w.WorkloadRef.Kind && d.Namespace == w.Namespace && d.Name == w.WorkloadRef.Name {
				w.resolve(d.Selector, &d.Template, w.refTarget()+" ("+d.Source+")")
				break
			}
		}
	}
}

func (w *Workload) resolve(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, from string) {
	ref := *w.WorkloadRef
	ref.From = from
	w.WorkloadRef = &ref
	w.Template = *tmpl.DeepCopy()
	if w.Selector == nil {
		w.Selector = sel.DeepCopy()
	}
}

// Lookup finds the Deployment or ReplicaSet (kind) namespace/name in the
// cluster for a Rollout's workloadRef: its selector and pod template, and
// false when the cluster has none.
type Lookup func(kind, namespace, name string) (selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, found bool)

// Unresolved lists the Rollouts whose workloadRef names no workload of the
// release: their template must come from the cluster (Resolve).
func (r *Release) Unresolved() []Workload {
	var out []Workload
	for _, w := range r.Workloads {
		if w.WorkloadRef != nil && w.WorkloadRef.From == "" {
			out = append(out, w)
		}
	}
	return out
}

// Resolve gives every Rollout whose workloadRef the release does not
// satisfy the template (and, when the Rollout has none, the selector) of the
// object lookup finds in the cluster, and recomputes Images. It returns r
// itself when nothing is unresolved, else a copy: r is not modified. A
// reference that neither the release nor lookup has is an error naming the
// Rollout, its file and line and the missing object. A nil lookup finds
// nothing.
func (r *Release) Resolve(lookup Lookup) (*Release, error) {
	var todo []int
	for i, w := range r.Workloads {
		if w.WorkloadRef != nil && w.WorkloadRef.From == "" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return r, nil
	}
	c := *r
	c.Workloads = slices.Clone(r.Workloads)
	var errs []error
	for _, i := range todo {
		w := &c.Workloads[i]
		var (
			sel   *metav1.LabelSelector
			tmpl  *corev1.PodTemplateSpec
			found bool
		)
		if lookup != nil {
			sel, tmpl, found = lookup(w.WorkloadRef.Kind, w.Namespace, w.WorkloadRef.Name)
		}
		if !found || tmpl == nil {
			errs = append(errs, fmt.Errorf("%s: %s: spec.workloadRef names %s, which is neither in the release nor in the cluster",
				w.Source, w.Ref(), w.refTarget()))
			continue
		}
		w.resolve(sel, tmpl, w.refTarget()+" in the cluster")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.images()
	return &c, nil
}
