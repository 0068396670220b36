package gate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/release"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
)

const demo = "../../examples/demo"

var demoNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func demoParams(rel string, extra ...Telemetry) Params {
	p := Params{
		Release:   filepath.Join(demo, "releases", rel),
		Inventory: filepath.Join(demo, "inventory.json"),
		Cluster:   "prod-eu-1",
		Now:       demoNow,
		Telemetry: []Telemetry{
			{Type: "falco", Path: filepath.Join(demo, "telemetry/falco.jsonl")},
			{Type: "k8s-audit", Path: filepath.Join(demo, "telemetry/k8s-audit.jsonl")},
			{Type: "tetragon", Path: filepath.Join(demo, "telemetry/tetragon.jsonl")},
		},
	}
	p.Telemetry = append(p.Telemetry, extra...)
	return p
}

func env() Env { return Env{Sources: builtin.Registry()} }

func TestDemoVerdicts(t *testing.T) {
	for rel, want := range map[string]policy.Verdict{"payments-api.yaml": policy.Block, "storefront-web.yaml": policy.Proceed} {
		d, err := Run(demoParams(rel), env())
		if err != nil {
			t.Fatal(err)
		}
		if d.Verdict != want {
			t.Errorf("%s: verdict %s, want %s: %s", rel, d.Verdict, want, d.Summary)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, err := Run(demoParams("payments-api.yaml"), env())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run(demoParams("payments-api.yaml"), env())
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Error("two runs on the same input differ")
	}
}

func TestUnavailableSource(t *testing.T) {
	for _, tc := range []struct {
		failMode string
		want     policy.Verdict
	}{{"", policy.Block}, {"fail-closed", policy.Block}, {"fail-open", policy.Proceed}} {
		p := demoParams("storefront-web.yaml", Telemetry{Type: "falco", Name: "falco-eu", Path: "/nonexistent/falco.jsonl", FailMode: tc.failMode})
		d, err := Run(p, env())
		if err != nil {
			t.Fatal(err)
		}
		if d.Verdict != tc.want {
			t.Errorf("fail mode %q: verdict %s, want %s", tc.failMode, d.Verdict, tc.want)
		}
		var st policy.SourceStatus
		for _, s := range d.Sources {
			if s.Name == "falco-eu" {
				st = s
			}
		}
		if st.Status != store.Unavailable || !strings.Contains(st.Detail, "/nonexistent/falco.jsonl") {
			t.Errorf("status %+v", st)
		}
	}
}

func TestQuietAlertOnlySourceIsNoData(t *testing.T) {
	// Only heartbeats: Falco is alive and has nothing to say. Not a block.
	src, _ := os.ReadFile(filepath.Join(demo, "telemetry/falco.jsonl"))
	var keep []string
	for _, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "metrics snapshot") {
			keep = append(keep, l)
		}
	}
	f := filepath.Join(t.TempDir(), "falco.jsonl")
	os.WriteFile(f, []byte(strings.Join(keep, "\n")+"\n"), 0o644)
	p := demoParams("storefront-web.yaml")
	p.Telemetry = []Telemetry{{Type: "falco", Path: f}}
	d, err := Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.Proceed || d.Sources[0].Status != store.NoData {
		t.Errorf("verdict %s, source %+v", d.Verdict, d.Sources[0])
	}
}

func TestUsageErrorsAreTyped(t *testing.T) {
	p := demoParams("payments-api.yaml", Telemetry{Type: "splunk", Path: "x"})
	if _, err := Run(p, env()); !tasks.IsUsage(err) || !strings.Contains(err.Error(), `"splunk"`) {
		t.Errorf("unknown type: %v", err)
	}
	p = demoParams("payments-api.yaml")
	p.Release = "/nonexistent"
	if _, err := Run(p, env()); !tasks.IsUsage(err) {
		t.Errorf("missing release: %v", err)
	}
}

// TestScoping is the scoping property: signals about assets outside the
// release's landing set never change its verdict, its reasons or its risk,
// however many there are and however severe.
func TestScoping(t *testing.T) {
	inv, err := inventory.Load(filepath.Join(demo, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"payments-api.yaml", "storefront-web.yaml"} {
		base, err := Run(demoParams(rel), env())
		if err != nil {
			t.Fatal(err)
		}
		r, _ := release.Load(filepath.Join(demo, "releases", rel), release.Options{})
		ls, _ := correlate.Correlate(r, inv)
		inside := map[string]bool{}
		for _, tg := range ls.Targets {
			inside[tg.Kind+"/"+tg.Namespace+"/"+tg.Name] = true
		}
		var outNodes []string
		for _, n := range inv.NodeNames() {
			if !inside["Node//"+n] {
				outNodes = append(outNodes, n)
			}
		}
		outNodes = append(outNodes, "ip-10-9-9-9", "gke-other-pool-1")
		type podRef struct{ ns, name, node string }
		var outPods []podRef
		for _, p := range inv.Pods {
			if !inside["Pod/"+p.Namespace+"/"+p.Name] && !inside["Node//"+p.Spec.NodeName] {
				outPods = append(outPods, podRef{p.Namespace, p.Name, p.Spec.NodeName})
			}
		}
		outPods = append(outPods, podRef{"kube-public", "ghost", ""}, podRef{"team-x", "api-0", "ip-10-9-9-9"})
		var outNS []string
		for _, ns := range []string{"kube-system", "monitoring", "data", "falco", "payments", "storefront", "nope"} {
			if !inside["Namespace//"+ns] {
				outNS = append(outNS, ns)
			}
		}
		rng := rand.New(rand.NewPCG(7, uint64(len(rel))))
		prios := []string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational"}
		for iter := 0; iter < 40; iter++ {
			// The noise source is alive (a heartbeat now), so only its
			// findings could change anything.
			lines := []string{`{"rule":"Falco internal: metrics snapshot","source":"internal","priority":"Informational","hostname":"ip-10-9-9-9","output":"Falco metrics snapshot","time":"` + demoNow.Format(time.RFC3339) + `"}`}
			n := 1 + rng.IntN(60)
			for i := 0; i < n; i++ {
				at := demoNow.Add(-time.Duration(rng.IntN(3600)) * time.Second)
				rec := map[string]any{"rule": fmt.Sprintf("Noise rule %d", rng.IntN(5)), "priority": prios[rng.IntN(len(prios))],
					"time": at.Format(time.RFC3339Nano), "output": "noise", "source": "syscall"}
				of := map[string]any{}
				switch rng.IntN(4) {
				case 0: // a node outside the set
					rec["hostname"] = outNodes[rng.IntN(len(outNodes))]
				case 1: // a pod outside the set, on its own node
					p := outPods[rng.IntN(len(outPods))]
					rec["hostname"] = p.node
					of["k8s.ns.name"], of["k8s.pod.name"] = p.ns, p.name
				case 2: // a pod outside the set, no node given
					p := outPods[rng.IntN(len(outPods))]
					of["k8s.ns.name"], of["k8s.pod.name"] = p.ns, p.name
				case 3: // an audit-style finding about a namespace outside the set
					rec["source"] = "k8s_audit"
					of["ka.target.namespace"] = outNS[rng.IntN(len(outNS))]
					of["ka.target.resource"], of["ka.target.name"] = "secrets", "s"
				}
				rec["output_fields"] = of
				b, _ := json.Marshal(rec)
				lines = append(lines, string(b))
			}
			f := filepath.Join(t.TempDir(), "noise.jsonl")
			os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
			d, err := Run(demoParams(rel, Telemetry{Type: "falco", Name: "noise", Path: f}), env())
			if err != nil {
				t.Fatal(err)
			}
			if d.Verdict != base.Verdict || !reflect.DeepEqual(d.Reasons, base.Reasons) || d.Risk.Score != base.Risk.Score {
				t.Fatalf("%s, iteration %d: %d outside signals changed the decision: %s (risk %v) -> %s (risk %v)\n%s",
					rel, iter, n, base.Summary, base.Risk.Score, d.Summary, d.Risk.Score, strings.Join(lines, "\n"))
			}
			if st := d.Sources[len(d.Sources)-1]; st.Matched != 0 {
				t.Fatalf("noise source matched %d signals", st.Matched)
			}
		}
	}
}

// A Rollout whose workloadRef names a Deployment that only the cluster has
// takes that Deployment's template: its image reaches the policy's release
// images and its pods' nodes reach the landing set.
func TestRolloutWorkloadRefFromCluster(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "rollout.yaml")
	manifest := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: cart
  namespace: storefront
spec:
  replicas: 2
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: cart
  strategy:
    canary: {}
`
	if err := os.WriteFile(rel, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	p := demoParams("storefront-web.yaml")
	p.Release = rel
	d, err := Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, im := range d.Release.Images {
		refs = append(refs, im.Ref)
	}
	if want := "registry.example.com/storefront/cart:3.0.7"; len(refs) != 1 || refs[0] != want {
		t.Errorf("release images = %v, want [%s]", refs, want)
	}
	nodes := 0
	for _, tg := range d.Targets {
		if tg.Kind == "Node" {
			nodes++
		}
	}
	if nodes == 0 {
		t.Errorf("no node among the targets: %+v", d.Targets)
	}

	// Without the Deployment anywhere, the error names the Rollout.
	bad := strings.ReplaceAll(manifest, "name: cart\n  strategy", "name: gone\n  strategy")
	if err := os.WriteFile(rel, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(p, env())
	if err == nil || !tasks.IsUsage(err) || !strings.Contains(err.Error(), "Rollout storefront/cart") {
		t.Errorf("err = %v, want a usage error naming the Rollout", err)
	}
}
