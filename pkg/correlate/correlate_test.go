package correlate

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

func correlate(t testing.TB, r *release.Release, inv *inventory.Inventory) *LandingSet {
	t.Helper()
	ls, err := Correlate(r, inv)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func find(ls *LandingSet, kind, ns, name string) *Target {
	for i, t := range ls.Targets {
		if t.Kind == kind && t.Namespace == ns && t.Name == name {
			return &ls.Targets[i]
		}
	}
	return nil
}

// withoutRef drops " of <ref>" from a reason: whether a reason names the
// workload is a matter of wording, and Excluded names it anyway.
func withoutRef(reason, ref string) string { return strings.ReplaceAll(reason, " of "+ref, "") }

func excludedReason(ls *LandingSet, nodeName string) string {
	for _, e := range ls.Excluded {
		if e.Name == nodeName {
			return e.Reason
		}
	}
	return ""
}

// TestEligibility places one workload against one node. The expected
// outcomes follow the Kubernetes documentation ("Taints and Tolerations",
// "Assigning Pods to Nodes", "DaemonSet: Taints and tolerations").
func TestEligibility(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		wl   release.Workload
		// wantReason is the exclusion reason (a substring); empty means
		// the node is an eligible target.
		wantReason string
	}{
		{"ready node, no rules", node("n1"), workload("Deployment", "shop", "api"), ""},
		{"NoSchedule taint not tolerated", node("n1", taint("dedicated", "payments", corev1.TaintEffectNoSchedule)),
			workload("Deployment", "shop", "api"), "taint dedicated=payments:NoSchedule not tolerated"},
		{"NoExecute taint not tolerated", node("n1", taint("quarantine", "", corev1.TaintEffectNoExecute)),
			workload("Deployment", "shop", "api"), "taint quarantine=:NoExecute not tolerated"},
		{"PreferNoSchedule taint is no obstacle", node("n1", taint("spot", "true", corev1.TaintEffectPreferNoSchedule)),
			workload("Deployment", "shop", "api"), ""},
		{"taint tolerated with Equal", node("n1", taint("dedicated", "payments", corev1.TaintEffectNoSchedule)),
			workload("Deployment", "shop", "api", tolerate("dedicated", corev1.TolerationOpEqual, "payments", corev1.TaintEffectNoSchedule)), ""},
		{"taint tolerated with Exists, any effect", node("n1", taint("dedicated", "payments", corev1.TaintEffectNoExecute)),
			workload("Deployment", "shop", "api", tolerate("dedicated", corev1.TolerationOpExists, "", "")), ""},
		{"toleration with another value", node("n1", taint("dedicated", "payments", corev1.TaintEffectNoSchedule)),
			workload("Deployment", "shop", "api", tolerate("dedicated", corev1.TolerationOpEqual, "data", corev1.TaintEffectNoSchedule)),
			"taint dedicated=payments:NoSchedule not tolerated"},
		{"toleration of another effect", node("n1", taint("dedicated", "payments", corev1.TaintEffectNoExecute)),
			workload("Deployment", "shop", "api", tolerate("dedicated", corev1.TolerationOpEqual, "payments", corev1.TaintEffectNoSchedule)),
			"taint dedicated=payments:NoExecute not tolerated"},
		{"one of two taints not tolerated", node("n1", taint("a", "1", corev1.TaintEffectNoSchedule), taint("b", "2", corev1.TaintEffectNoSchedule)),
			workload("Deployment", "shop", "api", tolerate("a", corev1.TolerationOpExists, "", "")), "taint b=2:NoSchedule not tolerated"},
		{"nodeSelector matches", node("n1", nodeLabels("pool", "payments")), workload("Deployment", "shop", "api", nodeSelector("pool", "payments")), ""},
		{"nodeSelector does not match", node("n1", nodeLabels("pool", "general")), workload("Deployment", "shop", "api", nodeSelector("pool", "payments")),
			"nodeSelector or required node affinity does not match"},
		{"nodeSelector label missing", node("n1"), workload("Deployment", "shop", "api", nodeSelector("pool", "payments")), "does not match"},
		{"required affinity In matches", node("n1", nodeLabels("zone", "z2")),
			workload("Deployment", "shop", "api", requireNode("zone", corev1.NodeSelectorOpIn, "z1", "z2")), ""},
		{"required affinity In does not match", node("n1", nodeLabels("zone", "z3")),
			workload("Deployment", "shop", "api", requireNode("zone", corev1.NodeSelectorOpIn, "z1", "z2")), "does not match"},
		{"required affinity NotIn", node("n1", nodeLabels("zone", "z1")),
			workload("Deployment", "shop", "api", requireNode("zone", corev1.NodeSelectorOpNotIn, "z1")), "does not match"},
		{"required affinity DoesNotExist", node("n1", nodeLabels("gpu", "a100")),
			workload("Deployment", "shop", "api", requireNode("gpu", corev1.NodeSelectorOpDoesNotExist)), "does not match"},
		{"required affinity with a bad operator", node("n1"),
			workload("Deployment", "shop", "api", requireNode("zone", "Near", "z1")), "node affinity: "},
		{"preferred affinity only is no obstacle", node("n1", nodeLabels("zone", "z3")),
			workload("Deployment", "shop", "api", preferNode("zone", "z1")), ""},
		{"cordoned", node("n1", cordoned()), workload("Deployment", "shop", "api"), "cordoned (unschedulable)"},
		{"cordoned without the taint", node("n1", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			workload("Deployment", "shop", "api"), "cordoned (unschedulable)"},
		{"cordoned and not matching: the selector is named", node("n1", cordoned(), nodeLabels("pool", "a")),
			workload("Deployment", "shop", "api", nodeSelector("pool", "b")), "does not match"},
		{"cordoned, DaemonSet", node("n1", cordoned()), workload("DaemonSet", "shop", "api"), ""},
		{"not Ready", node("n1", notReady()), workload("Deployment", "shop", "api"), "not Ready"},
		{"no Ready condition", node("n1", noConditions()), workload("StatefulSet", "shop", "api"), "not Ready"},
		{"not Ready, DaemonSet", node("n1", notReady(), taint(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoExecute)),
			workload("DaemonSet", "shop", "api"), ""},
		{"DaemonSet still needs to tolerate other taints", node("n1", taint("dedicated", "x", corev1.TaintEffectNoSchedule)),
			workload("DaemonSet", "shop", "api"), "taint dedicated=x:NoSchedule not tolerated"},
		{"DaemonSet still honours its nodeSelector", node("n1", cordoned(), nodeLabels("pool", "a")),
			workload("DaemonSet", "shop", "api", nodeSelector("pool", "b")), "does not match"},
		{"CronJob", node("n1", taint("dedicated", "x", corev1.TaintEffectNoSchedule)), workload("CronJob", "shop", "api"), "not tolerated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := cluster{nodes: []*corev1.Node{tt.node}}.inventory()
			ls := correlate(t, rel(tt.wl), inv)
			target := find(ls, "Node", "", "n1")
			reason := excludedReason(ls, "n1")
			if tt.wantReason == "" {
				if target == nil || target.Relation != EligibleNode {
					t.Fatalf("n1 is not an eligible node target; excluded because %q", reason)
				}
				if reason != "" {
					t.Errorf("n1 is a target and also excluded (%q)", reason)
				}
				if want := "new pods of " + tt.wl.Ref() + " can be scheduled here"; target.Reason != want {
					t.Errorf("Reason = %q, want %q", target.Reason, want)
				}
				return
			}
			if target != nil {
				t.Fatalf("n1 is a target (%s), want it excluded because %q", target.Reason, tt.wantReason)
			}
			if !strings.Contains(withoutRef(reason, tt.wl.Ref()), tt.wantReason) {
				t.Errorf("exclusion reason = %q, want one containing %q", reason, tt.wantReason)
			}
			if len(ls.Excluded) != 1 || ls.Excluded[0].Kind != "Node" || ls.Excluded[0].Workload != tt.wl.Ref() {
				t.Errorf("Excluded = %+v", ls.Excluded)
			}
		})
	}
}

func TestSpecNodeName(t *testing.T) {
	inv := cluster{nodes: []*corev1.Node{node("n1"), node("n2", cordoned()), node("n3")}}.inventory()
	tests := []struct {
		name       string
		wl         release.Workload
		wantNodes  []string
		wantReason string
	}{
		{"pod bound to a node", workload("Pod", "shop", "debug", nodeName("n3")), []string{"n3"}, ""},
		// spec.nodeName bypasses the scheduler, cordon included.
		{"pod bound to a cordoned node", workload("Pod", "shop", "debug", nodeName("n2")), []string{"n2"}, ""},
		{"pod bound to a node that does not exist", workload("Pod", "shop", "debug", nodeName("n9")), nil,
			"spec.nodeName names a node that is not in the inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := correlate(t, rel(tt.wl), inv)
			var nodes []string
			for _, tg := range ls.Targets {
				if tg.Kind == "Node" {
					nodes = append(nodes, tg.Name)
					if tg.Reason != "spec.nodeName of "+tt.wl.Ref() {
						t.Errorf("Reason = %q", tg.Reason)
					}
				}
			}
			if !slices.Equal(nodes, tt.wantNodes) {
				t.Errorf("node targets = %v, want %v", nodes, tt.wantNodes)
			}
			if tt.wantReason != "" && (len(ls.Excluded) != 1 || ls.Excluded[0].Reason != tt.wantReason) {
				t.Errorf("Excluded = %+v, want one with reason %q", ls.Excluded, tt.wantReason)
			}
			if tt.wantReason == "" && len(ls.Excluded) != 0 {
				t.Errorf("Excluded = %+v, want none", ls.Excluded)
			}
		})
	}
}

// replacedCluster has the owner chains replacedPods follows.
func replacedCluster() cluster {
	return cluster{
		namespaces: []*corev1.Namespace{namespace("shop", "tier", "prod"), namespace("ops")},
		nodes:      []*corev1.Node{node("n1"), node("n2"), node("n3", nodeLabels("env", "production"))},
		rss: []*appsv1.ReplicaSet{
			replicaSet("shop", "web-5d4f", "web"),
			replicaSet("shop", "web-canary-77aa", "web-canary"),
		},
		jobs: []*batchv1.Job{job("shop", "nightly-29000001", "nightly")},
		pods: []*corev1.Pod{
			pod("shop", "web-5d4f-a", "n1", podLabels("app", "web"), ownedBy("ReplicaSet", "web-5d4f")),
			pod("shop", "web-5d4f-b", "n2", podLabels("app", "web"), ownedBy("ReplicaSet", "web-5d4f")),
			pod("shop", "web-5d4f-done", "n2", podLabels("app", "web"), ownedBy("ReplicaSet", "web-5d4f"), phase(corev1.PodSucceeded)),
			pod("shop", "web-5d4f-failed", "n2", podLabels("app", "web"), ownedBy("ReplicaSet", "web-5d4f"), phase(corev1.PodFailed)),
			// Another Deployment whose pods carry the same label.
			pod("shop", "web-canary-77aa-c", "n3", podLabels("app", "web"), ownedBy("ReplicaSet", "web-canary-77aa")),
			// A ReplicaSet of web that the snapshot lacks: found by selector and name.
			pod("shop", "web-9e8d-d", "n3", podLabels("app", "web"), ownedBy("ReplicaSet", "web-9e8d")),
			// A pod without an owner that the selector picks up.
			pod("shop", "web-manual", "", podLabels("app", "web")),
			// Same label, other namespace.
			pod("ops", "web-5d4f-x", "n1", podLabels("app", "web"), ownedBy("ReplicaSet", "web-5d4f")),
			pod("shop", "db-0", "n1", podLabels("app", "db"), ownedBy("StatefulSet", "db")),
			pod("shop", "db-1", "n2", podLabels("app", "db"), ownedBy("StatefulSet", "db")),
			pod("shop", "nightly-29000001-q", "n2", podLabels("app", "nightly"), ownedBy("Job", "nightly-29000001")),
			pod("shop", "debug", "n3"),
		},
	}
}

func TestReplacedPods(t *testing.T) {
	inv := replacedCluster().inventory()
	tests := []struct {
		name     string
		wl       release.Workload
		wantPods []string
		// wantCurrent are the nodes that run them.
		wantCurrent []string
	}{
		{"Deployment through ReplicaSet, by owner and by selector", workload("Deployment", "shop", "web"),
			[]string{"web-5d4f-a", "web-5d4f-b", "web-9e8d-d", "web-manual"}, []string{"n1", "n2", "n3"}},
		{"Deployment without a selector: owner chain only", workload("Deployment", "shop", "web", func(w *release.Workload) { w.Selector = nil }),
			[]string{"web-5d4f-a", "web-5d4f-b"}, []string{"n1", "n2"}},
		{"the other Deployment", workload("Deployment", "shop", "web-canary", selectLabels("app", "web")),
			[]string{"web-canary-77aa-c", "web-manual"}, []string{"n3"}},
		{"StatefulSet", workload("StatefulSet", "shop", "db"), []string{"db-0", "db-1"}, []string{"n1", "n2"}},
		{"CronJob through its Job", workload("CronJob", "shop", "nightly"), []string{"nightly-29000001-q"}, []string{"n2"}},
		{"bare Pod by name", workload("Pod", "shop", "debug"), []string{"debug"}, []string{"n3"}},
		{"bare Pod not running yet", workload("Pod", "shop", "new"), nil, nil},
		{"nothing running", workload("Deployment", "shop", "brand-new"), nil, nil},
		{"empty selector selects nothing", workload("Deployment", "shop", "other", selectLabels()), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := correlate(t, rel(tt.wl), inv)
			var pods, current []string
			for _, tg := range ls.Targets {
				switch tg.Relation {
				case ReplacedPod:
					if tg.Kind != "Pod" || tg.Namespace != tt.wl.Namespace {
						t.Errorf("replaced target %s", tg.ID())
					}
					pods = append(pods, tg.Name)
					if want := "running pod of " + tt.wl.Ref() + " that the release replaces"; tg.Reason != want {
						t.Errorf("Reason = %q, want %q", tg.Reason, want)
					}
				case CurrentNode:
					current = append(current, tg.Name)
				}
				if !slices.Equal(tg.Workloads, []string{tt.wl.Ref()}) {
					t.Errorf("%s: Workloads = %v", tg, tg.Workloads)
				}
			}
			if !slices.Equal(pods, tt.wantPods) {
				t.Errorf("replaced pods = %v, want %v", pods, tt.wantPods)
			}
			if !slices.Equal(current, tt.wantCurrent) {
				t.Errorf("current nodes = %v, want %v", current, tt.wantCurrent)
			}
		})
	}
}

func TestBadSelector(t *testing.T) {
	inv := replacedCluster().inventory()
	w := workload("Deployment", "shop", "web")
	w.Source = "rel.yaml:7"
	w.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}
	_, err := Correlate(rel(w), inv)
	if err == nil || !strings.HasPrefix(err.Error(), "rel.yaml:7: Deployment shop/web: spec.selector: ") {
		t.Errorf("error = %v, want one naming the manifest and the selector", err)
	}
}

func TestNamespaceAndServiceAccount(t *testing.T) {
	inv := replacedCluster().inventory()
	ls := correlate(t, rel(
		workload("Deployment", "shop", "web", serviceAccount("web")),
		workload("StatefulSet", "shop", "db"),
		workload("Deployment", "ops", "tool"),
		workload("Deployment", "new-ns", "x", serviceAccount("x")),
	), inv)
	type tgt struct{ id, sensitivity, workloads string }
	var got []tgt
	for _, tg := range ls.Targets {
		if tg.Kind == "Namespace" || tg.Kind == "ServiceAccount" {
			got = append(got, tgt{tg.ID(), tg.Sensitivity, strings.Join(tg.Workloads, ",")})
		}
	}
	want := []tgt{
		{"Namespace//new-ns", "", "Deployment new-ns/x"},
		{"Namespace//ops", "", "Deployment ops/tool"},
		{"Namespace//shop", "high", "Deployment shop/web,StatefulSet shop/db"},
		{"ServiceAccount/new-ns/x", "", "Deployment new-ns/x"},
		{"ServiceAccount/ops/default", "", "Deployment ops/tool"},
		{"ServiceAccount/shop/default", "", "StatefulSet shop/db"},
		{"ServiceAccount/shop/web", "", "Deployment shop/web"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("namespace and service account targets:\n got %v\nwant %v", got, want)
	}
	ns := find(ls, "Namespace", "", "shop")
	if ns.Relation != Namespace || !strings.HasPrefix(ns.Reason, "the release deploys ") {
		t.Errorf("namespace target %+v", ns)
	}
	if sa := find(ls, "ServiceAccount", "shop", "web"); sa.Relation != ServiceAccount || sa.Reason != "Deployment shop/web runs as this ServiceAccount" {
		t.Errorf("service account target %+v", sa)
	}
}

func TestSensitivity(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"data-classification": "PII"}, "high"},
		{map[string]string{"data-classification": "restricted"}, "high"},
		{map[string]string{"tier": "prod"}, "high"},
		{map[string]string{"env": "Production"}, "high"},
		{map[string]string{"environment": "staging"}, "medium"},
		{map[string]string{"env": "dev"}, ""},
		{map[string]string{"data-classification": "public", "tier": "staging"}, "medium"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := sensitivity(tt.labels); got != tt.want {
			t.Errorf("sensitivity(%v) = %q, want %q", tt.labels, got, tt.want)
		}
	}
}

// TestNodeSensitivityKept: a node labelled as production is high
// sensitivity whether it comes in as the current node of a replaced pod or
// as an eligible node, and whatever the workload order.
func TestNodeSensitivityKept(t *testing.T) {
	inv := replacedCluster().inventory()
	a := workload("Deployment", "shop", "web-canary", selectLabels("app", "web")) // its pod runs on n3
	b := workload("Deployment", "shop", "brand-new")                              // n3 only eligible
	for _, order := range [][]release.Workload{{a}, {a, b}, {b, a}} {
		ls := correlate(t, rel(order...), inv)
		n3 := find(ls, "Node", "", "n3")
		if n3 == nil || n3.Relation != CurrentNode {
			t.Fatalf("n3 = %+v, want a current node", n3)
		}
		if n3.Sensitivity != "high" {
			t.Errorf("workloads %d: n3 (env=production) sensitivity = %q, want high", len(order), n3.Sensitivity)
		}
	}
}

func TestDemo(t *testing.T) {
	inv, err := inventory.Load("../../examples/demo/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		release  string
		targets  []string // "relation ID sensitivity"
		excluded []string // "node: reason"
	}{
		{
			// From the demo's inventory: pool=payments nodes carry the
			// dedicated=payments taint the release tolerates; its three pods
			// run on ip-10-0-2-21 (two) and ip-10-0-2-22 (one).
			release: "payments-api.yaml",
			targets: []string{
				"replaced-pod Pod/payments/payments-api-97f14d5c70-3ca6c ",
				"replaced-pod Pod/payments/payments-api-97f14d5c70-a15d5 ",
				"replaced-pod Pod/payments/payments-api-97f14d5c70-ce58f ",
				"current-node Node//ip-10-0-2-21 ",
				"current-node Node//ip-10-0-2-22 ",
				"namespace Namespace//payments high",
				"service-account ServiceAccount/payments/payments-api ",
			},
			excluded: []string{
				"ip-10-0-1-11: nodeSelector or required node affinity does not match",
				"ip-10-0-1-12: nodeSelector or required node affinity does not match",
				"ip-10-0-1-13: nodeSelector or required node affinity does not match",
				"ip-10-0-1-14: nodeSelector or required node affinity does not match",
				"ip-10-0-3-31: nodeSelector or required node affinity does not match",
			},
		},
		{
			// pool=general: ip-10-0-1-11..14, of which 14 is cordoned.
			release: "storefront-web.yaml",
			targets: []string{
				"replaced-pod Pod/storefront/web-2473389d06-7c682 ",
				"replaced-pod Pod/storefront/web-2473389d06-ba264 ",
				"replaced-pod Pod/storefront/web-2473389d06-bf514 ",
				"current-node Node//ip-10-0-1-11 ",
				"current-node Node//ip-10-0-1-12 ",
				"current-node Node//ip-10-0-1-13 ",
				"namespace Namespace//storefront high",
				"service-account ServiceAccount/storefront/default ",
			},
			excluded: []string{
				"ip-10-0-1-14: cordoned (unschedulable)",
				"ip-10-0-2-21: nodeSelector or required node affinity does not match",
				"ip-10-0-2-22: nodeSelector or required node affinity does not match",
				"ip-10-0-3-31: nodeSelector or required node affinity does not match",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			r, err := release.Load("../../examples/demo/releases/"+tt.release, release.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ls := correlate(t, r, inv)
			var got, exc []string
			for _, tg := range ls.Targets {
				if tg.Relation == "network-neighbour" {
					continue // Services and their pods: not this test's subject
				}
				got = append(got, string(tg.Relation)+" "+tg.ID()+" "+tg.Sensitivity)
			}
			for _, e := range ls.Excluded {
				exc = append(exc, e.Name+": "+withoutRef(e.Reason, r.Workloads[0].Ref()))
			}
			if !slices.Equal(got, tt.targets) {
				t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.targets, "\n"))
			}
			if !slices.Equal(exc, tt.excluded) {
				t.Errorf("excluded:\n%s\nwant:\n%s", strings.Join(exc, "\n"), strings.Join(tt.excluded, "\n"))
			}
		})
	}
}

// TestDeterministic shuffles the inventory's objects and the release's
// workloads: the landing set stays the same.
func TestDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for iter := range 30 {
		c := genCluster(r, 12, 80)
		rl := genRelease(r, 4)
		want, err := Correlate(rl, c.inventory())
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			shuffled := c
			shuffled.nodes = shuffledCopy(r, c.nodes)
			shuffled.pods = shuffledCopy(r, c.pods)
			shuffled.rss = shuffledCopy(r, c.rss)
			shuffled.jobs = shuffledCopy(r, c.jobs)
			got, err := Correlate(rl, shuffled.inventory())
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(got, want); d != "" {
				t.Fatalf("iteration %d: the inventory's order changed the landing set: %s", iter, d)
			}
			// Workload order is manifest order; it may change a target's
			// Reason (the first workload to bring it in names it), nothing
			// else.
			rl2 := &release.Release{Workloads: shuffledCopy(r, rl.Workloads)}
			got, err = Correlate(rl2, c.inventory())
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(withoutReasons(got), withoutReasons(want)); d != "" {
				t.Fatalf("iteration %d: the workloads' order changed the landing set: %s", iter, d)
			}
		}
	}
}

// diff describes the first difference between two landing sets, or "".
func diff(got, want *LandingSet) string {
	for i := 0; i < max(len(got.Targets), len(want.Targets)); i++ {
		switch {
		case i >= len(got.Targets):
			return fmt.Sprintf("target %d missing: want %s", i, dump(want.Targets[i]))
		case i >= len(want.Targets):
			return fmt.Sprintf("extra target %d: %s", i, dump(got.Targets[i]))
		case !reflect.DeepEqual(got.Targets[i], want.Targets[i]):
			return fmt.Sprintf("target %d:\n got %s\nwant %s", i, dump(got.Targets[i]), dump(want.Targets[i]))
		}
	}
	for i := 0; i < max(len(got.Excluded), len(want.Excluded)); i++ {
		switch {
		case i >= len(got.Excluded):
			return fmt.Sprintf("excluded %d missing: want %+v", i, want.Excluded[i])
		case i >= len(want.Excluded):
			return fmt.Sprintf("extra excluded %d: %+v", i, got.Excluded[i])
		case !reflect.DeepEqual(got.Excluded[i], want.Excluded[i]):
			return fmt.Sprintf("excluded %d:\n got %+v\nwant %+v", i, got.Excluded[i], want.Excluded[i])
		}
	}
	return ""
}

// dump shows every field of a target (its String method shows two).
func dump(t Target) string {
	type plain Target
	return fmt.Sprintf("%+v", plain(t))
}

func shuffledCopy[T any](r *rand.Rand, s []T) []T {
	out := slices.Clone(s)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func withoutReasons(ls *LandingSet) *LandingSet {
	out := &LandingSet{Targets: slices.Clone(ls.Targets), Excluded: ls.Excluded}
	for i := range out.Targets {
		out.Targets[i].Reason = ""
	}
	return out
}

func TestTargetStrings(t *testing.T) {
	tests := []struct {
		t      Target
		id, by string
	}{
		{Target{Kind: "Node", Name: "n1"}, "Node//n1", "node n1"},
		{Target{Kind: "Pod", Namespace: "shop", Name: "web-1"}, "Pod/shop/web-1", "pod shop/web-1"},
		{Target{Kind: "ServiceAccount", Namespace: "shop", Name: "default"}, "ServiceAccount/shop/default", "serviceaccount shop/default"},
	}
	for _, tt := range tests {
		if tt.t.ID() != tt.id || tt.t.String() != tt.by {
			t.Errorf("%+v: ID %q String %q, want %q %q", tt.t, tt.t.ID(), tt.t.String(), tt.id, tt.by)
		}
	}
}
