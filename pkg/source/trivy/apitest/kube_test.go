// Package apitest tests the trivy adapter's Kubernetes API path against a
// real kube-apiserver (test/kube) with Trivy Operator's own CRD. It is a
// package of its own so that the trivy package's other tests and fuzz
// targets do not start an API server.
package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/internal/cli"
	"github.com/pulsegate/pulsegate/pkg/config"
	pkube "github.com/pulsegate/pulsegate/pkg/kube"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/pkg/source/trivy"
	"github.com/pulsegate/pulsegate/tasks/fetch"
	"github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) { kube.Main(m, nil) }

var (
	crdGVR     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	reportGVR  = schema.GroupVersionResource{Group: trivy.Group, Version: trivy.Version, Resource: trivy.Resource}
	clusterGVR = schema.GroupVersionResource{Group: trivy.Group, Version: trivy.Version, Resource: trivy.ClusterResource}
)

// The samples: Trivy Operator's own, from its docs and its envtest
// fixtures (testdata/README.md).
var samples = []string{"../testdata/docs-vulnerability-report-01.yaml", "../testdata/vulnerability-ttl.yaml"}

// One API server for the package: the tests run in order, because the
// first one needs a cluster without the CRD.
func TestKubeAPI(t *testing.T) {
	s := kube.Shared(t)
	dyn := dynamicClient(t, s.Config)
	ctx := t.Context()

	t.Run("no CRD", func(t *testing.T) {
		if _, err := dyn.Resource(crdGVR).Get(ctx, "vulnerabilityreports."+trivy.Group, metav1.GetOptions{}); err == nil {
			t.Fatal("the CRD is already installed (run with -count=1)")
		}
		_, err := pull(t, s.Config, trivy.KubeOptions{})
		want := "the cluster has no vulnerabilityreports.aquasecurity.github.io: is trivy-operator installed?"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want %q", err, want)
		}
	})

	installCRDs(t, dyn)

	t.Run("reports", func(t *testing.T) { testReports(t, s, dyn) })
	t.Run("paging", func(t *testing.T) { testPaging(t, s, dyn) })
	t.Run("bad item", func(t *testing.T) { testBadItem(t, s, dyn) })
	t.Run("RBAC", func(t *testing.T) { testRBAC(t, s, dyn) })
	t.Run("fetch --config", func(t *testing.T) { testFetchConfig(t, s, dyn) })
	t.Run("gate --config", func(t *testing.T) { testGateConfig(t, s, dyn) })
}

// The gate without a store polls a Kubernetes API source itself, as it
// polls a url source.
func testGateConfig(t *testing.T, s *kube.Server, dyn dynamic.Interface) {
	ns := namespace(t, s, "trivy-gate")
	create(t, dyn, sample(t, ns)...)
	dir := t.TempDir()
	must(t, s.WriteKubeconfig(filepath.Join(dir, "kubeconfig"), s.Config))
	demo, err := filepath.Abs("../../../../examples/demo")
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "pulsegate.yaml")
	must(t, os.WriteFile(cf, []byte(fmt.Sprintf(`inventory: %s/inventory.json
cluster: prod-eu-1
now: "2026-11-30T10:00:00Z"
telemetry:
  - name: trivy-operator
    type: trivy
    max_age: 26h
    kubernetes:
      kubeconfig: kubeconfig
      namespaces: [%s]
`, demo, ns)), 0o600))
	status := func() string {
		t.Helper()
		code, stdout, stderr := execute("gate", "--config", cf, "--release", demo+"/releases/payments-api.yaml", "-o", "json")
		var d struct {
			Sources []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"sources"`
		}
		if err := json.Unmarshal([]byte(stdout), &d); err != nil || code == 2 || code == 3 || len(d.Sources) != 1 || d.Sources[0].Name != "trivy-operator" {
			t.Fatalf("pulsegate gate: exit %d, %v, %s, stderr %q", code, err, stdout, stderr)
		}
		return d.Sources[0].Status
	}
	// The reports answer, about workloads the release does not touch.
	if got := status(); got != "no_data" {
		t.Errorf("status %q, want no_data", got)
	}
	// With credentials the API server refuses, the source is unavailable.
	nobody, err := s.UserConfig(kube.NobodyUser)
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.WriteKubeconfig(filepath.Join(dir, "kubeconfig"), nobody))
	if got := status(); got != "unavailable" {
		t.Errorf("status as nobody %q, want unavailable", got)
	}
}

func dynamicClient(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// installCRDs installs Trivy Operator's VulnerabilityReport CRD as shipped
// upstream and, derived from it (same schema, cluster scope, upstream's
// names), the ClusterVulnerabilityReport CRD, and waits until both serve.
func installCRDs(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	ctx := t.Context()
	objs, err := pkube.ReadPath("../testdata/crd/aquasecurity.github.io_vulnerabilityreports.yaml")
	if err != nil || len(objs) != 1 {
		t.Fatalf("read CRD: %v (%d objects)", err, len(objs))
	}
	crd := object(t, objs[0].JSON)
	cluster := crd.DeepCopy()
	cluster.SetName(trivy.ClusterResource + "." + trivy.Group)
	must(t, unstructured.SetNestedField(cluster.Object, "Cluster", "spec", "scope"))
	must(t, unstructured.SetNestedMap(cluster.Object, map[string]any{
		"kind": "ClusterVulnerabilityReport", "listKind": "ClusterVulnerabilityReportList",
		"plural": trivy.ClusterResource, "singular": "clustervulnerabilityreport", "shortNames": []any{"clustervuln"},
	}, "spec", "names"))
	for _, c := range []*unstructured.Unstructured{crd, cluster} {
		if _, err := dyn.Resource(crdGVR).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", c.GetName(), err)
		}
		name := c.GetName()
		t.Cleanup(func() {
			_ = dyn.Resource(crdGVR).Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	for _, gvr := range []schema.GroupVersionResource{reportGVR, clusterGVR} {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("%s not served: %v", gvr.Resource, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func object(t *testing.T, j []byte) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

func namespace(t *testing.T, s *kube.Server, name string) string {
	t.Helper()
	name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e6)
	if _, err := s.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// complete fills in what the upstream samples leave out but the CRD they
// ship with requires (report.os, report.updateTimestamp, and each
// vulnerability's lastModifiedDate and publishedDate): the API server
// refuses them otherwise. Values already present are kept.
func complete(u *unstructured.Unstructured, updated string) {
	rep, _, _ := unstructured.NestedMap(u.Object, "report")
	if _, ok := rep["os"]; !ok {
		rep["os"] = map[string]any{"family": "debian", "name": "10.3"}
	}
	if _, ok := rep["updateTimestamp"]; !ok {
		rep["updateTimestamp"] = updated
	}
	if sc, ok := rep["scanner"].(map[string]any); ok {
		if _, ok := sc["version"]; !ok {
			sc["version"] = "0.72.0"
		}
	}
	vulns, _ := rep["vulnerabilities"].([]any)
	for _, v := range vulns {
		if m, ok := v.(map[string]any); ok {
			for _, k := range []string{"lastModifiedDate", "publishedDate"} {
				if _, ok := m[k]; !ok {
					m[k] = ""
				}
			}
		}
	}
	u.Object["report"] = rep
}

// sample returns the upstream samples, completed, in namespace ns: as the
// operator writes them for workloads in ns (the label
// trivy-operator.resource.namespace names ns too).
func sample(t *testing.T, ns string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, f := range samples {
		objs, err := pkube.ReadPath(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			u := object(t, o.JSON)
			u.SetNamespace(ns)
			u.SetOwnerReferences(nil) // their owners do not exist here
			l := u.GetLabels()
			if _, ok := l["trivy-operator.resource.namespace"]; ok {
				l["trivy-operator.resource.namespace"] = ns
			}
			u.SetLabels(l)
			complete(u, "2026-11-30T06:00:00Z")
			out = append(out, u)
		}
	}
	return out
}

func create(t *testing.T, dyn dynamic.Interface, objs ...*unstructured.Unstructured) {
	t.Helper()
	for _, u := range objs {
		r := dyn.Resource(reportGVR).Namespace(u.GetNamespace())
		if u.GetKind() == "ClusterVulnerabilityReport" {
			r = dyn.Resource(clusterGVR)
		}
		if _, err := r.Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

func pull(t *testing.T, cfg *rest.Config, opt trivy.KubeOptions) (*source.Batch, error) {
	t.Helper()
	p, err := trivy.NewKubePuller(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p.Pull(t.Context(), nil)
}

// comparable strips what differs between the file and the API path by
// design: the ID (a hash of the record's bytes, which the server adds to)
// and the raw reference.
func comparable(sigs []signal.Signal) []signal.Signal {
	out := slices.Clone(sigs)
	for i := range out {
		out[i].ID, out[i].Raw = "", signal.RawRef{}
		out[i].Source = signal.SourceRef{}
	}
	return out
}

// The API path gives the Signals the file path gives for the same
// reports, with the configured cluster.
func testReports(t *testing.T, s *kube.Server, dyn dynamic.Interface) {
	ns := namespace(t, s, "trivy-reports")
	objs := sample(t, ns)
	// One report without the resource labels: the asset's namespace
	// comes from metadata.namespace.
	bare := objs[0].DeepCopy()
	bare.SetName("bare-report")
	bare.SetLabels(nil)
	objs = append(objs, bare)
	create(t, dyn, objs...)

	b, err := pull(t, s.Config, trivy.KubeOptions{Namespaces: []string{ns}, Cluster: "prod-eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != len(objs) || b.Rejected != 0 {
		t.Fatalf("%d records, rejects %+v", b.Records, b.Rejects)
	}
	// The file path over the same objects (sorted by name, as the API
	// lists them).
	sorted := slices.Clone(objs)
	slices.SortFunc(sorted, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	var want []signal.Signal
	for _, u := range sorted {
		j, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := (&trivy.Parser{}).Parse(source.Record{Data: j, File: "x", Line: 1})
		if err != nil {
			t.Fatalf("file path on %s: %v", u.GetName(), err)
		}
		for i := range sigs {
			sigs[i].Asset.Cluster = "prod-eu-1"
		}
		want = append(want, sigs...)
	}
	got, wantC := comparable(b.Signals), comparable(want)
	if len(got) != len(wantC) {
		t.Fatalf("%d signals, want %d", len(got), len(wantC))
	}
	for i := range got {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(wantC[i])
		if string(g) != string(w) {
			t.Errorf("signal %d:\n got %s\nwant %s", i, g, w)
		}
	}
	// What the docs sample says, spelled out.
	var nginx, bareSig *signal.Signal
	for i, sg := range b.Signals {
		if sg.Rule == "CVE-2018-25009" && sg.Asset.Workload != "" {
			nginx = &b.Signals[i]
		}
		if sg.Attrs["report"] == "bare-report" {
			bareSig = &b.Signals[i]
		}
	}
	if nginx == nil || nginx.Asset != (signal.Asset{Cluster: "prod-eu-1", Namespace: ns, WorkloadKind: "ReplicaSet", Workload: "nginx-6d4cf56db6",
		Container: "nginx", Image: "index.docker.io/library/nginx:1.16"}) || nginx.Severity != signal.SeverityCritical || nginx.Score != 0.91 ||
		nginx.ClassUID != signal.ClassVulnerabilityFinding || !nginx.Time.Equal(time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("nginx signal %+v", nginx)
	}
	if bareSig == nil || bareSig.Asset.Namespace != ns || bareSig.Asset.Workload != "" {
		t.Errorf("report without labels: %+v", bareSig)
	}
	for _, r := range b.Signals {
		if r.Raw.File != "GET /apis/aquasecurity.github.io/v1alpha1/namespaces/"+ns+"/vulnerabilityreports" {
			t.Errorf("raw %+v", r.Raw)
			break
		}
	}

	// A ClusterVulnerabilityReport (upstream's docs sample) is read when
	// no namespaces are configured.
	objsC, err := pkube.ReadPath("../testdata/docs-clustervulnerability-report-01.yaml")
	if err != nil || len(objsC) != 1 {
		t.Fatalf("%v %d", err, len(objsC))
	}
	cu := object(t, objsC[0].JSON)
	cu.SetName(ns + "-cluster") // unique in the shared server
	cu.SetOwnerReferences(nil)
	cu.SetResourceVersion("")
	cu.SetUID("")
	cu.SetCreationTimestamp(metav1.Time{})
	complete(cu, "2026-11-30T07:00:00Z")
	create(t, dyn, cu)
	all, err := pull(t, s.Config, trivy.KubeOptions{Cluster: "prod-eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	var fromCluster int
	for _, sg := range all.Signals {
		if sg.Attrs["report"] == cu.GetName() {
			fromCluster++
			if sg.Asset.Cluster != "prod-eu-1" || sg.Asset.WorkloadKind != "ClusterSbomReport" {
				t.Errorf("cluster report signal asset %+v", sg.Asset)
			}
		}
	}
	vulns, _, _ := unstructured.NestedSlice(cu.Object, "report", "vulnerabilities")
	if fromCluster == 0 || fromCluster != len(vulns) {
		t.Errorf("%d signals from the ClusterVulnerabilityReport, want %d", fromCluster, len(vulns))
	}
}

// countingTransport counts List requests and the continue tokens sent.
type countingTransport struct {
	rt http.RoundTripper
	mu sync.Mutex
	n  int
	c  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	if r.URL.Query().Get("continue") != "" {
		c.c++
	}
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

// More reports than one page: every page is read, with limit and continue.
func testPaging(t *testing.T, s *kube.Server, dyn dynamic.Interface) {
	ns := namespace(t, s, "trivy-paging")
	base := sample(t, ns)[0]
	const n = 7
	for i := range n {
		u := base.DeepCopy()
		u.SetName(fmt.Sprintf("report-%02d", i))
		create(t, dyn, u)
	}
	ct := &countingTransport{}
	cfg := rest.CopyConfig(s.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { ct.rt = rt; return ct })
	b, err := pull(t, cfg, trivy.KubeOptions{Namespaces: []string{ns}, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != n || b.Rejected != 0 || len(b.Signals) != 2*n {
		t.Errorf("%d records, %d rejected, %d signals; want %d, 0, %d", b.Records, b.Rejected, len(b.Signals), n, 2*n)
	}
	if ct.n != 4 || ct.c != 3 {
		t.Errorf("%d requests, %d with continue; want 4 and 3 (pages of 2)", ct.n, ct.c)
	}
	reports := map[string]bool{}
	for _, sg := range b.Signals {
		reports[sg.Attrs["report"]] = true
	}
	if len(reports) != n {
		t.Errorf("reports %v", reports)
	}
}

// A report the parser cannot use (the CRD lets an empty vulnerabilityID
// through) is counted and rejected with its namespace and name; the
// others are kept.
func testBadItem(t *testing.T, s *kube.Server, dyn dynamic.Interface) {
	ns := namespace(t, s, "trivy-bad")
	objs := sample(t, ns)
	bad := objs[0].DeepCopy()
	bad.SetName("bad-report")
	vulns, _, _ := unstructured.NestedSlice(bad.Object, "report", "vulnerabilities")
	vulns[1].(map[string]any)["vulnerabilityID"] = ""
	must(t, unstructured.SetNestedSlice(bad.Object, vulns, "report", "vulnerabilities"))
	create(t, dyn, append(objs, bad)...)
	b, err := pull(t, s.Config, trivy.KubeOptions{Namespaces: []string{ns}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != len(objs)+1 || b.Rejected != 1 || len(b.Rejects) != 1 {
		t.Fatalf("%d records, rejects %+v", b.Records, b.Rejects)
	}
	want := "GET /apis/aquasecurity.github.io/v1alpha1/namespaces/" + ns + "/vulnerabilityreports:1: vulnerabilityreport " + ns +
		`/bad-report: a vulnerability without "vulnerabilityID"`
	if got := b.Rejects[0].Error(); got != want {
		t.Errorf("reject\n got %s\nwant %s", got, want)
	}
	for _, sg := range b.Signals {
		if sg.Attrs["report"] == "bad-report" {
			t.Errorf("a signal from the rejected report: %+v", sg)
		}
	}
	if len(b.Signals) == 0 {
		t.Error("the good reports gave no signals")
	}
}

// rbacObjects reads the shipped catalog/rbac/trivy-reports-reader.yaml.
func rbacObjects(t *testing.T) (*rbacv1.ClusterRole, *corev1.ServiceAccount, *rbacv1.ClusterRoleBinding) {
	t.Helper()
	objs, err := pkube.ReadPath(filepath.Join("..", "..", "..", "..", trivy.RBACFile))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	var sa corev1.ServiceAccount
	var binding rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch o.Kind {
		case "ClusterRole":
			must(t, o.Decode(&role))
		case "ServiceAccount":
			must(t, o.Decode(&sa))
		case "ClusterRoleBinding":
			must(t, o.Decode(&binding))
		default:
			t.Fatalf("%s: unexpected kind %s", o.Where(), o.Kind)
		}
	}
	if role.Name == "" || sa.Name == "" || binding.Name == "" {
		t.Fatalf("want a ClusterRole, a ServiceAccount and a ClusterRoleBinding in %s", trivy.RBACFile)
	}
	return &role, &sa, &binding
}

// The shipped role grants get and list on the two report resources and
// nothing else.
func TestReaderRoleIsMinimal(t *testing.T) {
	role, _, _ := rbacObjects(t)
	var got []string
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %v: resourceNames or nonResourceURLs", r.Resources)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got = append(got, g+"/"+res+":"+strings.Join(r.Verbs, ","))
			}
		}
	}
	slices.Sort(got)
	want := []string{"aquasecurity.github.io/clustervulnerabilityreports:get,list", "aquasecurity.github.io/vulnerabilityreports:get,list"}
	if !slices.Equal(got, want) {
		t.Errorf("role grants %v, want %v", got, want)
	}
}

// A ServiceAccount with only the shipped role pulls and can do nothing
// else; a user without it gets an error that says what to grant.
func testRBAC(t *testing.T, s *kube.Server, dyn dynamic.Interface) {
	ctx := t.Context()
	ns := namespace(t, s, "trivy-rbac")
	create(t, dyn, sample(t, ns)...)
	role, sa, binding := rbacObjects(t)
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sa.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, err := range []error{
		ignore(s.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})),
		ignore(s.Client.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{})),
		ignore(s.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := s.ServiceAccountConfig(ctx, sa.Namespace, sa.Name)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC rules take effect through an informer in the API server: wait
	// for the first allowed list.
	var b *source.Batch
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		b, err = pull(t, cfg, trivy.KubeOptions{Cluster: "c"})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("pull as %s/%s with the shipped role: %v", sa.Namespace, sa.Name, err)
	}
	if b.Records == 0 || len(b.Signals) == 0 {
		t.Errorf("%d records", b.Records)
	}
	sd := dynamicClient(t, cfg)
	u := sample(t, ns)[0]
	u.SetName("written-by-reader")
	if _, err := sd.Resource(reportGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create a report as the reader: %v, want forbidden", err)
	}
	if _, err := dynamicClient(t, cfg).Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets as the reader: %v, want forbidden", err)
	}

	nobody, err := s.UserConfig(kube.NobodyUser)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pull(t, nobody, trivy.KubeOptions{})
	for _, want := range []string{"list vulnerabilityreports.aquasecurity.github.io in every namespace: forbidden", "grant get and list", trivy.RBACFile} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	_, err = pull(t, nobody, trivy.KubeOptions{Namespaces: []string{ns}})
	if err == nil || !strings.Contains(err.Error(), "in namespace "+ns+": forbidden") {
		t.Errorf("one namespace: %v", err)
	}
}

func ignore[T any](_ T, err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// The configuration path: a telemetry entry with "kubernetes" (a
// kubeconfig file, its context, namespaces) polled by the fetch step, as
// `pulsegate fetch --config` runs it.
func testFetchConfig(t *testing.T, s *kube.Server, dyn dynamic.Interface) {
	ns := namespace(t, s, "trivy-fetch")
	create(t, dyn, sample(t, ns)...)
	dir := t.TempDir()
	if err := s.WriteKubeconfig(filepath.Join(dir, "kubeconfig"), s.Config); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`cluster: ignored-here
telemetry:
  - name: trivy-operator
    type: trivy
    cluster: prod-eu-1
    page_size: 1
    timeout: 20s
    kubernetes:
      kubeconfig: kubeconfig
      namespaces: [%s]
`, ns)
	cf := filepath.Join(dir, "pulsegate.yaml")
	if err := os.WriteFile(cf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cf)
	if err != nil {
		t.Fatal(err)
	}
	var out, rejects strings.Builder
	res, err := fetch.Run(t.Context(), fetch.Params{Telemetry: cfg.Telemetry}, fetch.Env{Sources: builtin.Registry(), Out: &out, Rejects: &rejects})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) != 1 || res.Sources[0].Status != "ok" || res.Sources[0].Health.Records != 2 || res.Signals == 0 {
		t.Fatalf("result %+v", res)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != res.Signals {
		t.Fatalf("%d lines for %d signals", len(lines), res.Signals)
	}
	for _, l := range lines {
		var sg signal.Signal
		if err := json.Unmarshal([]byte(l), &sg); err != nil {
			t.Fatal(err)
		}
		if sg.Asset.Cluster != "prod-eu-1" || sg.Asset.Namespace != ns || sg.Source.Name != "trivy-operator" || sg.Source.Type != "trivy" {
			t.Errorf("signal %s", l)
		}
	}

	// The command line: `pulsegate fetch --config` with its summary line,
	// then with --store (the source's record kept for the gate).
	code, stdout, stderr := execute("fetch", "--config", cf)
	if code != 0 || strings.Count(stdout, "\n") != res.Signals ||
		!strings.Contains(stderr, fmt.Sprintf("trivy-operator (trivy): ok, 2 records, 0 rejected, %d signals", res.Signals)) {
		t.Errorf("pulsegate fetch: exit %d, %d lines, stderr %q", code, strings.Count(stdout, "\n"), stderr)
	}
	code, _, stderr = execute("fetch", "--config", cf, "--store", filepath.Join(dir, "store.db"))
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("%d new to the store", res.Signals)) {
		t.Errorf("pulsegate fetch --store: exit %d, stderr %q", code, stderr)
	}

	// A kubeconfig context that does not exist is a configuration error
	// that names it.
	bad := strings.Replace(yaml, "kubeconfig: kubeconfig", "kubeconfig: kubeconfig\n      context: nowhere", 1)
	must(t, os.WriteFile(cf, []byte(bad), 0o600))
	cfg, err = config.Load(cf)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetch.Run(t.Context(), fetch.Params{Telemetry: cfg.Telemetry}, fetch.Env{Sources: builtin.Registry(), Out: &out})
	if err == nil || !strings.Contains(err.Error(), `no context "nowhere"`) {
		t.Errorf("unknown context: %v", err)
	}
	if code, _, stderr := execute("fetch", "--config", cf); code != 2 || !strings.Contains(stderr, `no context "nowhere"`) {
		t.Errorf("pulsegate fetch with an unknown context: exit %d, %q; want 2", code, stderr)
	}
}

// execute runs the pulsegate command line and returns its exit code,
// standard output and standard error.
func execute(args ...string) (int, string, string) {
	root := cli.NewRootCommand()
	var out, errOut strings.Builder
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		var ee *cli.ExitError
		if !errors.As(err, &ee) || !ee.Silent {
			errOut.WriteString(err.Error())
		}
	}
	return cli.Code(err), out.String(), errOut.String()
}
