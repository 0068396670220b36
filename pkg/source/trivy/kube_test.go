package trivy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

// The API path against a real kube-apiserver is tested in apitest; these
// are the answers a real server gives rarely (or a broken proxy in
// between), served by a test server.
func TestKubePullerAnswers(t *testing.T) {
	status := func(code int, reason string) string {
		return fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":%q,"code":%d}`, reason, code)
	}
	tests := []struct {
		name  string
		pages []string // served in turn; a page starting with a digit is "CODE BODY"
		want  string
	}{
		{"not JSON", []string{"<html>proxy error</html>"}, "(page 1): not a list:"},
		{"items not an array", []string{`{"items":{"a":1}}`}, "(page 1): not a list:"},
		{"the same continue token twice", []string{`{"metadata":{"continue":"a"},"items":[]}`, `{"metadata":{"continue":"a"},"items":[]}`},
			"(page 2): the server returned the same continue token twice"},
		{"continue token expired", []string{`{"metadata":{"continue":"a"},"items":[]}`, "410 " + status(410, "Expired")},
			"list vulnerabilityreports.aquasecurity.github.io in every namespace: the list changed too much while paging (continue token expired): poll again"},
		{"unauthorized", []string{"401 " + status(401, "Unauthorized")}, "unauthorized: the kubeconfig's credentials were refused"},
		{"pages without end", nil, "more than 5 pages of 100"},
		{"not found", []string{"404 " + status(404, "NotFound")}, "the cluster has no vulnerabilityreports.aquasecurity.github.io: is trivy-operator installed?"},
		{"forbidden", []string{"403 " + status(403, "Forbidden")}, "forbidden: grant get and list on vulnerabilityreports.aquasecurity.github.io (catalog/rbac/trivy-reports-reader.yaml)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("limit") != "100" {
					t.Errorf("limit %q", r.URL.Query().Get("limit"))
				}
				if tt.pages == nil { // a new continue token every time
					i++
					fmt.Fprintf(w, `{"metadata":{"continue":"c%d"},"items":[]}`, i)
					return
				}
				if i >= len(tt.pages) {
					t.Errorf("request %d: %s", i+1, r.URL)
					http.Error(w, "no more", http.StatusTeapot)
					return
				}
				body := tt.pages[i]
				i++
				w.Header().Set("Content-Type", "application/json")
				var code int
				if _, err := fmt.Sscanf(body, "%d ", &code); err == nil {
					w.WriteHeader(code)
					body = body[4:]
				}
				fmt.Fprint(w, body)
			}))
			defer srv.Close()
			k, err := NewKubePuller(&rest.Config{Host: srv.URL}, KubeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			k.maxPages = 5
			_, err = k.Pull(t.Context(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// Without the ClusterVulnerabilityReport CRD (trivy-operator before 0.17)
// the namespaced reports are still read.
func TestKubePullerNoClusterReports(t *testing.T) {
	list, err := os.ReadFile("testdata/reports.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/"+ClusterResource) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		w.Write(list)
	}))
	defer srv.Close()
	k, err := NewKubePuller(&rest.Config{Host: srv.URL}, KubeOptions{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Pull(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// reports.json: four reports give Signals, two are rejected (an
	// unknown severity, a ConfigAuditReport), each named.
	if len(b.Signals) != 4 || b.Rejected != 2 || b.Signals[0].Asset.Cluster != "c1" {
		t.Fatalf("%d signals, %d rejected, %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	if r := b.Rejects[0]; r.File != "GET /apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports" || !strings.HasPrefix(r.Reason, `vulnerabilityreport bad-severity: CVE-1: field "severity"`) {
		t.Errorf("reject %s", r.Error())
	}
}

func TestKubeConfigErrors(t *testing.T) {
	reg, err := source.NewRegistry(Spec, source.Spec{Type: "other", New: Spec.New})
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tt := range []struct {
		name, typ string
		cfg       source.PullConfig
		want      string
	}{
		{"trivy over http", "trivy", source.PullConfig{URL: "http://x"}, `telemetry type "trivy" is read from files or from the Kubernetes API, not over HTTP`},
		{"url and kubernetes", "trivy", source.PullConfig{URL: "http://x", Kubernetes: &source.Kubernetes{}}, `"url" and "kubernetes" both set`},
		{"a type without kubernetes", "other", source.PullConfig{Kubernetes: &source.Kubernetes{}}, `telemetry type "other" is not read from the Kubernetes API`},
		{"missing kubeconfig", "trivy", source.PullConfig{Kubernetes: &source.Kubernetes{Kubeconfig: missing}}, missing},
		{"negative page size", "trivy", source.PullConfig{PageSize: -1, Kubernetes: &source.Kubernetes{Kubeconfig: writeKubeconfig(t)}}, "page_size: -1 is negative"},
		{"empty namespace", "trivy", source.PullConfig{Kubernetes: &source.Kubernetes{Kubeconfig: writeKubeconfig(t), Namespaces: []string{""}}}, "namespaces[0]: empty namespace"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Puller(tt.typ, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(f, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// FuzzKubePage: whatever a List page holds, nothing panics and every
// item is used or rejected with a reason.
func FuzzKubePage(f *testing.F) {
	for _, file := range []string{"testdata/reports.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range sourcetest.Records(f, Spec, testdata(f)...) {
		f.Add([]byte(`{"metadata":{"continue":"x"},"items":[` + string(r) + `]}`))
	}
	f.Add([]byte(`{"items":[null,1,"x",{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k := &KubePuller{opt: KubeOptions{Cluster: "c"}}
		b := &source.Batch{}
		n := 0
		_, err := k.addPage(b, &Parser{}, data, "GET x", Resource, &n)
		if err != nil {
			return
		}
		if b.Records != n || b.Records != b.Rejected+countUsed(b) {
			t.Errorf("%d items, %d records, %d rejected", n, b.Records, b.Rejected)
		}
		for _, r := range b.Rejects {
			if !strings.HasPrefix(r.Reason, "vulnerabilityreport ") {
				t.Errorf("reject without the report's name: %q", r.Reason)
			}
		}
		for _, s := range b.Signals {
			if s.Asset.Cluster == "" {
				t.Errorf("signal without a cluster: %+v", s)
			}
		}
	})
}

// countUsed counts the records that gave Signals (every used Trivy
// report gives at least one).
func countUsed(b *source.Batch) int {
	seen := map[int]bool{}
	for _, s := range b.Signals {
		seen[s.Raw.Line] = true
	}
	return len(seen)
}
