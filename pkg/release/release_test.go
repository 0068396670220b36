package release

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/kube"
)

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestParseImage(t *testing.T) {
	// The forms are those of the distribution reference grammar
	// (github.com/distribution/reference, reference.go): a ':' after the
	// last '/' starts a tag, a ':' before it belongs to a registry port.
	tests := []struct {
		name string
		ref  string
		want Image
	}{
		{"repo", "nginx", Image{Repo: "nginx"}},
		{"repo:tag", "nginx:1.27", Image{Repo: "nginx", Tag: "1.27"}},
		{"path:tag", "library/nginx:latest", Image{Repo: "library/nginx", Tag: "latest"}},
		{"repo@digest", "nginx@" + digest1, Image{Repo: "nginx", Digest: digest1}},
		{"repo:tag@digest", "nginx:1.27@" + digest1, Image{Repo: "nginx", Tag: "1.27", Digest: digest1}},
		{"registry host", "registry.example.com/payments/api:2.15.0", Image{Repo: "registry.example.com/payments/api", Tag: "2.15.0"}},
		{"registry port, no tag", "localhost:5000/app", Image{Repo: "localhost:5000/app"}},
		{"registry port and tag", "localhost:5000/app:v1", Image{Repo: "localhost:5000/app", Tag: "v1"}},
		{"registry port and digest", "localhost:5000/team/app@" + digest2, Image{Repo: "localhost:5000/team/app", Digest: digest2}},
		{"registry port, tag and digest", "registry.example.com:8443/tools/report:3@" + digest2,
			Image{Repo: "registry.example.com:8443/tools/report", Tag: "3", Digest: digest2}},
		{"IPv6 registry", "[::1]:5000/app:v2", Image{Repo: "[::1]:5000/app", Tag: "v2"}},
		{"empty", "", Image{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Ref = tt.ref
			if got := ParseImage(tt.ref); got != tt.want {
				t.Errorf("ParseImage(%q) = %+v, want %+v", tt.ref, got, tt.want)
			}
		})
	}
}

func parse(t *testing.T, file string) []kube.Object {
	t.Helper()
	objs, err := kube.ReadPath(file)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestFromObjectsAllKinds(t *testing.T) {
	rel, err := FromObjects(parse(t, "testdata/all-kinds.yaml"), Options{Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Cluster != "prod" {
		t.Errorf("Cluster = %q", rel.Cluster)
	}
	type wl struct {
		ref, source, sa, selector, labels string
		containers                        []string
	}
	// Expected values read off testdata/all-kinds.yaml by hand; the line is
	// where each document starts (after its "---").
	want := []wl{
		{"Deployment default/web", ":1", "web", "app=web", "app=web", []string{"migrate", "web"}},
		{"StatefulSet data/db", ":22", "", "app=db", "app=db", []string{"postgres"}},
		{"DaemonSet kube-system/agent", ":39", "", "app=agent", "app=agent", []string{"agent"}},
		{"ReplicaSet default/legacy", ":55", "", "app in (legacy)", "app=legacy", []string{"legacy"}},
		{"Job data/migrate", ":71", "", "<nil>", "", []string{"migrate"}},
		{"CronJob data/report", ":84", "", "<nil>", "app=report", []string{"report"}},
		{"Pod default/debug", ":102", "", "<nil>", "app=debug", []string{"debug"}},
		{"Rollout shop/checkout", ":113", "", "app=checkout", "app=checkout", []string{"checkout"}},
	}
	if len(rel.Workloads) != len(want) {
		var got []string
		for _, w := range rel.Workloads {
			got = append(got, w.Ref())
		}
		t.Fatalf("workloads = %q, want %d", got, len(want))
	}
	for i, w := range rel.Workloads {
		ww := want[i]
		t.Run(ww.ref, func(t *testing.T) {
			if w.Ref() != ww.ref {
				t.Errorf("Ref() = %q, want %q", w.Ref(), ww.ref)
			}
			if w.Source != "testdata/all-kinds.yaml"+ww.source {
				t.Errorf("Source = %q, want suffix %q", w.Source, ww.source)
			}
			if w.Template.Spec.ServiceAccountName != ww.sa {
				t.Errorf("serviceAccountName = %q, want %q", w.Template.Spec.ServiceAccountName, ww.sa)
			}
			sel := "<nil>"
			if w.Selector != nil {
				sel = selectorString(t, w)
			}
			if sel != ww.selector {
				t.Errorf("selector = %q, want %q", sel, ww.selector)
			}
			var labels []string
			for k, v := range w.Template.Labels {
				labels = append(labels, k+"="+v)
			}
			if strings.Join(labels, ",") != ww.labels {
				t.Errorf("template labels = %q, want %q", labels, ww.labels)
			}
			var names []string
			for _, c := range append(w.Template.Spec.InitContainers, w.Template.Spec.Containers...) {
				names = append(names, c.Name)
			}
			if !slices.Equal(names, ww.containers) {
				t.Errorf("containers = %q, want %q", names, ww.containers)
			}
		})
	}
	if pod := rel.Workloads[6]; pod.Template.Spec.NodeName != "node-1" || pod.Template.Name != "debug" {
		t.Errorf("a Pod's template is its own metadata and spec: name %q, nodeName %q", pod.Template.Name, pod.Template.Spec.NodeName)
	}

	// The Service is used now (Services); ConfigMaps and the foreign
	// Rollout are counted.
	wantOther := map[string]int{"ConfigMap": 2, "Rollout": 1}
	if !reflect.DeepEqual(rel.Other, wantOther) {
		t.Errorf("Other = %v, want %v", rel.Other, wantOther)
	}

	// Each image once, sorted by reference; init containers included; the
	// non-Argo Rollout's image left out.
	wantImages := []Image{
		{Ref: "alpine", Repo: "alpine"},
		{Ref: "busybox:1.36", Repo: "busybox", Tag: "1.36"},
		{Ref: "ghcr.io/shop/checkout:1.0.0", Repo: "ghcr.io/shop/checkout", Tag: "1.0.0"},
		{Ref: "localhost:5000/legacy", Repo: "localhost:5000/legacy"},
		{Ref: "nginx:1.27", Repo: "nginx", Tag: "1.27"},
		{Ref: "postgres:16@" + digest1, Repo: "postgres", Tag: "16", Digest: digest1},
		{Ref: "registry.example.com:8443/tools/report:3@" + digest2, Repo: "registry.example.com:8443/tools/report", Tag: "3", Digest: digest2},
	}
	if !reflect.DeepEqual(rel.Images, wantImages) {
		t.Errorf("Images:\n got %+v\nwant %+v", rel.Images, wantImages)
	}
}

func selectorString(t *testing.T, w Workload) string {
	t.Helper()
	var parts []string
	for k, v := range w.Selector.MatchLabels {
		parts = append(parts, k+"="+v)
	}
	for _, e := range w.Selector.MatchExpressions {
		parts = append(parts, e.Key+" "+strings.ToLower(string(e.Operator))+" ("+strings.Join(e.Values, ",")+")")
	}
	return strings.Join(parts, ",")
}

func TestFromObjectsNamespace(t *testing.T) {
	objs := parse(t, "testdata/all-kinds.yaml")
	tests := []struct {
		name, opt, want string
	}{
		{"default when none given", "", "default"},
		{"option applies to objects without one", "team-a", "team-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := FromObjects(objs, Options{Namespace: tt.opt})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, w := range rel.Workloads {
				got[w.Name] = w.Namespace
			}
			want := map[string]string{"web": tt.want, "db": "data", "agent": "kube-system", "legacy": tt.want,
				"migrate": "data", "report": "data", "debug": tt.want, "checkout": "shop"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("namespaces = %v, want %v", got, want)
			}
		})
	}
}

func TestFromObjectsErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"no workloads", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n", "the release has no workloads"},
		{"only a foreign Rollout", "apiVersion: example.com/v1\nkind: Rollout\nmetadata:\n  name: r\n", "the release has no workloads"},
		{"nothing at all", "", "the release has no workloads"},
		{"workload without a name", "kind: Service\n---\napiVersion: apps/v1\nkind: Deployment\nspec: {}\n",
			"r.yaml:3: Deployment has no metadata.name"},
		{"spec of the wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers: 3\n",
			"r.yaml:1: Deployment d: "},
		{"bad Rollout spec", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  selector: [1]\n",
			"r.yaml:1: Rollout r: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := kube.Parse([]byte(tt.yaml), "r.yaml")
			if err != nil {
				t.Fatal(err)
			}
			rel, err := FromObjects(objs, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if rel != nil {
				t.Errorf("release returned with the error: %+v", rel)
			}
		})
	}
}

func TestLoadDemo(t *testing.T) {
	rel, err := Load("../../examples/demo/releases/payments-api.yaml", Options{Cluster: "prod-eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rel.Workloads) != 1 || rel.Workloads[0].Ref() != "Deployment payments/payments-api" {
		t.Fatalf("workloads = %+v", rel.Workloads)
	}
	w := rel.Workloads[0]
	if w.Template.Spec.NodeSelector["pool"] != "payments" || len(w.Template.Spec.Tolerations) != 1 {
		t.Errorf("template lost its placement: %+v", w.Template.Spec)
	}
	if len(rel.Other) != 0 || len(rel.Services) != 1 || rel.Services[0].Service.Name != "payments-api" ||
		rel.Services[0].Source != "../../examples/demo/releases/payments-api.yaml:37" {
		t.Errorf("Other = %v, Services = %+v", rel.Other, rel.Services)
	}
	want := Image{
		Ref:    "registry.example.com/payments/api:2.15.0@sha256:5b0c1e9b2f6f7d3c8a4e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b",
		Repo:   "registry.example.com/payments/api",
		Tag:    "2.15.0",
		Digest: "sha256:5b0c1e9b2f6f7d3c8a4e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b",
	}
	if len(rel.Images) != 1 || rel.Images[0] != want {
		t.Errorf("Images = %+v", rel.Images)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a-service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n")
	write("b-broken.yaml", "kind: ConfigMap\n---\nkind: Deployment\nmetadata:\n  name: x\n   bad: indent\n")
	write("c-config.yaml", "inventory: inventory.json\n")
	tests := []struct {
		name, path, wantErr string
	}{
		{"missing file", "testdata/nope.yaml", "read release testdata/nope.yaml"},
		{"file with no workloads", "a-service.yaml", "the release has no workloads"},
		{"not a manifest", "c-config.yaml", "read release " + filepath.Join(dir, "c-config.yaml") + ": " + filepath.Join(dir, "c-config.yaml") + `:1: missing field "kind"`},
		{"broken manifest after good ones", "b-broken.yaml", "read release: " + filepath.Join(dir, "b-broken.yaml") + ":3: invalid YAML"},
		{"folder", ".", "b-broken.yaml:3: invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if !strings.HasPrefix(path, "testdata") {
				path = filepath.Join(dir, path)
			}
			_, err := Load(path, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzLoad runs untrusted manifests through Parse and FromObjects: no
// panics, and a release that comes back is well formed.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/all-kinds.yaml", "testdata/network.yaml", "../../examples/demo/releases/payments-api.yaml", "../../examples/demo/releases/storefront-web.yaml"} {
		objs, err := kube.ReadPath(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, o := range objs {
			f.Add(o.JSON)
		}
	}
	network, err := os.ReadFile("testdata/network.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(network)
	f.Add([]byte("kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{image: 'a@b:c'}]}}}"))
	f.Add([]byte("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: ':'}, {image: '@'}, {image: '/:@'}]}"))
	f.Add([]byte("kind: ReplicaSet\nmetadata: {name: r}\nspec: {selector: {matchExpressions: [{key: a, operator: Bogus}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := kube.Parse(data, "fuzz.yaml")
		rel, err := FromObjects(objs, Options{})
		if err != nil {
			if rel != nil {
				t.Error("a release and an error")
			}
			return
		}
		if len(rel.Workloads) == 0 {
			t.Error("a release without workloads")
		}
		for _, w := range rel.Workloads {
			if w.Name == "" || w.Namespace == "" || w.Source == "" {
				t.Errorf("incomplete workload %+v", w)
			}
			if w.WorkloadRef != nil && (w.Kind != "Rollout" || w.WorkloadRef.Name == "") {
				t.Errorf("workloadRef %+v on %s", w.WorkloadRef, w.Ref())
			}
		}
		for _, s := range rel.Services {
			if s.Service.Name == "" || s.Service.Namespace == "" || s.Source == "" {
				t.Errorf("incomplete Service %+v", s)
			}
		}
		for _, n := range rel.NetworkPolicies {
			if n.NetworkPolicy.Name == "" || n.NetworkPolicy.Namespace == "" || n.Source == "" {
				t.Errorf("incomplete NetworkPolicy %+v", n)
			}
		}
		// Without a cluster, every unresolved workloadRef is an error that
		// names its Rollout; with none, the release resolves to itself.
		unresolved := rel.Unresolved()
		got, err := rel.Resolve(nil)
		switch {
		case len(unresolved) == 0 && (err != nil || got != rel):
			t.Errorf("Resolve(nil) on a resolved release: %v", err)
		case len(unresolved) > 0 && (err == nil || !strings.Contains(err.Error(), unresolved[0].Ref())):
			t.Errorf("Resolve(nil) with %d unresolved: %v", len(unresolved), err)
		}
		seen := map[string]bool{}
		for i, im := range rel.Images {
			if seen[im.Ref] || i > 0 && rel.Images[i-1].Ref > im.Ref {
				t.Errorf("images not unique and sorted: %+v", rel.Images)
			}
			seen[im.Ref] = true
			// Repo, then ":" Tag when there is one, then "@" Digest.
			rest, ok := strings.CutPrefix(im.Ref, im.Repo)
			if ok && im.Tag != "" {
				rest, ok = strings.CutPrefix(rest, ":"+im.Tag)
			}
			if ok && im.Digest != "" {
				ok = rest == "@"+im.Digest || strings.HasSuffix(rest, "@"+im.Digest)
			}
			if !ok || strings.Contains(im.Repo, "@") || strings.Contains(im.Tag, "/") {
				t.Errorf("ParseImage(%q) = %+v does not split the reference", im.Ref, im)
			}
		}
	})
}
