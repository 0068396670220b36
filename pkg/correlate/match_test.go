package correlate

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

const (
	cidAPI   = "0c7919ec6ab0fd1e0de02511d79fd35e815af0ef967e1ae0393f5a1d32e28bbd"
	cidOther = "8a5aec43e62f71a36c788c954b22f85cb2552fdbf5df1292705354cfc30379fb"
	cidTool  = "2cdb7399da8d182fbdba14d987e9a3de339a50a1b1f6f811c6b31c520a8ff973"
)

// matchCluster: the release (Deployment shop/api, pool=general) replaces
// api-1 on n1 and can also land on n3. n2 (pool=data) is not a target; it
// runs another team's pod in the same namespace.
func matchCluster(t *testing.T) (*LandingSet, *inventory.Inventory) {
	t.Helper()
	inv := cluster{
		namespaces: []*corev1.Namespace{namespace("shop"), namespace("ops")},
		nodes: []*corev1.Node{
			node("n1", nodeLabels("pool", "general")),
			node("n2", nodeLabels("pool", "data")),
			node("n3", nodeLabels("pool", "general")),
		},
		rss: []*appsv1.ReplicaSet{replicaSet("shop", "api-7d9", "api"), replicaSet("shop", "other-5c4", "other")},
		pods: []*corev1.Pod{
			pod("shop", "api-7d9-1", "n1", podLabels("app", "api"), ownedBy("ReplicaSet", "api-7d9"), containerID(cidAPI)),
			pod("shop", "other-5c4-1", "n2", podLabels("app", "other"), ownedBy("ReplicaSet", "other-5c4"), containerID(cidOther)),
			pod("ops", "tool-1", "n1", podLabels("app", "tool"), containerID(cidTool)),
		},
	}.inventory()
	ls := correlate(t, rel(workload("Deployment", "shop", "api", nodeSelector("pool", "general"))), inv)
	var ids []string
	for _, tg := range ls.Targets {
		ids = append(ids, tg.ID())
	}
	want := "Pod/shop/api-7d9-1 Node//n1 Node//n3 Namespace//shop ServiceAccount/shop/default"
	if strings.Join(ids, " ") != want {
		t.Fatalf("landing set %v, want %s", ids, want)
	}
	return ls, inv
}

func TestMatcherTargets(t *testing.T) {
	ls, inv := matchCluster(t)
	m := NewMatcher(ls, inv, "prod")
	idx := map[string]int{}
	for i, tg := range ls.Targets {
		idx[tg.ID()] = i
	}
	tests := []struct {
		name  string
		asset signal.Asset
		want  []string // "target-id via"
	}{
		{"pod: the pod and its node", signal.Asset{Namespace: "shop", Pod: "api-7d9-1"},
			[]string{"Pod/shop/api-7d9-1 pod", "Node//n1 pod on node"}},
		{"pod with its node", signal.Asset{Cluster: "prod", Node: "n1", Namespace: "shop", Pod: "api-7d9-1", Container: "api"},
			[]string{"Pod/shop/api-7d9-1 pod", "Node//n1 pod on node"}},
		{"container id only", signal.Asset{ContainerID: cidAPI},
			[]string{"Pod/shop/api-7d9-1 pod", "Node//n1 pod on node"}},
		{"12-char container id (Falco)", signal.Asset{ContainerID: cidAPI[:12]},
			[]string{"Pod/shop/api-7d9-1 pod", "Node//n1 pod on node"}},
		{"container id with runtime prefix", signal.Asset{ContainerID: "containerd://" + cidAPI},
			[]string{"Pod/shop/api-7d9-1 pod", "Node//n1 pod on node"}},
		{"container id and node", signal.Asset{Node: "n1", ContainerID: cidAPI[:12]},
			[]string{"Pod/shop/api-7d9-1 pod", "Node//n1 pod on node"}},
		{"node only: current node", signal.Asset{Node: "n1"}, []string{"Node//n1 node"}},
		{"node only: eligible node", signal.Asset{Cluster: "prod", Node: "n3"}, []string{"Node//n3 node"}},
		{"node only: not a target", signal.Asset{Node: "n2"}, nil},
		{"unknown pod on a target node", signal.Asset{Node: "n1", Namespace: "shop", Pod: "ghost"}, []string{"Node//n1 container on node"}},
		{"unknown container on a target node", signal.Asset{Node: "n3", ContainerID: strings.Repeat("e", 64)}, []string{"Node//n3 container on node"}},
		{"another namespace's pod on a target node", signal.Asset{Namespace: "ops", Pod: "tool-1"}, []string{"Node//n1 pod on node"}},
		{"namespace only", signal.Asset{Namespace: "shop"}, []string{"Namespace//shop namespace"}},
		{"object in the namespace", signal.Asset{Cluster: "prod", Namespace: "shop", Resource: "secrets/db-password"}, []string{"Namespace//shop namespace"}},
		{"workload in the namespace", signal.Asset{Namespace: "shop", WorkloadKind: "Deployment", Workload: "other"}, []string{"Namespace//shop namespace"}},
		{"another namespace", signal.Asset{Namespace: "ops", Resource: "secrets/x"}, nil},
		// Another team's pod in the release's namespace, on a node the
		// release does not touch: not the release's concern.
		{"other team's pod in the namespace", signal.Asset{Namespace: "shop", Pod: "other-5c4-1"}, nil},
		{"other team's pod with its node", signal.Asset{Node: "n2", Namespace: "shop", Pod: "other-5c4-1"}, nil},
		{"other team's container id", signal.Asset{ContainerID: cidOther}, nil},
		{"unknown container id in the namespace", signal.Asset{Namespace: "shop", ContainerID: strings.Repeat("f", 64)}, nil},
		// The signal says the pod runs elsewhere than the inventory does:
		// the pod matches, the node it names is no target.
		{"pod on a node the inventory disagrees with", signal.Asset{Node: "n2", Namespace: "shop", Pod: "api-7d9-1"}, []string{"Pod/shop/api-7d9-1 pod"}},
		{"another cluster", signal.Asset{Cluster: "staging", Namespace: "shop", Pod: "api-7d9-1"}, nil},
		{"another cluster, node", signal.Asset{Cluster: "staging", Node: "n1"}, nil},
		{"another cluster, namespace", signal.Asset{Cluster: "staging", Namespace: "shop"}, nil},
		{"nothing", signal.Asset{}, nil},
		{"cloud resource", signal.Asset{CloudResource: "arn:aws:s3:::bucket"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &signal.Signal{Asset: tt.asset}
			var got []string
			last := -1
			for _, mt := range m.Targets(s) {
				got = append(got, ls.Targets[mt.Target].ID()+" "+mt.Via)
				if mt.Target <= last {
					t.Errorf("matches not in target order or repeated: %v", got)
				}
				last = mt.Target
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("matches = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatcherCluster(t *testing.T) {
	ls, inv := matchCluster(t)
	s := &signal.Signal{Asset: signal.Asset{Cluster: "staging", Node: "n1"}}
	if got := NewMatcher(ls, inv, "").Targets(s); len(got) != 1 {
		t.Errorf("a matcher without a cluster ignores the signal's: got %v", got)
	}
	if got := NewMatcher(ls, inv, "prod").Targets(s); len(got) != 0 {
		t.Errorf("signal of another cluster matched: %v", got)
	}
	s.Asset.Cluster = ""
	if got := NewMatcher(ls, inv, "prod").Targets(s); len(got) != 1 {
		t.Errorf("a signal without a cluster is taken to be the release's: got %v", got)
	}
}

func TestMatcherWithoutInventory(t *testing.T) {
	ls, _ := matchCluster(t)
	m := NewMatcher(ls, nil, "")
	tests := []struct {
		asset signal.Asset
		want  int
	}{
		{signal.Asset{Namespace: "shop", Pod: "api-7d9-1"}, 1}, // the pod; its node unknown
		{signal.Asset{ContainerID: cidAPI}, 0},
		{signal.Asset{Node: "n1"}, 1},
		{signal.Asset{Namespace: "shop"}, 1},
	}
	for _, tt := range tests {
		if got := m.Targets(&signal.Signal{Asset: tt.asset}); len(got) != tt.want {
			t.Errorf("%v: %d matches, want %d", tt.asset, len(got), tt.want)
		}
	}
}

func TestMatchAll(t *testing.T) {
	ls, inv := matchCluster(t)
	sigs := []signal.Signal{
		{ID: "a", Asset: signal.Asset{Namespace: "shop", Pod: "api-7d9-1"}},
		{ID: "b", Asset: signal.Asset{Node: "n2"}},
		{ID: "c", Asset: signal.Asset{Node: "n3"}},
		{ID: "d", Asset: signal.Asset{Namespace: "shop"}},
	}
	var got []string
	for _, mt := range NewMatcher(ls, inv, "").MatchAll(sigs) {
		got = append(got, fmt.Sprintf("%s>%s", sigs[mt.Signal].ID, ls.Targets[mt.Target].ID()))
	}
	want := "a>Pod/shop/api-7d9-1 a>Node//n1 c>Node//n3 d>Namespace//shop"
	if strings.Join(got, " ") != want {
		t.Errorf("MatchAll = %v, want %s", got, want)
	}
	if got := NewMatcher(ls, inv, "").MatchAll(nil); len(got) != 0 {
		t.Errorf("MatchAll(nil) = %v", got)
	}
}

// TestMatcherDemo: on the demo, the compromised node ip-10-0-2-22 concerns
// the payments release and not the storefront one (examples/demo/README
// and the comments in its releases say so).
func TestMatcherDemo(t *testing.T) {
	inv, err := inventory.Load("../../examples/demo/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	s := &signal.Signal{Asset: signal.Asset{Cluster: "prod-eu-1", Node: "ip-10-0-2-22"}}
	for _, tt := range []struct {
		release string
		want    bool
	}{{"payments-api.yaml", true}, {"storefront-web.yaml", false}} {
		r, err := release.Load("../../examples/demo/releases/"+tt.release, release.Options{Cluster: "prod-eu-1"})
		if err != nil {
			t.Fatal(err)
		}
		ls := correlate(t, r, inv)
		if got := len(NewMatcher(ls, inv, r.Cluster).Targets(s)) > 0; got != tt.want {
			t.Errorf("%s: node ip-10-0-2-22 matched = %v, want %v", tt.release, got, tt.want)
		}
	}
}
