package correlate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/tasks/correlate"
	kubetest "github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) { kubetest.Main(m, nil) }

func suffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// scene is a small cluster on the real API server: five nodes of one pool
// (ready, tainted, cordoned, NotReady, and one of another pool), a
// Deployment with a ReplicaSet and two running pods, a canary Deployment
// whose pod sits behind the same LoadBalancer Service, and an Ingress.
type scene struct {
	id, ns, pool                              string
	ready, tainted, cordoned, down, elsewhere string
}

func buildScene(t *testing.T, s *kubetest.Server) scene {
	t.Helper()
	ctx := t.Context()
	id := suffix()
	sc := scene{id: id, ns: "corr-" + id, pool: "pool-" + id,
		ready: "n-ready-" + id, tainted: "n-tainted-" + id, cordoned: "n-cordoned-" + id, down: "n-down-" + id, elsewhere: "n-elsewhere-" + id}
	c := s.Client
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	node := func(name, pool string, mod func(*corev1.Node)) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"pool": pool, corev1.LabelHostname: name, corev1.LabelTopologyZone: "eu-1a"}}}
		if mod != nil {
			mod(n)
		}
		check(s.AddNode(ctx, n))
	}
	node(sc.ready, sc.pool, func(n *corev1.Node) { n.Labels["tier"] = "prod" })
	node(sc.tainted, sc.pool, func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	})
	node(sc.cordoned, sc.pool, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	node(sc.down, sc.pool, func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady"}}
	})
	node(sc.elsewhere, "other-"+id, nil)

	check(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sc.ns,
		Labels: map[string]string{"data-classification": "pii"}}}, metav1.CreateOptions{}))
	waitForDefaultSA(t, s, sc.ns)

	deployment := func(name string, lbl map[string]string) (*appsv1.Deployment, *appsv1.ReplicaSet) {
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": sc.pool}, Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}}}
		d, err := c.AppsV1().Deployments(sc.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: lbl}, Template: tmpl}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := c.AppsV1().ReplicaSets(sc.ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-7c9f8",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: new(true)}}},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: lbl}, Template: tmpl}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d, rs
	}
	runPod := func(rs *appsv1.ReplicaSet, name, node string) {
		check(s.RunPod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sc.ns, Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true)}}},
			Spec: corev1.PodSpec{NodeName: node, Containers: rs.Spec.Template.Spec.Containers}}))
	}
	_, webRS := deployment("web", map[string]string{"app": "web", "track": "stable"})
	runPod(webRS, "web-7c9f8-aaaaa", sc.ready)
	runPod(webRS, "web-7c9f8-bbbbb", sc.cordoned) // placed before the node was cordoned
	_, canaryRS := deployment("web-canary", map[string]string{"app": "web", "track": "canary"})
	runPod(canaryRS, "web-canary-7c9f8-ccccc", sc.tainted)
	_, otherRS := deployment("billing", map[string]string{"app": "billing"})
	runPod(otherRS, "billing-7c9f8-ddddd", sc.ready)

	check(c.CoreV1().Services(sc.ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}))
	check(c.CoreV1().Services(sc.ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "billing"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "billing"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}))
	prefix := networkingv1.PathTypePrefix
	check(c.NetworkingV1().Ingresses(sc.ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}},
		metav1.CreateOptions{}))
	return sc
}

// waitForDefaultSA waits for the harness to create the namespace's default
// ServiceAccount.
func waitForDefaultSA(t *testing.T, s *kubetest.Server, ns string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if _, err := s.Client.CoreV1().ServiceAccounts(ns).Get(t.Context(), "default", metav1.GetOptions{}); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no default ServiceAccount in %s", ns)
}

// release writes the release: a new version of web, and a DaemonSet.
func (sc scene) release(t *testing.T) string {
	t.Helper()
	body := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: web, track: stable}}
  template:
    metadata: {labels: {app: web, track: stable}}
    spec:
      nodeSelector: {pool: %[2]s}
      containers: [{name: app, image: "registry.example/web:2"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {pool: %[2]s}
      containers: [{name: agent, image: "registry.example/agent@sha256:%064d"}]
`, sc.ns, sc.pool, 0)
	p := filepath.Join(t.TempDir(), "release.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mine keeps the targets and exclusions that belong to the scene.
func (sc scene) mine(r *correlate.Results) ([]string, []string) {
	var targets, excluded []string
	for _, t := range r.Targets {
		if t.Namespace == sc.ns || strings.HasSuffix(t.Name, sc.id) {
			s := fmt.Sprintf("%s %s %s/%s %v", t.Relation, t.Kind, t.Namespace, t.Name, t.Workloads)
			if t.Sensitivity != "" {
				s += " sensitivity=" + t.Sensitivity
			}
			for _, e := range t.Exposure {
				s += " " + e.Type + ":" + e.Via + strings.Join(e.Hosts, ",")
			}
			targets = append(targets, s)
		}
	}
	for _, e := range r.Excluded {
		if strings.HasSuffix(e.Name, sc.id) {
			excluded = append(excluded, fmt.Sprintf("%s: %s %v", e.Name, e.Reason, e.Workloads))
		}
	}
	return targets, excluded
}

func TestLandingSetOnRealAPIServer(t *testing.T) {
	s := kubetest.Shared(t)
	sc := buildScene(t, s)
	rel := sc.release(t)

	// The snapshot, taken through the informers and written as a file.
	inv, err := inventory.FromCluster(t.Context(), s.Config, inventory.LiveOptions{SyncTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snapshot.json")
	f, err := os.Create(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.WriteList(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fromSnapshot, err := correlate.Run(t.Context(), correlate.Params{Release: rel, Inventory: snap}, correlate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	// The same cluster, live, through a kubeconfig context.
	live, err := correlate.Run(t.Context(), correlate.Params{Release: rel, Contexts: []string{"pulsegate-test"}, Kubeconfig: s.Kubeconfig}, correlate.Env{})
	if err != nil {
		t.Fatal(err)
	}

	web, agent := "Deployment "+sc.ns+"/web", "DaemonSet "+sc.ns+"/agent"
	both := fmt.Sprintf("[%s %s]", agent, web)
	wantTargets := []string{
		fmt.Sprintf("replaced-pod Pod %s/web-7c9f8-aaaaa [%s] LoadBalancer:Service %s/web Ingress:Ingress %s/shopshop.example.com", sc.ns, web, sc.ns, sc.ns),
		fmt.Sprintf("replaced-pod Pod %s/web-7c9f8-bbbbb [%s] LoadBalancer:Service %s/web Ingress:Ingress %s/shopshop.example.com", sc.ns, web, sc.ns, sc.ns),
		fmt.Sprintf("current-node Node /%s %s", sc.cordoned, both),
		fmt.Sprintf("current-node Node /%s %s sensitivity=high", sc.ready, both),
		fmt.Sprintf("eligible-node Node /%s [%s]", sc.down, agent),
		fmt.Sprintf("namespace Namespace /%s %s sensitivity=high", sc.ns, both),
		fmt.Sprintf("service-account ServiceAccount %s/default %s", sc.ns, both),
		fmt.Sprintf("network-neighbour Pod %s/web-canary-7c9f8-ccccc [%s] LoadBalancer:Service %s/web Ingress:Ingress %s/shopshop.example.com", sc.ns, web, sc.ns, sc.ns),
		fmt.Sprintf("network-neighbour Service %s/web [%s] LoadBalancer:Service %s/web Ingress:Ingress %s/shopshop.example.com", sc.ns, web, sc.ns, sc.ns),
	}
	wantExcluded := []string{
		fmt.Sprintf("%s: cordoned (unschedulable) [%s]", sc.cordoned, web),
		fmt.Sprintf("%s: not Ready [%s]", sc.down, web),
		fmt.Sprintf("%s: nodeSelector or required node affinity does not match %s", sc.elsewhere, both),
		fmt.Sprintf("%s: taint dedicated=gpu:NoSchedule not tolerated %s", sc.tainted, both),
	}
	for name, r := range map[string]*correlate.Results{"snapshot": fromSnapshot, "live": live} {
		targets, excluded := sc.mine(r)
		if !reflect.DeepEqual(targets, wantTargets) {
			t.Errorf("%s: targets\n%s\nwant\n%s", name, strings.Join(targets, "\n"), strings.Join(wantTargets, "\n"))
		}
		sort.Strings(excluded)
		if !reflect.DeepEqual(excluded, wantExcluded) {
			t.Errorf("%s: excluded\n%s\nwant\n%s", name, strings.Join(excluded, "\n"), strings.Join(wantExcluded, "\n"))
		}
	}
	// The whole landing sets agree, not just the scene's part.
	if !reflect.DeepEqual(fromSnapshot.Targets, live.Targets) || !reflect.DeepEqual(fromSnapshot.Excluded, live.Excluded) {
		t.Error("the live landing set differs from the snapshot's")
	}
	if fromSnapshot.Clusters[0].Inventory != inv.Digest {
		t.Errorf("snapshot digest %s, inventory %s", fromSnapshot.Clusters[0].Inventory, inv.Digest)
	}
	if live.Clusters[0].Name != "pulsegate-test" || live.Clusters[0].Context != "pulsegate-test" {
		t.Errorf("live cluster %+v", live.Clusters[0])
	}
}

// Two contexts give one landing set per cluster, each target naming its
// cluster.
func TestSeveralContexts(t *testing.T) {
	s := kubetest.Shared(t)
	sc := buildScene(t, s)
	kc := filepath.Join(t.TempDir(), "config")
	body, err := os.ReadFile(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// A second context with its own cluster entry, same server.
	second := strings.Replace(string(body), "contexts:\n", "contexts:\n- context:\n    cluster: pulsegate-test\n    namespace: "+sc.ns+"\n    user: pulsegate-test\n  name: second\n", 1)
	if err := os.WriteFile(kc, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := correlate.Run(t.Context(), correlate.Params{Release: sc.release(t), Contexts: []string{"pulsegate-test", "second"}, Kubeconfig: kc}, correlate.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clusters) != 2 || len(r.LandingSets()) != 2 {
		t.Fatalf("clusters %+v", r.Clusters)
	}
	for _, tg := range r.Targets {
		if tg.Cluster != "pulsegate-test" {
			t.Fatalf("target %s names cluster %q", tg.ID(), tg.Cluster)
		}
	}
	if n := len(r.Targets); n != len(r.LandingSets()[0].Targets)+len(r.LandingSets()[1].Targets) {
		t.Errorf("%d targets", n)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	for name, p := range map[string]correlate.Params{
		"no release":   {Inventory: "x.json"},
		"no inventory": {Release: "r.yaml"},
		"both":         {Release: "r.yaml", Inventory: "x.json", Contexts: []string{"a"}},
		"two stdins":   {Release: "-", Inventory: "-"},
		"twice":        {Release: "../../examples/demo/releases/payments-api.yaml", Contexts: []string{"a", "a"}},
	} {
		if _, err := correlate.Run(ctx, p, correlate.Env{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
