package admission

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/pulsegate/pulsegate/pkg/attest"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) { kube.Main(m, nil) }

// Kyverno's CRDs come from its Go module, pinned by version and checked by
// the module's h1 hash (as go.sum would record it).
const (
	kyvernoModule  = "github.com/kyverno/kyverno"
	kyvernoVersion = "v1.19.1"
	kyvernoSum     = "h1:/MkgFii3/VlQfKR1JpC9tVwNNVNQTt2S4U6qCsafsTU="
	kyvernoCRD     = "config/crds/kyverno/kyverno.io_clusterpolicies.yaml"
	policyFile     = "kyverno-require-proceed.yaml"
)

var (
	crdGVR    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	policyGVR = schema.GroupVersionResource{Group: "kyverno.io", Version: "v1", Resource: "clusterpolicies"}
)

// kyvernoCRDPath downloads Kyverno's module into the module cache (10 MB,
// once) and returns the path of its ClusterPolicy CRD. Without the module
// proxy the test skips, naming that prerequisite, unless
// PULSEGATE_KUBE_REQUIRE=1.
func kyvernoCRDPath(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "mod", "download", "-json", kyvernoModule+"@"+kyvernoVersion)
	cmd.Dir = t.TempDir() // outside the main module: go.mod and go.sum stay as they are
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	var info struct{ Dir, Sum, Error string }
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err != nil || info.Error != "" {
		msg := "missing prerequisite: Kyverno's CRD from the Go module proxy (go mod download " + kyvernoModule + "@" + kyvernoVersion + "): "
		if os.Getenv("PULSEGATE_KUBE_REQUIRE") == "1" {
			t.Fatalf("%s%v %s", msg, err, info.Error)
		}
		t.Skipf("%s%v %s", msg, err, info.Error)
	}
	if info.Sum != kyvernoSum {
		t.Fatalf("%s@%s has hash %s, want %s", kyvernoModule, kyvernoVersion, info.Sum, kyvernoSum)
	}
	return filepath.Join(info.Dir, kyvernoCRD)
}

func readYAML(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

// TestKyvernoPolicyAgainstCRD installs Kyverno's ClusterPolicy CRD into a
// real kube-apiserver and creates the example policy with strict field
// validation: the server checks it against the CRD's OpenAPI schema. Broken
// copies must be rejected, so the check can fail.
func TestKyvernoPolicyAgainstCRD(t *testing.T) {
	crdPath := kyvernoCRDPath(t)
	s := kube.Shared(t)
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	crd := readYAML(t, crdPath)
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("install CRD: %v", err)
	}
	waitEstablished(t, dyn, crd.GetName())

	create := func(u *unstructured.Unstructured) error {
		_, err := dyn.Resource(policyGVR).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict", DryRun: []string{metav1.DryRunAll}})
		return err
	}
	pol := readYAML(t, policyFile)
	if err := create(pol); err != nil {
		t.Fatalf("%s does not validate against Kyverno %s's ClusterPolicy CRD: %v", policyFile, kyvernoVersion, err)
	}

	att := []string{"spec", "rules", "0", "verifyImages", "0", "attestations", "0"}
	for _, tc := range []struct {
		name   string
		mutate func(obj map[string]any)
		want   string
	}{
		{"unknown operator", func(o map[string]any) {
			cond(o)["operator"] = "Newer"
		}, "operator"},
		{"unknown failure action", func(o map[string]any) {
			at(o, "spec", "rules", "0", "verifyImages", "0")["failureAction"] = "Deny"
		}, "failureAction"},
		{"misspelt field", func(o map[string]any) {
			at(o, att...)["predicate"] = "x"
		}, "predicate"},
		{"no image references type", func(o map[string]any) {
			at(o, "spec", "rules", "0", "verifyImages", "0")["imageReferences"] = "registry.example.com/*"
		}, "imageReferences"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := pol.DeepCopy()
			tc.mutate(bad.Object)
			err := create(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("broken policy: err = %v, want a rejection naming %q", err, tc.want)
			}
		})
	}
}

func waitEstablished(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		u, err := dyn.Resource(crdGVR).Get(t.Context(), name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("CRD %s not established after 30s", name)
}

// at walks a decoded object by keys and list indexes ("0").
func at(o map[string]any, path ...string) map[string]any {
	var cur any = o
	for _, p := range path {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i := int(p[0] - '0')
			cur = c[i]
		}
	}
	return cur.(map[string]any)
}

func cond(o map[string]any) map[string]any {
	return at(o, "spec", "rules", "0", "verifyImages", "0", "attestations", "0", "conditions", "0", "all", "0")
}

// TestKyvernoPolicyMatchesPulsegate checks what the schema cannot: the
// predicate type is pulsegate's, the key is an ed25519 key pulsegate's
// verify reads, and the conditions name fields the predicate has.
func TestKyvernoPolicyMatchesPulsegate(t *testing.T) {
	pol := readYAML(t, policyFile)
	a := at(pol.Object, "spec", "rules", "0", "verifyImages", "0", "attestations", "0")
	if a["type"] != attest.PredicateType {
		t.Fatalf("attestation type %v, want %s", a["type"], attest.PredicateType)
	}
	keys := at(a, "attestors", "0", "entries", "0", "keys")
	if _, err := attest.ParsePublicKey([]byte(keys["publicKeys"].(string))); err != nil {
		t.Fatalf("publicKeys: %v", err)
	}
	// The predicate is the decision record: the conditions' fields must be
	// its JSON keys, with the values the conditions expect.
	d := policy.Decision{Verdict: policy.Proceed, Time: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(d)
	var rec map[string]any
	json.Unmarshal(b, &rec)
	all := at(a, "conditions", "0")["all"].([]any)
	v := all[0].(map[string]any)
	if v["key"] != "{{ verdict }}" || v["value"] != string(policy.Proceed) || rec["verdict"] != "proceed" {
		t.Fatalf("verdict condition %v against record verdict %v", v, rec["verdict"])
	}
	tm := all[1].(map[string]any)
	if !strings.Contains(tm["key"].(string), "time") || rec["time"] != "2026-11-30T10:00:00Z" {
		t.Fatalf("time condition %v against record time %v", tm, rec["time"])
	}
	if !bytes.Contains(b, []byte(`"time":"2026-11-30T10:00:00Z"`)) {
		t.Fatal("decision time is not RFC 3339, which Kyverno's time_since reads")
	}
}
