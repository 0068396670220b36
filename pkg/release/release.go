// Package release describes what is being deployed: the workloads in a set
// of rendered Kubernetes manifests, their pod templates and images, the
// Services, Ingresses and NetworkPolicies shipped with them, and the cluster
// and namespace they go to.
package release

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/kube"
)

// Release is what is being deployed.
type Release struct {
	// Cluster is the target cluster name; empty means "the one in the
	// inventory".
	Cluster string
	// Workloads in manifest order.
	Workloads []Workload
	// Images referenced by the workloads, de-duplicated, sorted.
	Images []Image
	// Services, Ingresses and NetworkPolicies the release ships, in
	// manifest order, with their namespaces filled in.
	Services        []Service
	Ingresses       []Ingress
	NetworkPolicies []NetworkPolicy
	// Other counts the objects of kinds the release does not use
	// (ConfigMaps, Secrets, a Rollout of another API group), by kind.
	Other map[string]int
}

// Service is a Service in the release.
type Service struct {
	Service *corev1.Service
	Source  string // FILE:LINE of the manifest
}

// Ingress is an Ingress (networking.k8s.io) in the release.
type Ingress struct {
	Ingress *networkingv1.Ingress
	Source  string // FILE:LINE of the manifest
}

// NetworkPolicy is a NetworkPolicy (networking.k8s.io) in the release.
type NetworkPolicy struct {
	NetworkPolicy *networkingv1.NetworkPolicy
	Source        string // FILE:LINE of the manifest
}

// Workload is one object that creates pods.
type Workload struct {
	Kind      string // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, Rollout
	Name      string
	Namespace string
	// Selector selects the workload's pods; nil for a bare Pod and for
	// Jobs without one (then pods are matched by owner references).
	Selector *metav1.LabelSelector
	// Template is the pod template (for a Pod: its own metadata and spec).
	// For a Rollout with spec.workloadRef it is the referenced object's
	// template once resolved (see WorkloadRef), and empty before.
	Template corev1.PodTemplateSpec
	Source   string // FILE:LINE of the manifest
	// WorkloadRef is an Argo Rollout's spec.workloadRef; nil for every
	// other workload.
	WorkloadRef *WorkloadRef
}

// WorkloadRef is an Argo Rollout's spec.workloadRef: the Deployment or
// ReplicaSet (API group apps) whose pod template the Rollout's pods use.
// Argo Rollouts takes the selector from it too when the Rollout has none.
type WorkloadRef struct {
	APIVersion string
	Kind       string // Deployment or ReplicaSet
	Name       string
	// From names where the template was found: "Deployment shop/web
	// (deploy/web.yaml:1)" for an object in the release, "Deployment
	// shop/web in the cluster" for one in the inventory; empty while
	// unresolved.
	From string
}

// refTarget is "Kind namespace/name" of the object a Rollout's workloadRef
// names, in the Rollout's namespace.
func (w Workload) refTarget() string {
	return w.WorkloadRef.Kind + " " + w.Namespace + "/" + w.WorkloadRef.Name
}

// Ref is "Kind namespace/name".
func (w Workload) Ref() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// Image is a container image reference, split.
type Image struct {
	Ref    string `json:"ref"`              // as written
	Repo   string `json:"repo"`             // registry/path without tag or digest
	Tag    string `json:"tag,omitempty"`    // empty when absent
	Digest string `json:"digest,omitempty"` // "sha256:..." when pinned
}

// ParseImage splits an image reference. It accepts "repo", "repo:tag",
// "repo@sha256:..." and "repo:tag@sha256:...", with registry hosts that carry
// a port.
func ParseImage(ref string) Image {
	im := Image{Ref: ref}
	rest := ref
	if i := strings.Index(rest, "@"); i >= 0 {
		im.Digest = rest[i+1:]
		rest = rest[:i]
	}
	// A tag is after the last ':' that follows the last '/'.
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		im.Tag = rest[i+1:]
		rest = rest[:i]
	}
	im.Repo = rest
	return im
}

// Options for Load.
type Options struct {
	// Namespace applies to namespaced objects that do not name one.
	// Empty means "default".
	Namespace string
	Cluster   string
}

// Load reads the release at path (a file, a folder or "-").
func Load(path string, opt Options) (*Release, error) {
	objs, err := kube.ReadPath(path)
	if err != nil && len(objs) == 0 {
		return nil, fmt.Errorf("read release %s: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read release: %w", err)
	}
	return FromObjects(objs, opt)
}

// FromObjects builds a Release from decoded manifests.
func FromObjects(objs []kube.Object, opt Options) (*Release, error) {
	ns := opt.Namespace
	if ns == "" {
		ns = "default"
	}
	r := &Release{Cluster: opt.Cluster, Other: map[string]int{}}
	var errs []error
	for _, o := range objs {
		ok, err := r.network(o, ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			continue
		}
		w, ok, err := workload(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			r.Other[o.Kind]++
			continue
		}
		if w.Namespace == "" {
			w.Namespace = ns
		}
		w.Source = o.Where()
		r.Workloads = append(r.Workloads, w)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(r.Workloads) == 0 {
		return nil, errors.New("the release has no workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod or Rollout)")
	}
	r.resolveInRelease()
	r.images()
	return r, nil
}

// images lists the workloads' images, each once, sorted.
func (r *Release) images() {
	r.Images = nil
	seen := map[string]bool{}
	for _, w := range r.Workloads {
		spec := w.Template.Spec
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			if c.Image != "" && !seen[c.Image] {
				seen[c.Image] = true
				r.Images = append(r.Images, ParseImage(c.Image))
			}
		}
	}
	sort.Slice(r.Images, func(i, j int) bool { return r.Images[i].Ref < r.Images[j].Ref })
}

// rollout is the part of an Argo Rollouts Rollout that matters here
// (argoproj.io/v1alpha1 RolloutSpec: selector, template, workloadRef).
type rollout struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector    *metav1.LabelSelector  `json:"selector"`
		Template    corev1.PodTemplateSpec `json:"template"`
		WorkloadRef *struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"workloadRef"`
	} `json:"spec"`
}

func workload(o kube.Object) (Workload, bool, error) {
	w := Workload{Kind: o.Kind, Name: o.Name, Namespace: o.Namespace}
	var err error
	switch o.Kind {
	case "Deployment":
		var d appsv1.Deployment
		err = o.Decode(&d)
		w.Selector, w.Template = d.Spec.Selector, d.Spec.Template
	case "StatefulSet":
		var d appsv1.StatefulSet
		err = o.Decode(&d)
		w.Selector, w.Template = d.Spec.Selector, d.Spec.Template
	case "DaemonSet":
		var d appsv1.DaemonSet
		err = o.Decode(&d)
		w.Selector, w.Template = d.Spec.Selector, d.Spec.Template
	case "ReplicaSet":
		var d appsv1.ReplicaSet
		err = o.Decode(&d)
		w.Selector, w.Template = d.Spec.Selector, d.Spec.Template
	case "Job":
		var d batchv1.Job
		err = o.Decode(&d)
		w.Selector, w.Template = d.Spec.Selector, d.Spec.Template
	case "CronJob":
		var d batchv1.CronJob
		err = o.Decode(&d)
		w.Template = d.Spec.JobTemplate.Spec.Template
	case "Pod":
		var d corev1.Pod
		err = o.Decode(&d)
		w.Template = corev1.PodTemplateSpec{ObjectMeta: d.ObjectMeta, Spec: d.Spec}
	case "Rollout":
		if !strings.HasPrefix(o.APIVersion, "argoproj.io/") {
			return w, false, nil
		}
		var d rollout
		err = o.Decode(&d)
		w.Selector, w.Template = d.Spec.Selector, d.Spec.Template
		if err == nil && d.Spec.WorkloadRef != nil {
			ref := d.Spec.WorkloadRef
			w.WorkloadRef = &WorkloadRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name}
			err = checkWorkloadRef(o, w)
		}
	default:
		return w, false, nil
	}
	if err != nil {
		return w, false, err
	}
	if w.Name == "" {
		return w, false, fmt.Errorf("%s: %s has no metadata.name", o.Where(), o.Kind)
	}
	return w, true, nil
}
