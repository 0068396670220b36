package release

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/kube"
)

func TestNetworkObjects(t *testing.T) {
	rel, err := FromObjects(parse(t, "testdata/network.yaml"), Options{Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	// Values read off testdata/network.yaml by hand.
	if len(rel.Services) != 1 || rel.Services[0].Service.Name != "web" || rel.Services[0].Service.Namespace != "shop" ||
		rel.Services[0].Service.Spec.Type != corev1.ServiceTypeLoadBalancer || rel.Services[0].Source != "testdata/network.yaml:51" {
		t.Errorf("Services = %+v", rel.Services)
	}
	if len(rel.Ingresses) != 1 || rel.Ingresses[0].Ingress.Name != "web" || rel.Ingresses[0].Source != "testdata/network.yaml:61" ||
		rel.Ingresses[0].Ingress.Spec.Rules[0].Host != "shop.example.com" {
		t.Errorf("Ingresses = %+v", rel.Ingresses)
	}
	if len(rel.NetworkPolicies) != 1 {
		t.Fatalf("NetworkPolicies = %+v", rel.NetworkPolicies)
	}
	np := rel.NetworkPolicies[0]
	if np.NetworkPolicy.Name != "web-ingress" || np.NetworkPolicy.Namespace != "team" || np.Source != "testdata/network.yaml:76" {
		t.Errorf("NetworkPolicy %s/%s at %s: the option's namespace applies to one without", np.NetworkPolicy.Namespace, np.NetworkPolicy.Name, np.Source)
	}
	// The extensions/v1beta1 Ingress has another shape: counted, not used.
	if want := map[string]int{"Ingress": 1, "ConfigMap": 1}; !reflect.DeepEqual(rel.Other, want) {
		t.Errorf("Other = %v, want %v", rel.Other, want)
	}
}

func TestWorkloadRefFromTheRelease(t *testing.T) {
	rel, err := FromObjects(parse(t, "testdata/network.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rel.Workloads) != 3 {
		t.Fatalf("workloads = %+v", rel.Workloads)
	}
	web := rel.Workloads[1]
	if web.Ref() != "Rollout shop/web" || web.WorkloadRef == nil {
		t.Fatalf("workload 1 = %s %+v", web.Ref(), web.WorkloadRef)
	}
	if got, want := web.WorkloadRef.From, "Deployment shop/web (testdata/network.yaml:1)"; got != want {
		t.Errorf("From = %q, want %q", got, want)
	}
	if web.Template.Spec.NodeSelector["pool"] != "web" || web.Template.Labels["tier"] != "prod" || len(web.Template.Spec.Containers) != 1 {
		t.Errorf("the Rollout did not get the Deployment's template: %+v", web.Template)
	}
	if web.Selector == nil || web.Selector.MatchLabels["app"] != "web" {
		t.Errorf("a Rollout without a selector takes the Deployment's: %+v", web.Selector)
	}
	// A copy: changing the Rollout's template leaves the Deployment's alone.
	web.Template.Labels["x"] = "y"
	if _, ok := rel.Workloads[0].Template.Labels["x"]; ok {
		t.Error("the Rollout shares its template with the Deployment")
	}
	api := rel.Workloads[2]
	if api.WorkloadRef == nil || api.WorkloadRef.From != "" || len(api.Template.Spec.Containers) != 0 {
		t.Errorf("Rollout shop/api is resolved without its Deployment: %+v", api.WorkloadRef)
	}
	if u := rel.Unresolved(); len(u) != 1 || u[0].Ref() != "Rollout shop/api" {
		t.Errorf("Unresolved() = %+v", u)
	}
	if len(rel.Images) != 1 || rel.Images[0].Ref != "ghcr.io/shop/web:2.0.0" {
		t.Errorf("Images = %+v", rel.Images)
	}
}

func TestResolve(t *testing.T) {
	rel, err := FromObjects(parse(t, "testdata/network.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	clusterTmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "ghcr.io/shop/api:1.4"}}}}
	clusterSel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}
	var asked []string
	lookup := func(kind, ns, name string) (*metav1.LabelSelector, *corev1.PodTemplateSpec, bool) {
		asked = append(asked, kind+" "+ns+"/"+name)
		if kind == "Deployment" && ns == "shop" && name == "api" {
			return clusterSel, clusterTmpl, true
		}
		return nil, nil, false
	}
	got, err := rel.Resolve(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asked, []string{"Deployment shop/api"}) {
		t.Errorf("looked up %q; only the unresolved reference should be", asked)
	}
	api := got.Workloads[2]
	if api.WorkloadRef.From != "Deployment shop/api in the cluster" || api.Template.Spec.Containers[0].Image != "ghcr.io/shop/api:1.4" {
		t.Errorf("resolved %+v %+v", api.WorkloadRef, api.Template)
	}
	if api.Selector.MatchLabels["track"] != "rollout" {
		t.Errorf("the Rollout's own selector is kept: %+v", api.Selector)
	}
	if len(got.Images) != 2 || got.Images[0].Ref != "ghcr.io/shop/api:1.4" {
		t.Errorf("Images = %+v", got.Images)
	}
	// The original is untouched.
	if rel.Workloads[2].WorkloadRef.From != "" || len(rel.Images) != 1 {
		t.Error("Resolve modified its receiver")
	}
	if again, err := got.Resolve(nil); err != nil || again != got {
		t.Errorf("a resolved release resolves to itself: %v", err)
	}

	_, err = rel.Resolve(nil)
	want := "testdata/network.yaml:38: Rollout shop/api: spec.workloadRef names Deployment shop/api, which is neither in the release nor in the cluster"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestNetworkAndWorkloadRefErrors(t *testing.T) {
	const dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: c, image: i}]}}}\n---\n"
	const ro = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, namespace: ns}\n"
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"workloadRef without a name", dep + ro + "spec: {workloadRef: {apiVersion: apps/v1, kind: Deployment}}\n",
			"r.yaml:6: Rollout ns/r: spec.workloadRef.name is empty"},
		{"workloadRef of another kind", dep + ro + "spec: {workloadRef: {apiVersion: v1, kind: PodTemplate, name: t}}\n",
			`r.yaml:6: Rollout ns/r: spec.workloadRef is apiVersion "v1" kind "PodTemplate": only a Deployment or ReplicaSet of apps/v1`},
		{"workloadRef without apiVersion", dep + ro + "spec: {workloadRef: {kind: Deployment, name: d}}\n",
			`spec.workloadRef is apiVersion "" kind "Deployment"`},
		{"template and workloadRef", dep + ro + "spec:\n  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: d}\n  template: {metadata: {labels: {a: b}}}\n",
			"r.yaml:6: Rollout ns/r: spec.template and spec.workloadRef are both set"},
		{"workloadRef of the wrong type", dep + ro + "spec: {workloadRef: [1]}\n", "r.yaml:6: Rollout ns/r: "},
		{"Service without a name", dep + "apiVersion: v1\nkind: Service\nspec: {}\n", "r.yaml:6: Service has no metadata.name"},
		{"Service of the wrong shape", dep + "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: [a]}\n", "r.yaml:6: Service s: "},
		{"Ingress of the wrong shape", dep + "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec: {rules: 3}\n", "r.yaml:6: Ingress i: "},
		{"NetworkPolicy with a bad selector", dep + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Bogus}]}}\n",
			`r.yaml:6: NetworkPolicy np: spec.podSelector: "Bogus" is not a valid label selector operator`},
		{"network objects alone", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "the release has no workloads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := kube.Parse([]byte(tt.yaml), "r.yaml")
			if err != nil {
				t.Fatal(err)
			}
			rel, err := FromObjects(objs, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if rel != nil {
				t.Error("a release and an error")
			}
		})
	}
}
