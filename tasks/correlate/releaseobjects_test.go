package correlate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/tasks/correlate"
	kubetest "github.com/pulsegate/pulsegate/test/kube"
)

// A release that ships its own LoadBalancer Service, Ingress and
// NetworkPolicy next to two Argo Rollouts with spec.workloadRef (one
// Deployment in the release, one only in the cluster), correlated against a
// live inventory of the real API server and through `pulsegate correlate`.
func TestReleaseObjectsOnRealAPIServer(t *testing.T) {
	s := kubetest.Shared(t)
	ctx := t.Context()
	id := suffix()
	ns, webPool, apiPool := "ro-"+id, "web-"+id, "api-"+id
	nWeb, nAPI := "n-web-"+id, "n-api-"+id
	c := s.Client
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, pool := range map[string]string{nWeb: webPool, nAPI: apiPool} {
		check(s.AddNode(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": pool, corev1.LabelHostname: name}}}))
	}
	check(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	waitForDefaultSA(t, s, ns)

	// The Deployment that Rollout api refers to: only in the cluster.
	apiLbl := map[string]string{"app": "api"}
	check(c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: apiLbl}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: apiLbl},
			Spec:       corev1.PodSpec{NodeSelector: map[string]string{"pool": apiPool}, Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}}}}},
		metav1.CreateOptions{}))
	// Rollout web's current ReplicaSet and pod (no Rollout CRD here: the
	// owner reference is what the Argo controller writes), and a canary
	// pod of something else behind the same Service.
	webLbl := map[string]string{"app": "web", "track": "stable"}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-6c5f7",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "web", UID: "00000000-0000-0000-0000-000000000001", Controller: new(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: webLbl}, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webLbl},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(s.RunPod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-6c5f7-aaaaa", Namespace: ns, Labels: webLbl,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true)}}},
		Spec: corev1.PodSpec{NodeName: nWeb, Containers: rs.Spec.Template.Spec.Containers}}))
	check(s.RunPod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: ns, Labels: map[string]string{"app": "web", "track": "canary"}},
		Spec: corev1.PodSpec{NodeName: nWeb, Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:2-rc"}}}}))
	// The cluster's Service web (the release replaces it) and an Ingress
	// that routes to it.
	check(c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}))
	prefix := networkingv1.PathTypePrefix
	check(c.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "old.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}},
		metav1.CreateOptions{}))

	release := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 0
  selector: {matchLabels: {app: web, track: stable}}
  template:
    metadata: {labels: {app: web, track: stable}}
    spec:
      nodeSelector: {pool: %[2]s}
      containers: [{name: web, image: "registry.example/web:2"}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: %[1]s}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: progressively}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: api, namespace: %[1]s}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: api}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: %[1]s}
spec:
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 443}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: %[1]s}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {}}]}]
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: %[1]s}
`, ns, webPool)
	rel := filepath.Join(t.TempDir(), "release.yaml")
	if err := os.WriteFile(rel, []byte(release), 0o600); err != nil {
		t.Fatal(err)
	}

	r, err := correlate.Run(ctx, correlate.Params{Release: rel, Contexts: []string{"pulsegate-test"}, Kubeconfig: s.Kubeconfig, SyncTimeout: 30 * time.Second}, correlate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	exposed := fmt.Sprintf("LoadBalancer:Service %[1]s/web Ingress:Ingress %[1]s/legacyold.example.com Ingress:Ingress %[1]s/webshop.example.com", ns)
	webs := fmt.Sprintf("[Deployment %[1]s/web Rollout %[1]s/web]", ns)
	want := []string{
		fmt.Sprintf("replaced-pod Pod %s/web-6c5f7-aaaaa %s %s", ns, webs, exposed),
		fmt.Sprintf("current-node Node /%s %s", nWeb, webs),
		fmt.Sprintf("eligible-node Node /%s [Rollout %s/api]", nAPI, ns),
		fmt.Sprintf("namespace Namespace /%s [Deployment %[1]s/web Rollout %[1]s/api Rollout %[1]s/web]", ns),
		fmt.Sprintf("service-account ServiceAccount %s/default [Deployment %[1]s/web Rollout %[1]s/api Rollout %[1]s/web]", ns),
		fmt.Sprintf("network-neighbour Pod %s/web-canary %s %s", ns, webs, exposed),
		fmt.Sprintf("network-neighbour Service %s/web %s %s", ns, webs, exposed),
	}
	got, _ := scene{ns: ns, id: id}.mine(r)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("targets\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	reasons := map[string]string{}
	for _, tg := range r.Targets {
		if tg.Namespace == ns || tg.Name == ns {
			reasons[tg.ID()] = tg.Reason
		}
	}
	for id, want := range map[string]string{
		"Service/" + ns + "/web":    "selects the pods of Deployment " + ns + "/web (from the release, " + rel + ":25, replacing the cluster's)",
		"Pod/" + ns + "/web-canary": "behind Service " + ns + "/web (from the release, " + rel + ":25, replacing the cluster's) with the pods of Deployment " + ns + "/web",
		"Namespace//" + ns: "the release deploys Deployment " + ns + "/web into it" +
			"; Rollout " + ns + "/web takes its pod template from Deployment " + ns + "/web (" + rel + ":1)" +
			"; Rollout " + ns + "/api takes its pod template from Deployment " + ns + "/api in the cluster" +
			"; NetworkPolicy " + ns + "/web-ingress from the release (" + rel + ":41) selects the pods of Deployment " + ns + "/web, Rollout " + ns + "/web (Ingress)",
	} {
		if reasons[id] != want {
			t.Errorf("%s: reason\n%q\nwant\n%q", id, reasons[id], want)
		}
	}
	if r.Other["Secret"] != 1 || len(r.Other) != 1 {
		t.Errorf("ignored kinds %v, want the Secret only", r.Other)
	}
	// The images include the cluster's Deployment api's.
	var images []string
	for _, im := range r.Images {
		images = append(images, im.Ref)
	}
	if strings.Join(images, " ") != "registry.example/api:1 registry.example/web:2" {
		t.Errorf("images %q", images)
	}

	// pulsegate correlate prints the same, for a person and as JSON.
	text, stderr, code := run(t, "correlate", "--release", rel, "--kubeconfig", s.Kubeconfig, "--context", "pulsegate-test")
	if code != 0 {
		t.Fatalf("correlate: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		fmt.Sprintf("network-neighbour  Service        %s/web: selects the pods of Deployment %[1]s/web (from the release, %s:25, replacing the cluster's) [exposed: LoadBalancer via Service %[1]s/web]", ns, rel),
		fmt.Sprintf("eligible-node      Node           %s: new pods of Rollout %s/api can be scheduled here", nAPI, ns),
		fmt.Sprintf("Rollout %s/api takes its pod template from Deployment %[1]s/api in the cluster", ns),
		fmt.Sprintf("NetworkPolicy %s/web-ingress from the release", ns),
		"\nIgnored (kinds correlation does not use): 1 Secret\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text output lacks %q:\n%s", want, text)
		}
	}
	js, stderr, code := run(t, "correlate", "--release", rel, "--kubeconfig", s.Kubeconfig, "--context", "pulsegate-test", "-o", "json")
	if code != 0 || !strings.Contains(js, `"network_policies": [`) || !strings.Contains(js, `"ignored_kinds": {`) {
		t.Errorf("JSON output (exit %d, %s):\n%s", code, stderr, js)
	}

	// Without the cluster's Deployment api, the Rollout is an error that
	// names it, its file and line and the Deployment: a usage error.
	if err := c.AppsV1().Deployments(ns).Delete(ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = run(t, "correlate", "--release", rel, "--kubeconfig", s.Kubeconfig, "--context", "pulsegate-test")
	if want := rel + ":19: Rollout " + ns + "/api: spec.workloadRef names Deployment " + ns + "/api, which is neither in the release nor in the cluster"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}
