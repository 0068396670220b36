package correlate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/kube"
	"github.com/pulsegate/pulsegate/pkg/release"
)

const roDir = "testdata/release-objects/"

func loadReleaseObjects(t *testing.T) (*release.Release, *inventory.Inventory) {
	t.Helper()
	rel, err := release.Load(roDir+"release.yaml", release.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(roDir + "inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return rel, inv
}

// line is one target as the tests compare it.
func line(t correlate.Target) string {
	s := fmt.Sprintf("%s %s %s/%s %v: %s", t.Relation, t.Kind, t.Namespace, t.Name, t.Workloads, t.Reason)
	for _, e := range t.Exposure {
		s += fmt.Sprintf(" [%s via %s %v]", e.Type, e.Via, e.Hosts)
	}
	if len(t.NetworkPolicies) > 0 {
		s += fmt.Sprintf(" policies=%v", t.NetworkPolicies)
	}
	return s
}

// The landing set of testdata/release-objects, every target and reason
// worked out by hand from the two files' comments.
func TestReleaseObjects(t *testing.T) {
	rel, inv := loadReleaseObjects(t)
	ls, err := correlate.Correlate(rel, inv)
	if err != nil {
		t.Fatal(err)
	}
	const src = roDir + "release.yaml"
	web, rweb, rapi := "Deployment shop/web", "Rollout shop/web", "Rollout shop/api"
	webs := fmt.Sprintf("[%s %s]", web, rweb)
	// The release's LoadBalancer Service, the cluster's Ingress legacy
	// that routes to Service web, and the release's Ingress web.
	exposed := " [LoadBalancer via Service shop/web []] [Ingress via Ingress shop/legacy [old.shop.example.com]] [Ingress via Ingress shop/web [shop.example.com]]"
	want := []string{
		// The Rollout's running pod: its ReplicaSet is owned by Rollout
		// web, and Deployment web of the same name selects it too.
		"replaced-pod Pod shop/web-6c5f7-aaaaa " + webs + ": running pod of Deployment shop/web that the release replaces" + exposed,
		"current-node Node /n-web " + webs + ": runs shop/web-6c5f7-aaaaa of Deployment shop/web",
		// Rollout api lands where the cluster's Deployment api's template
		// allows (pool api), as its ServiceAccount.
		"eligible-node Node /n-api [" + rapi + "]: new pods of Rollout shop/api can be scheduled here",
		fmt.Sprintf("namespace Namespace /shop [%s %s %s]: the release deploys Deployment shop/web into it"+
			"; Rollout shop/web takes its pod template from Deployment shop/web (%s:1)"+
			"; Rollout shop/api takes its pod template from Deployment shop/api in the cluster"+
			"; NetworkPolicy shop/web-ingress from the release (%s:55) selects the pods of Deployment shop/web, Rollout shop/web (Ingress, Egress)"+
			" policies=[NetworkPolicy shop/web-ingress]", web, rapi, rweb, src, src),
		"service-account ServiceAccount shop/api [" + rapi + "]: Rollout shop/api runs as this ServiceAccount",
		"service-account ServiceAccount shop/default " + webs + ": Deployment shop/web runs as this ServiceAccount",
		// Behind both Services; Service metrics comes first by name.
		"network-neighbour Pod shop/web-canary-1 " + webs + ": behind Service shop/metrics with the pods of Deployment shop/web" + exposed,
		// The release's Ingress metrics replaced the cluster's, which
		// routed here: Service metrics is no longer exposed.
		"network-neighbour Service shop/metrics " + webs + ": selects the pods of Deployment shop/web",
		"network-neighbour Service shop/web " + webs + ": selects the pods of Deployment shop/web (from the release, " + src + ":32, replacing the cluster's)" + exposed,
	}
	var got []string
	for _, tg := range ls.Targets {
		got = append(got, line(tg))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// db-0 is behind no Service of the release's pods; NetworkPolicy
	// db-only selects none of them and is not recorded.
	for _, tg := range ls.Targets {
		if tg.Name == "db-0" || strings.Contains(tg.Reason, "db-only") {
			t.Errorf("unexpected %s", line(tg))
		}
	}
	if !reflect.DeepEqual(rel.Other, map[string]int{"ConfigMap": 1}) {
		t.Errorf("Other = %v: only the ConfigMap is unused", rel.Other)
	}
	// The release itself is left as it was: Rollout api still unresolved.
	if u := rel.Unresolved(); len(u) != 1 || u[0].Ref() != rapi {
		t.Errorf("Correlate changed the release: unresolved %+v", u)
	}
	b, err := json.Marshal(ls.Targets[3])
	if err != nil || !strings.Contains(string(b), `"network_policies":["NetworkPolicy shop/web-ingress"]`) {
		t.Errorf("namespace target JSON %s (%v)", b, err)
	}
}

// A Rollout whose Deployment is neither in the release nor in the cluster
// is an error naming the Rollout, its file and line and the Deployment.
func TestWorkloadRefMissing(t *testing.T) {
	rel, _ := loadReleaseObjects(t)
	_, err := correlate.Correlate(rel, inventory.New())
	want := roDir + "release.yaml:26: Rollout shop/api: spec.workloadRef names Deployment shop/api, which is neither in the release nor in the cluster"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// Each piece alone, on small hand-made clusters.
func TestReleaseObjectCases(t *testing.T) {
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}\n---\n"
	clusterSvc := svc("shop", "web", corev1.ServiceTypeClusterIP, map[string]string{"app": "web"})
	tests := []struct {
		name     string
		manifest string
		services []*corev1.Service
		want     []string // lines of the network-neighbour and namespace targets
	}{
		{"a NodePort Service of the release", deploy + "apiVersion: v1\nkind: Service\nmetadata: {name: web-np, namespace: shop}\nspec: {type: NodePort, selector: {app: web}}\n",
			nil, []string{
				"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it",
				"network-neighbour Service shop/web-np [Deployment shop/web]: selects the pods of Deployment shop/web (from the release, r.yaml:6) [NodePort via Service shop/web-np []]",
			}},
		{"a Service of the release that selects other pods", deploy + "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\nspec: {type: LoadBalancer, selector: {app: db}}\n",
			nil, []string{"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it"}},
		{"a Service of the release in another namespace", deploy + "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: other}\nspec: {type: LoadBalancer, selector: {app: web}}\n",
			[]*corev1.Service{clusterSvc}, []string{
				"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it",
				"network-neighbour Service shop/web [Deployment shop/web]: selects the pods of Deployment shop/web",
			}},
		{"a Service of the release that replaces one that selected the pods with one that does not", deploy + "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: web2}}\n",
			[]*corev1.Service{clusterSvc}, []string{"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it"}},
		{"a Service without a selector", deploy + "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\nspec: {type: LoadBalancer}\n",
			nil, []string{"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it"}},
		{"an Ingress of the release to a cluster Service", deploy + "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\nspec: {defaultBackend: {service: {name: web, port: {number: 80}}}}\n",
			[]*corev1.Service{clusterSvc}, []string{
				"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it",
				"network-neighbour Service shop/web [Deployment shop/web]: selects the pods of Deployment shop/web [Ingress via Ingress shop/web []]",
			}},
		{"a NetworkPolicy that selects every pod", deploy + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n",
			nil, []string{"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it; NetworkPolicy shop/deny from the release (r.yaml:6) selects the pods of Deployment shop/web (Egress) policies=[NetworkPolicy shop/deny]"}},
		{"a NetworkPolicy in another namespace", deploy + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: other}\nspec: {podSelector: {}}\n",
			nil, []string{"namespace Namespace /shop [Deployment shop/web]: the release deploys Deployment shop/web into it"}},
		{"a ReplicaSet as workloadRef", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-1, namespace: shop}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}\n---\n" +
			"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, namespace: shop}\nspec: {workloadRef: {apiVersion: apps/v1, kind: ReplicaSet, name: web-1}}\n",
			[]*corev1.Service{clusterSvc}, []string{
				"namespace Namespace /shop [ReplicaSet shop/web-1 Rollout shop/web]: the release deploys ReplicaSet shop/web-1 into it; Rollout shop/web takes its pod template from ReplicaSet shop/web-1 (r.yaml:1)",
				"network-neighbour Service shop/web [ReplicaSet shop/web-1 Rollout shop/web]: selects the pods of ReplicaSet shop/web-1",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := kube.Parse([]byte(tt.manifest), "r.yaml")
			if err != nil {
				t.Fatal(err)
			}
			rel, err := release.FromObjects(objs, release.Options{})
			if err != nil {
				t.Fatal(err)
			}
			inv := inventory.New()
			inv.Services = tt.services
			inv.Index()
			ls, err := correlate.Correlate(rel, inv)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tg := range ls.Targets {
				if tg.Relation == correlate.NetworkNeighbour || tg.Relation == correlate.Namespace {
					got = append(got, line(tg))
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// The same release and cluster give the same landing set every time (the
// release's Services and Ingresses are indexed through maps).
func TestReleaseObjectsDeterministic(t *testing.T) {
	rel, inv := loadReleaseObjects(t)
	first, err := correlate.Correlate(rel, inv)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(first)
	for range 20 {
		again, err := correlate.Correlate(rel, inv)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(again); string(a) != string(b) {
			t.Fatalf("not deterministic:\n%s\n%s", a, b)
		}
	}
}

// FuzzCorrelateRelease correlates untrusted release manifests (Services,
// Ingresses, NetworkPolicies, Rollouts with workloadRef among them) against
// the cluster of testdata/release-objects: no panics, and the same landing
// set twice.
func FuzzCorrelateRelease(f *testing.F) {
	objs, err := kube.ReadPath(roDir + "release.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, o := range objs {
		f.Add(o.JSON)
	}
	for _, file := range []string{roDir + "release.yaml", "../../examples/demo/releases/payments-api.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web, namespace: shop}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: shop}\nspec: {defaultBackend: {resource: {kind: X, name: y}}, rules: [{host: a}, {http: {paths: [{backend: {}}]}}]}\n"))
	f.Add([]byte("kind: Pod\napiVersion: v1\nmetadata: {name: p, namespace: shop, labels: {app: web}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: web}, externalIPs: [1.2.3.4], type: NodePort}\n"))
	inv, err := inventory.Load(roDir + "inventory.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := kube.Parse(data, "fuzz.yaml")
		rel, err := release.FromObjects(objs, release.Options{})
		if err != nil {
			return
		}
		a, errA := correlate.Correlate(rel, inv)
		b, errB := correlate.Correlate(rel, inv)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("errors differ: %v, %v", errA, errB)
		}
		if errA != nil {
			if !strings.Contains(errA.Error(), "fuzz.yaml:") {
				t.Errorf("error without file and line: %v", errA)
			}
			return
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("not deterministic:\n%s\n%s", ja, jb)
		}
	})
}
