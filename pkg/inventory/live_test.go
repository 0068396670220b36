package inventory_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/kube"
	kubetest "github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) { kubetest.Main(m, nil) }

func suffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fixture is a small cluster made in a fresh namespace: a node, a
// Deployment with its ReplicaSet and two running pods, a Service, an
// Ingress, a CronJob with a Job and its pod, and a ServiceAccount.
type fixture struct {
	ns, node, deploy, rs string
}

func makeFixture(t *testing.T, s *kubetest.Server) fixture {
	t.Helper()
	ctx := t.Context()
	id := suffix()
	f := fixture{ns: "inv-" + id, node: "inv-node-" + id, deploy: "api", rs: "api-5d4f8"}
	c := s.Client
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns, Labels: map[string]string{"tier": "prod"}}}, metav1.CreateOptions{}))
	must(s.AddNode(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.node, Labels: map[string]string{"pool": "inv"}}}))
	labels := map[string]string{"app": "api"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1.0"}}},
	}
	d, err := c.AppsV1().Deployments(f.ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: f.deploy, Namespace: f.ns,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"big":"blob"}`, "team": "payments"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.AppsV1().ReplicaSets(f.ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: f.rs, Namespace: f.ns,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: new(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api-5d4f8-aaaaa", "api-5d4f8-bbbbb"} {
		must(s.RunPod(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true)}}},
			Spec: corev1.PodSpec{NodeName: f.node, Containers: tmpl.Spec.Containers},
		}))
	}
	must(c.CoreV1().Services(f.ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: f.ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}))
	must(c.NetworkingV1().Ingresses(f.ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: f.ns},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "api", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}, metav1.CreateOptions{}))
	cj, err := c.BatchV1().CronJobs(f.ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: f.ns},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: tmpl.Spec.Containers}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	must(c.BatchV1().Jobs(f.ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-290000", Namespace: f.ns,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: new(true)}}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: tmpl.Spec.Containers}}},
	}, metav1.CreateOptions{}))
	must(c.CoreV1().ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "api"}}, metav1.CreateOptions{}))
	return f
}

func TestFromCluster(t *testing.T) {
	s := kubetest.Shared(t)
	f := makeFixture(t, s)
	inv, err := inventory.FromCluster(t.Context(), s.Config, inventory.LiveOptions{Cluster: "test", SyncTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Cluster != "test" {
		t.Errorf("cluster %q", inv.Cluster)
	}
	if inv.Namespaces[f.ns] == nil || inv.Nodes[f.node] == nil {
		t.Fatalf("namespace %s or node %s missing", f.ns, f.node)
	}
	if !inventory.NodeReady(inv.Nodes[f.node]) {
		t.Errorf("node %s not Ready", f.node)
	}
	pods := inv.PodsInNamespace(f.ns)
	if len(pods) != 2 || pods[0].Name != "api-5d4f8-aaaaa" {
		t.Fatalf("pods in %s: %d", f.ns, len(pods))
	}
	if k, n := inv.Controller(pods[0]); k != "Deployment" || n != f.deploy {
		t.Errorf("controller of %s: %s %s, want Deployment %s", pods[0].Name, k, n, f.deploy)
	}
	if got := len(inv.PodsOnNode(f.node)); got != 2 {
		t.Errorf("pods on %s: %d", f.node, got)
	}
	count := func(n int, what string) {
		t.Helper()
		if n == 0 {
			t.Errorf("no %s", what)
		}
	}
	var deploy *appsv1.Deployment
	for _, d := range inv.Deployments {
		if d.Namespace == f.ns {
			deploy = d
		}
	}
	if deploy == nil {
		t.Fatal("deployment missing")
	}
	if len(deploy.ManagedFields) != 0 || deploy.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" || deploy.Annotations["team"] != "payments" {
		t.Errorf("managed fields or last-applied kept, or annotations lost: %v %v", deploy.ManagedFields, deploy.Annotations)
	}
	count(len(inv.ReplicaSets), "replicasets")
	count(len(inv.Jobs), "jobs")
	count(len(inv.CronJobs), "cronjobs")
	count(len(inv.Services), "services")
	count(len(inv.Ingresses), "ingresses")
	count(len(inv.ServiceAccounts), "serviceaccounts")
	if !strings.HasPrefix(inv.Digest, "sha256:") {
		t.Errorf("digest %q", inv.Digest)
	}
}

// The snapshot a live inventory writes reads back into the same inventory:
// writing it again gives the same bytes, and the digests agree.
func TestSnapshotRoundTrip(t *testing.T) {
	s := kubetest.Shared(t)
	makeFixture(t, s)
	live, err := inventory.FromCluster(t.Context(), s.Config, inventory.LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	if err := live.WriteList(&first); err != nil {
		t.Fatal(err)
	}
	parsed, err := inventory.Parse(first.Bytes(), "snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := parsed.WriteList(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("snapshot changed on a round trip:\n%s\n---\n%s", first.Bytes(), second.Bytes())
	}
	if live.Digest != parsed.Digest {
		t.Errorf("digest live %s, parsed %s", live.Digest, parsed.Digest)
	}
	if len(parsed.Skipped) != 0 {
		t.Errorf("skipped kinds %v", parsed.Skipped)
	}
	if len(parsed.Pods) != len(live.Pods) || len(parsed.Nodes) != len(live.Nodes) {
		t.Errorf("pods %d/%d nodes %d/%d", len(parsed.Pods), len(live.Pods), len(parsed.Nodes), len(live.Nodes))
	}
}

// rbacObjects reads catalog/rbac/inventory-reader.yaml.
func rbacObjects(t *testing.T) (*rbacv1.ClusterRole, *corev1.ServiceAccount, *rbacv1.ClusterRoleBinding) {
	t.Helper()
	objs, err := kube.ReadPath("../../catalog/rbac/inventory-reader.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	var sa corev1.ServiceAccount
	var binding rbacv1.ClusterRoleBinding
	seen := map[string]bool{}
	for _, o := range objs {
		var err error
		switch o.Kind {
		case "ClusterRole":
			err = o.Decode(&role)
		case "ServiceAccount":
			err = o.Decode(&sa)
		case "ClusterRoleBinding":
			err = o.Decode(&binding)
		default:
			t.Fatalf("%s: unexpected kind %s", o.Where(), o.Kind)
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[o.Kind] = true
	}
	if len(seen) != 3 {
		t.Fatalf("want a ClusterRole, a ServiceAccount and a ClusterRoleBinding, got %v", seen)
	}
	return &role, &sa, &binding
}

// The ClusterRole grants get, list and watch on exactly the inventory's
// resources: no wildcards, nothing else.
func TestInventoryReaderRoleIsMinimal(t *testing.T) {
	role, _, _ := rbacObjects(t)
	want := map[string]bool{}
	for _, k := range inventory.Kinds {
		group, _, ok := strings.Cut(k.APIVersion, "/")
		if !ok {
			group = ""
		}
		want[group+"/"+k.Resource] = true
	}
	got := map[string]bool{}
	for _, r := range role.Rules {
		if strings.Join(r.Verbs, ",") != "get,list,watch" {
			t.Errorf("rule %v: verbs %v, want get, list, watch", r.Resources, r.Verbs)
		}
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %v: resourceNames or nonResourceURLs", r.Resources)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == "*" || res == "*" || strings.Contains(res, "/") {
					t.Errorf("wildcard or subresource %q/%q", g, res)
				}
				got[g+"/"+res] = true
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("role lacks %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("role grants %s, which the inventory does not read", k)
		}
	}
}

// With only the shipped role, the ServiceAccount takes a snapshot and is
// forbidden to write; without it, the error names the resources and what
// to grant.
func TestInventoryReaderRBAC(t *testing.T) {
	s := kubetest.Shared(t)
	ctx := t.Context()
	f := makeFixture(t, s)
	role, sa, binding := rbacObjects(t)
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sa.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, err := range []error{
		ignoreExists(s.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})),
		ignoreExists(s.Client.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{})),
		ignoreExists(s.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := s.ServiceAccountConfig(ctx, sa.Namespace, sa.Name)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.FromCluster(ctx, cfg, inventory.LiveOptions{SyncTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("snapshot with the inventory-reader role: %v", err)
	}
	if len(inv.PodsInNamespace(f.ns)) != 2 {
		t.Errorf("pods in %s: %d", f.ns, len(inv.PodsInNamespace(f.ns)))
	}

	c := clientFor(t, cfg)
	writes := map[string]error{
		"create pod": ignoreResult(c.CoreV1().Pods(f.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "evil"},
			Spec: corev1.PodSpec{NodeName: f.node, Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})),
		"delete deployment": c.AppsV1().Deployments(f.ns).Delete(ctx, f.deploy, metav1.DeleteOptions{}),
		"cordon node": ignoreResult(c.CoreV1().Nodes().Patch(ctx, f.node, "application/merge-patch+json",
			[]byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})),
		"read secrets": ignoreResult(c.CoreV1().Secrets(f.ns).List(ctx, metav1.ListOptions{})),
	}
	for what, err := range writes {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as the inventory reader: %v, want 403 Forbidden", what, err)
		}
	}

	// A user without the role: the error names the resources and the fix,
	// well before the sync timeout.
	nobody, err := s.UserConfig(kubetest.NobodyUser)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = inventory.FromCluster(ctx, nobody, inventory.LiveOptions{SyncTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("nobody took a snapshot")
	}
	for _, want := range []string{"list pods: forbidden", "list nodes: forbidden", "list ingresses: forbidden", "inventory-reader.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("a 403 took %s to report", d)
	}
}

func TestFromClusterTimeout(t *testing.T) {
	// A server that never answers: the error names the resources that did
	// not sync and says it timed out.
	cfg := &rest.Config{Host: "https://127.0.0.1:1", Timeout: time.Second}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := inventory.FromCluster(ctx, cfg, inventory.LiveOptions{SyncTimeout: 1500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out after 1.5s") || !strings.Contains(err.Error(), "list nodes") {
		t.Errorf("got %v", err)
	}
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ignoreExists(_ any, err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func ignoreResult(_ any, err error) error { return err }
