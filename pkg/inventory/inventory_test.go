package inventory

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const demo = "../../examples/demo/inventory.json"

func load(t testing.TB, path string) *Inventory {
	t.Helper()
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestLoadDemo(t *testing.T) {
	inv := load(t, demo)
	// Counts from the JSON itself: collections.Counter(i["kind"] for i in
	// items) in Python; digest from sha256sum.
	got := map[string]int{
		"Namespace": len(inv.Namespaces), "Node": len(inv.Nodes), "Pod": len(inv.Pods),
		"ReplicaSet": len(inv.ReplicaSets), "Deployment": len(inv.Deployments),
		"StatefulSet": len(inv.StatefulSets), "DaemonSet": len(inv.DaemonSets),
		"Job": len(inv.Jobs), "CronJob": len(inv.CronJobs), "Service": len(inv.Services),
		"Ingress": len(inv.Ingresses), "ServiceAccount": len(inv.ServiceAccounts),
	}
	want := map[string]int{
		"Namespace": 6, "Node": 7, "Pod": 29, "ReplicaSet": 7, "Deployment": 7, "StatefulSet": 1,
		"DaemonSet": 2, "Job": 0, "CronJob": 0, "Service": 3, "Ingress": 0, "ServiceAccount": 5,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if len(inv.Skipped) != 0 {
		t.Errorf("Skipped = %v", inv.Skipped)
	}
	if wantDigest := "sha256:c5f8ba97e740a8bd31fca853254160c4f6c5169e0b747bfa843f17bdc33a5d55"; inv.Digest != wantDigest {
		t.Errorf("Digest = %s, want %s", inv.Digest, wantDigest)
	}
	wantNodes := []string{"ip-10-0-1-11", "ip-10-0-1-12", "ip-10-0-1-13", "ip-10-0-1-14", "ip-10-0-2-21", "ip-10-0-2-22", "ip-10-0-3-31"}
	if !slices.Equal(inv.NodeNames(), wantNodes) {
		t.Errorf("NodeNames() = %v", inv.NodeNames())
	}
	var onNode []string
	for _, p := range inv.PodsOnNode("ip-10-0-2-22") {
		onNode = append(onNode, p.Namespace+"/"+p.Name)
	}
	wantOnNode := []string{
		"falco/falco-aebdd", "kube-system/tetragon-fc67f",
		"payments/payments-api-97f14d5c70-ce58f", "payments/payments-worker-49d077277b-090c6",
	}
	if !slices.Equal(onNode, wantOnNode) {
		t.Errorf("PodsOnNode(ip-10-0-2-22) = %v, want %v", onNode, wantOnNode)
	}
	p := inv.Pod("payments", "payments-api-97f14d5c70-ce58f")
	if p == nil {
		t.Fatal("pod payments/payments-api-97f14d5c70-ce58f not found")
	}
	if k, n := inv.Controller(p); k != "Deployment" || n != "payments-api" {
		t.Errorf("Controller = %s %s, want Deployment payments-api", k, n)
	}
	if got := inv.PodByContainerID("2cdb7399da8d"); got != p {
		t.Errorf("PodByContainerID(short) = %v", got)
	}
	if k, n := inv.Controller(inv.Pod("falco", "falco-aebdd")); k != "DaemonSet" || n != "falco" {
		t.Errorf("Controller(falco pod) = %s %s", k, n)
	}
}

func TestControllerSmall(t *testing.T) {
	inv := load(t, "testdata/small.yaml")
	tests := []struct {
		pod        string
		kind, name string
	}{
		{"web-5d4f-x1", "Deployment", "web"},             // Pod -> ReplicaSet -> Deployment
		{"canary-6b7c-q", "Rollout", "canary"},           // Pod -> ReplicaSet -> argo Rollout
		{"orphan-1a2b-z", "ReplicaSet", "orphan-1a2b"},   // ReplicaSet without owner
		{"gone-9f8e-z", "ReplicaSet", "gone-9f8e"},       // ReplicaSet not in the snapshot
		{"nightly-29000000-abcde", "CronJob", "nightly"}, // Pod -> Job -> CronJob
		{"oneoff-fghij", "Job", "oneoff"},                // Job without owner
		{"adopted", "StatefulSet", "db"},                 // the controller ref, not the first ref
		{"bare", "Pod", "bare"},                          // only a non-controller owner
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			p := inv.Pod("shop", tt.pod)
			if p == nil {
				t.Fatalf("pod shop/%s not found", tt.pod)
			}
			if k, n := inv.Controller(p); k != tt.kind || n != tt.name {
				t.Errorf("Controller = %s %s, want %s %s", k, n, tt.kind, tt.name)
			}
		})
	}
	if k, n := inv.Controller(inv.Pod("ops", "agent-k")); k != "DaemonSet" || n != "agent" {
		t.Errorf("Controller(ops/agent-k) = %s %s", k, n)
	}
	// A pod owned by a Job in another namespace's name must not follow it.
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ops",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "nightly-29000000", Controller: ptr(true)}}}}
	if k, n := inv.Controller(other); k != "Job" || n != "nightly-29000000" {
		t.Errorf("Controller(pod in ops owned by job nightly-29000000) = %s %s: followed a Job of another namespace", k, n)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSmall(t *testing.T) {
	inv := load(t, "testdata/small.yaml")
	if len(inv.Pods) != 10 || len(inv.Nodes) != 3 || len(inv.ReplicaSets) != 3 || len(inv.Jobs) != 2 ||
		len(inv.CronJobs) != 1 || len(inv.Deployments) != 1 || len(inv.ServiceAccounts) != 1 || len(inv.Namespaces) != 1 {
		t.Errorf("counts: %d pods, %d nodes, %d rs, %d jobs, %d cronjobs, %d deployments, %d sa, %d ns",
			len(inv.Pods), len(inv.Nodes), len(inv.ReplicaSets), len(inv.Jobs), len(inv.CronJobs),
			len(inv.Deployments), len(inv.ServiceAccounts), len(inv.Namespaces))
	}
	if !reflect.DeepEqual(inv.Skipped, map[string]int{"ConfigMap": 1}) {
		t.Errorf("Skipped = %v", inv.Skipped)
	}
	if inv.Namespaces["shop"].Labels["env"] != "prod" {
		t.Error("namespace labels lost")
	}
	var names []string
	for _, p := range inv.Pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("Pods not sorted by namespace and name: %v", names)
	}
	if !slices.Equal(inv.NodeNames(), []string{"node-a", "node-b", "node-c"}) {
		t.Errorf("NodeNames() = %v", inv.NodeNames())
	}
	if got := podNames(inv.PodsOnNode("node-b")); !slices.Equal(got, []string{"ops/agent-k", "shop/web-5d4f-x1", "shop/web-5d4f-x2"}) {
		t.Errorf("PodsOnNode(node-b) = %v", got)
	}
	if got := podNames(inv.PodsOnNode("node-c")); len(got) != 0 {
		t.Errorf("PodsOnNode(node-c) = %v", got)
	}
	if got := podNames(inv.PodsOnNode("")); len(got) != 0 {
		t.Errorf("unscheduled pods are on node \"\": %v", got)
	}
	if got := podNames(inv.PodsInNamespace("ops")); !slices.Equal(got, []string{"ops/agent-k"}) {
		t.Errorf("PodsInNamespace(ops) = %v", got)
	}
	if inv.Pod("shop", "nope") != nil || inv.Pod("ops", "web-5d4f-x1") != nil {
		t.Error("Pod found a pod that is not there")
	}
}

func podNames(ps []*corev1.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

func TestPodByContainerID(t *testing.T) {
	inv := load(t, "testdata/small.yaml")
	const (
		x1   = "0c7919ec6ab0fd1e0de02511d79fd35e815af0ef967e1ae0393f5a1d32e28bbd"
		x2   = "8a5aec43e62f71a36c788c954b22f85cb2552fdbf5df1292705354cfc30379fb"
		init = "1111aaaa2222bbbb3333cccc4444dddd5555eeee6666ffff7777000088889999"
	)
	tests := []struct {
		name, id, want string
	}{
		{"full id", x1, "web-5d4f-x1"},
		{"12-char id (Falco)", x1[:12], "web-5d4f-x1"},
		{"containerd prefix", "containerd://" + x1, "web-5d4f-x1"},
		{"containerd prefix, short id", "containerd://" + x2[:12], "web-5d4f-x2"},
		{"init container, docker prefix", "docker://" + init, "web-5d4f-x1"},
		{"init container, short id", init[:12], "web-5d4f-x1"},
		{"other pod", x2, "web-5d4f-x2"},
		{"11 chars", x1[:11], ""},
		{"13 chars", x1[:13], ""},
		{"unknown", strings.Repeat("f", 64), ""},
		{"empty", "", ""},
		{"prefix only", "containerd://", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := inv.PodByContainerID(tt.id)
			got := ""
			if p != nil {
				got = p.Name
			}
			if got != tt.want {
				t.Errorf("PodByContainerID(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestContainerID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"containerd://abc", "abc"},
		{"docker://abc", "abc"},
		{"cri-o://abc", "abc"},
		{"abc", "abc"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ContainerID(tt.in); got != tt.want {
			t.Errorf("ContainerID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNodeReady(t *testing.T) {
	cond := func(cs ...corev1.NodeCondition) *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{Conditions: cs}}
	}
	tests := []struct {
		name string
		node *corev1.Node
		want bool
	}{
		{"ready", cond(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}), true},
		{"not ready", cond(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse}), false},
		{"unknown", cond(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}), false},
		{"no conditions", cond(), false},
		{"ready after other conditions", cond(
			corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue},
			corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}), true},
		{"only other conditions true", cond(corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeReady(tt.node); got != tt.want {
				t.Errorf("NodeReady = %v, want %v", got, tt.want)
			}
		})
	}
	inv := load(t, "testdata/small.yaml")
	if !NodeReady(inv.Nodes["node-b"]) || NodeReady(inv.Nodes["node-a"]) || NodeReady(inv.Nodes["node-c"]) {
		t.Error("NodeReady on the snapshot's nodes: want node-b only")
	}
}

// TestIndexAfterShuffle: the order of objects in the snapshot does not
// change the lookups.
func TestIndexAfterShuffle(t *testing.T) {
	inv := load(t, "testdata/small.yaml")
	want := podNames(inv.PodsOnNode("node-b"))
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		r.Shuffle(len(inv.Pods), func(i, j int) { inv.Pods[i], inv.Pods[j] = inv.Pods[j], inv.Pods[i] })
		inv.Index()
		if got := podNames(inv.PodsOnNode("node-b")); !slices.Equal(got, want) {
			t.Fatalf("after shuffle PodsOnNode = %v, want %v", got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"bad YAML", "kind: List\nitems: [\n", "inv.yaml:1: invalid YAML"},
		{"pod of the wrong shape", `{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n"}}, {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": 3}}]}`,
			"inv.yaml:1: Pod p: json: cannot unmarshal number"},
		{"node of the wrong shape", "kind: Node\nmetadata:\n  name: node1\nspec:\n  taints: {}\n", "inv.yaml:1: Node node1: json: cannot unmarshal object"},
		{"namespace of the wrong shape", "kind: Namespace\nmetadata:\n  name: ns1\n  labels: [a]\n", "inv.yaml:1: Namespace ns1: json: cannot unmarshal array"},
		{"metadata of the wrong shape", "kind: Namespace\nmetadata: []\n", "inv.yaml:1: not a Kubernetes object"},
		{"missing kind", "kind: Node\nmetadata: {name: n}\n---\nmetadata: {name: m}\n", `inv.yaml:4: missing field "kind"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse([]byte(tt.in), "inv.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if inv != nil {
				t.Error("an inventory came back with the error")
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "read inventory") {
		t.Errorf("Load(missing) error = %v", err)
	}
}

func TestParseEmpty(t *testing.T) {
	inv, err := Parse(nil, "empty.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Pods) != 0 || len(inv.NodeNames()) != 0 || inv.PodByContainerID("x") != nil || inv.Pod("a", "b") != nil {
		t.Error("an empty snapshot has content")
	}
	// sha256 of no bytes, from `sha256sum </dev/null`.
	if inv.Digest != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("Digest = %s", inv.Digest)
	}
}

// FuzzParse: snapshots are untrusted input. Parse never panics, and the
// lookups of what it returns agree with its slices.
func FuzzParse(f *testing.F) {
	for _, p := range []string{demo, "testdata/small.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"Pod","metadata":{"name":"p","ownerReferences":[{"kind":"ReplicaSet","name":"r","controller":true}]},"status":{"containerStatuses":[{"containerID":"://"}]}}`))
	f.Add([]byte(`{"kind":"ReplicaSet","metadata":{"name":"r","ownerReferences":[{"kind":"Deployment","controller":true}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		for _, p := range inv.Pods {
			inv.Controller(p)
			if inv.Pod(p.Namespace, p.Name) == nil {
				t.Errorf("pod %s/%s not found by name", p.Namespace, p.Name)
			}
			for _, q := range inv.PodsOnNode(p.Spec.NodeName) {
				if q.Spec.NodeName != p.Spec.NodeName {
					t.Errorf("PodsOnNode(%q) returned a pod on %q", p.Spec.NodeName, q.Spec.NodeName)
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				if id := ContainerID(cs.ContainerID); id != "" && inv.PodByContainerID(cs.ContainerID) == nil {
					t.Errorf("container %q of %s not found", cs.ContainerID, p.Name)
				}
			}
		}
		for _, n := range inv.NodeNames() {
			NodeReady(inv.Nodes[n])
		}
	})
}
