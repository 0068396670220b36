package correlate

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/release"
)

// keyOf must tell pods apart exactly as their IDs do, '/' in names too.
func TestKeyOfLikeID(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, r.IntN(4))
		for i := range b {
			b[i] = "a/-"[r.IntN(3)]
		}
		return string(b)
	}
	for range 100000 {
		ns1, n1, ns2, n2 := word(), word(), word(), word()
		sameID := (Target{Kind: "Pod", Namespace: ns1, Name: n1}).ID() == (Target{Kind: "Pod", Namespace: ns2, Name: n2}).ID()
		if sameKey := keyOf(ns1, n1) == keyOf(ns2, n2); sameKey != sameID {
			t.Fatalf("keyOf(%q, %q) == keyOf(%q, %q) is %v, the IDs' equality %v", ns1, n1, ns2, n2, sameKey, sameID)
		}
	}
}

// Pods whose IDs are the same ("a/b" + "c" and "a" + "b/c", and the
// latter twice in the inventory) are one target, as they were when targets
// were keyed by ID: want is what the builder before the rewrite for speed
// (commit 4a2011b) gave.
func TestSlashedAndDuplicatePods(t *testing.T) {
	mk := func(ns, name string, kv ...string) *corev1.Pod { return pod(ns, name, "n1", podLabels(kv...)) }
	c := cluster{
		nodes: []*corev1.Node{node("n1")},
		pods:  []*corev1.Pod{mk("a/b", "c", "app", "web"), mk("a", "b/c", "app", "web"), mk("a", "b/c", "app", "web", "x", "1"), mk("a", "d", "app", "web")},
	}
	inv := c.inventory()
	inv.Services = []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Type: corev1.ServiceTypeNodePort}}}
	inv.Index()
	web := workload("Deployment", "a", "web")
	web.Template.Spec.Containers = nil
	bare := func(ns, name string) release.Workload {
		return release.Workload{Kind: "Pod", Namespace: ns, Name: name}
	}
	ls, err := Correlate(rel(bare("a/b", "c"), web, bare("a", "d")), inv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(ls)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"targets":[{"kind":"Pod","name":"c","namespace":"a/b","relation":"replaced-pod","reason":"running pod of Pod a/b/c that the release replaces","workloads":["Deployment a/web","Pod a/b/c"],"exposure":[{"type":"NodePort","via":"Service a/s"}]},{"kind":"Pod","name":"d","namespace":"a","relation":"replaced-pod","reason":"running pod of Deployment a/web that the release replaces","workloads":["Deployment a/web","Pod a/d"],"exposure":[{"type":"NodePort","via":"Service a/s"}]},{"kind":"Node","name":"n1","relation":"current-node","reason":"runs a/b/c of Pod a/b/c","workloads":["Deployment a/web","Pod a/b/c","Pod a/d"]},{"kind":"Namespace","name":"a","relation":"namespace","reason":"the release deploys Deployment a/web into it","workloads":["Deployment a/web","Pod a/d"]},{"kind":"Namespace","name":"a/b","relation":"namespace","reason":"the release deploys Pod a/b/c into it","workloads":["Pod a/b/c"]},{"kind":"ServiceAccount","name":"default","namespace":"a/b","relation":"service-account","reason":"Pod a/b/c runs as this ServiceAccount","workloads":["Pod a/b/c"]},{"kind":"ServiceAccount","name":"default","namespace":"a","relation":"service-account","reason":"Deployment a/web runs as this ServiceAccount","workloads":["Deployment a/web","Pod a/d"]},{"kind":"Service","name":"s","namespace":"a","relation":"network-neighbour","reason":"selects the pods of Deployment a/web","workloads":["Deployment a/web","Pod a/d"],"exposure":[{"type":"NodePort","via":"Service a/s"}]}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
