package correlate_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

func readyNode(name string, lbl map[string]string) *corev1.Node {
	l := map[string]string{corev1.LabelHostname: name}
	for k, v := range lbl {
		l[k] = v
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func runningPod(ns, name, node string, lbl map[string]string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbl},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
}

func svc(ns, name string, typ corev1.ServiceType, sel map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{Type: typ, Selector: sel}}
}

func webRelease(mod func(*release.Workload)) *release.Release {
	w := release.Workload{Kind: "Deployment", Name: "web", Namespace: "shop",
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}}}
	if mod != nil {
		mod(&w)
	}
	return &release.Release{Workloads: []release.Workload{w}}
}

func byID(ls *correlate.LandingSet) map[string]correlate.Target {
	m := map[string]correlate.Target{}
	for _, t := range ls.Targets {
		m[t.ID()] = t
	}
	return m
}

func TestNeighboursAndExposure(t *testing.T) {
	inv := inventory.New()
	inv.Nodes["n1"] = readyNode("n1", nil)
	inv.Pods = []*corev1.Pod{
		runningPod("shop", "web-1", "n1", map[string]string{"app": "web", "tier": "front"}, corev1.PodRunning),
		runningPod("shop", "cart-1", "n1", map[string]string{"app": "cart", "tier": "front"}, corev1.PodRunning),
		runningPod("shop", "cart-old", "n1", map[string]string{"app": "cart", "tier": "front"}, corev1.PodSucceeded),
		runningPod("shop", "db-1", "n1", map[string]string{"app": "db", "tier": "back"}, corev1.PodRunning),
		runningPod("other", "front-1", "n1", map[string]string{"app": "x", "tier": "front"}, corev1.PodRunning),
	}
	lb := svc("shop", "front", corev1.ServiceTypeLoadBalancer, map[string]string{"tier": "front"})
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}
	np := svc("shop", "web-np", corev1.ServiceTypeNodePort, map[string]string{"app": "web"})
	np.Spec.ExternalIPs = []string{"203.0.113.7"}
	inv.Services = []*corev1.Service{
		lb, np,
		svc("shop", "db", corev1.ServiceTypeClusterIP, map[string]string{"tier": "back"}),
		svc("shop", "manual", corev1.ServiceTypeClusterIP, nil), // no selector: endpoints by hand
		svc("other", "front", corev1.ServiceTypeLoadBalancer, map[string]string{"tier": "front"}),
	}
	inv.Ingresses = []*networkingv1.Ingress{{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "shop"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "front"}}}}}}}}}}}
	inv.Index()
	ls, err := correlate.Correlate(webRelease(nil), inv)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(ls)
	web := got["Pod/shop/web-1"]
	if web.Relation != correlate.ReplacedPod {
		t.Fatalf("web-1: %+v", web)
	}
	if n := len(web.Exposure); n != 4 {
		t.Errorf("web-1 exposure %+v, want LoadBalancer, Ingress, NodePort, ExternalIP", web.Exposure)
	}
	cart := got["Pod/shop/cart-1"]
	if cart.Relation != correlate.NetworkNeighbour || !strings.Contains(cart.Reason, "Service shop/front") {
		t.Errorf("cart-1: %+v", cart)
	}
	if len(cart.Exposure) != 2 || cart.Exposure[0].Type != "LoadBalancer" || cart.Exposure[0].Hosts[0] != "lb.example.com" ||
		cart.Exposure[1].Type != "Ingress" || cart.Exposure[1].Hosts[0] != "shop.example.com" {
		t.Errorf("cart-1 exposure %+v", cart.Exposure)
	}
	for _, id := range []string{"Service/shop/front", "Service/shop/web-np"} {
		if got[id].Relation != correlate.NetworkNeighbour {
			t.Errorf("%s: %+v", id, got[id])
		}
	}
	for _, id := range []string{"Pod/shop/cart-old", "Pod/shop/db-1", "Service/shop/db", "Service/shop/manual", "Pod/other/front-1", "Service/other/front"} {
		if _, ok := got[id]; ok {
			t.Errorf("%s is a target", id)
		}
	}
}

// A selector on the per-node hostname label is checked node by node, not
// once per group of look-alike nodes.
func TestHostnameSelector(t *testing.T) {
	inv := inventory.New()
	for _, n := range []string{"n1", "n2", "n3"} {
		inv.Nodes[n] = readyNode(n, map[string]string{"pool": "a"})
	}
	inv.Index()
	rel := webRelease(func(w *release.Workload) {
		w.Template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "n2"}
	})
	rel.Workloads = append(rel.Workloads, release.Workload{Kind: "Deployment", Name: "api", Namespace: "shop",
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": "a"}}}})
	ls, err := correlate.Correlate(rel, inv)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(ls)
	if w := got["Node//n2"].Workloads; len(w) != 2 {
		t.Errorf("n2 workloads %v", w)
	}
	for _, n := range []string{"n1", "n3"} {
		if w := got["Node//"+n].Workloads; len(w) != 1 || w[0] != "Deployment shop/api" {
			t.Errorf("%s workloads %v", n, w)
		}
	}
	if len(ls.Excluded) != 2 || ls.Excluded[0].Workload != "Deployment shop/web" {
		t.Errorf("excluded %+v", ls.Excluded)
	}
}

func TestSensitivityMapping(t *testing.T) {
	s, err := correlate.ParseSensitivity([]byte("rules:\n  - key: compliance\n    values: [PCI]\n    level: high\n  - key: owner\n    level: low\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		labels, annotations map[string]string
		want                string
	}{
		{map[string]string{"compliance": "pci"}, nil, "high"},
		{nil, map[string]string{"compliance": "PCI"}, "high"},
		{map[string]string{"owner": "anyone"}, nil, "low"},
		{map[string]string{"owner": "x", "compliance": "pci"}, nil, "high"},
		{map[string]string{"tier": "prod"}, nil, ""}, // the built-in rules are replaced
	}
	for _, tc := range tests {
		if got := s.Of(tc.labels, tc.annotations); got != tc.want {
			t.Errorf("Of(%v, %v) = %q, want %q", tc.labels, tc.annotations, got, tc.want)
		}
	}
	if got := correlate.DefaultSensitivity().Of(map[string]string{"tier": "staging", "env": "production"}, nil); got != "high" {
		t.Errorf("default: highest level wins, got %q", got)
	}

	inv := inventory.New()
	inv.Namespaces["shop"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{"compliance": "pci"}}}
	inv.Index()
	ls, err := correlate.Correlate(webRelease(nil), inv, correlate.WithSensitivity(s))
	if err != nil {
		t.Fatal(err)
	}
	if got := byID(ls)["Namespace//shop"].Sensitivity; got != "high" {
		t.Errorf("namespace sensitivity %q", got)
	}
	if _, err := correlate.Correlate(webRelease(nil), inv, correlate.WithSensitivity(nil)); err == nil {
		t.Error("WithSensitivity(nil): no error")
	}

	for doc, want := range map[string]string{
		"rules:\n  - key: a\n    level: high\n    colour: red\n": "line 4",
		"rules:\n  - level: high\n":                              `missing key "key"`,
		"rules:\n  - key: a\n    level: severe\n":                `level "severe"`,
	} {
		if _, err := correlate.ParseSensitivity([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}

func FuzzParseSensitivity(f *testing.F) {
	f.Add([]byte("rules:\n  - key: a\n    values: [x]\n    level: high\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := correlate.ParseSensitivity(b)
		if err == nil {
			_ = s.Of(map[string]string{"a": "x"}, nil)
		}
	})
}
