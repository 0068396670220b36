// Package remediation is the demo's third scenario: the payments-api release
// blocks on the compromised node ip-10-0-2-22; `pulsegate gate --remediate
// --apply` starts the replace-node Workflow, waits for it, waits for fresh
// telemetry, gates again and proceeds.
//
// It runs against a real kube-apiserver (test/kube) with Argo's CRDs. No Argo
// controller runs: remediatetest.Controller plays it, doing what
// replace-node.yaml would do (the node drained and replaced in the inventory
// snapshot, fresh Falco heartbeats and an audit event in the telemetry)
// before marking the Workflow Succeeded.
package remediation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/pulsegate/pulsegate/internal/cli"
	"github.com/pulsegate/pulsegate/pkg/audit"
	pkgkube "github.com/pulsegate/pulsegate/pkg/kube"
	"github.com/pulsegate/pulsegate/pkg/remediate"
	"github.com/pulsegate/pulsegate/pkg/remediate/remediatetest"
	"github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) {
	kube.Main(m, &kube.Options{Setup: func(ctx context.Context, s *kube.Server) error {
		return remediatetest.InstallCRDs(ctx, s.Config, "../../../pkg/remediate/testdata/crds")
	}})
}

const compromised = "ip-10-0-2-22"

// demoNow is the demo configuration's `now`: the replayed gate's clock
// starts there and runs at wall-clock speed.
var demoNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func copyDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"pulsegate.yaml", "inventory.json", "releases/payments-api.yaml", "telemetry/falco.jsonl", "telemetry/k8s-audit.jsonl", "telemetry/tetragon.jsonl"} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// replaceNode does to the snapshot what replace-node.yaml does to the
// cluster: the compromised node is drained and gone, a fresh node
// ip-10-0-2-23 joins the pool, and the drained pods run there under new
// names.
func replaceNode(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Metadata   map[string]any   `json:"metadata"`
		Items      []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	const fresh = "ip-10-0-2-23"
	for _, it := range list.Items {
		meta, _ := it["metadata"].(map[string]any)
		spec, _ := it["spec"].(map[string]any)
		switch {
		case it["kind"] == "Node" && meta["name"] == compromised:
			meta["name"] = fresh
			if labels, ok := meta["labels"].(map[string]any); ok {
				for k, v := range labels {
					if v == compromised {
						labels[k] = fresh
					}
				}
			}
		case it["kind"] == "Pod" && spec["nodeName"] == compromised:
			spec["nodeName"] = fresh
			meta["name"] = fmt.Sprint(meta["name"]) + "-r"
		}
	}
	out, err := json.MarshalIndent(list, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// freshTelemetry appends what the sources write after the replacement, at
// the replayed clock: a Falco metrics snapshot from every payments node and
// the audit event of the node's deletion.
func freshTelemetry(dir string, at time.Time) error {
	ts := at.UTC().Format(time.RFC3339Nano)
	var falco bytes.Buffer
	for _, n := range []string{"ip-10-0-2-21", "ip-10-0-2-23"} {
		fmt.Fprintf(&falco, `{"hostname":%q,"output":"Falco metrics snapshot","output_fields":{"evt.hostname":%q,"evt.source":"syscall","evt.time":%d,"falco.version":"0.42.1","falco.num_evts":1000500,"scap.n_drops_perc":0.0},"priority":"Informational","rule":"Falco internal: metrics snapshot","source":"internal","time":%q}`+"\n",
			n, n, at.UnixNano(), ts)
	}
	ev := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0d7e3c1a-5b0e-4c4e-9a47-6f1d2b7c9e01","stage":"ResponseComplete","requestURI":"/api/v1/nodes/%s","verb":"delete","user":{"username":"system:serviceaccount:pulsegate:node-replacer","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["10.0.0.12"],"userAgent":"kubectl/v1.34.2","objectRef":{"resource":"nodes","name":%q,"apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`+"\n",
		compromised, compromised, ts, ts)
	for f, line := range map[string]string{"telemetry/falco.jsonl": falco.String(), "telemetry/k8s-audit.jsonl": ev} {
		fh, err := os.OpenFile(filepath.Join(dir, f), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fh.WriteString(line)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := cli.NewRootCommand()
	c.SetArgs(args)
	c.SetOut(&out)
	c.SetErr(&errOut)
	err := c.ExecuteContext(t.Context())
	if err != nil {
		var ee *cli.ExitError
		if !(errors.As(err, &ee) && ee.Silent) {
			fmt.Fprintln(&errOut, err)
		}
	}
	return cli.Code(err), out.String(), errOut.String()
}

func TestRemediationClearsTheBlock(t *testing.T) {
	s := kube.Shared(t)
	ctx := t.Context()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pulsegate"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The WorkflowTemplate as shipped, stored by the real API server.
	objs, err := pkgkube.ReadPath("replace-node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl unstructured.Unstructured
	if err := objs[0].Decode(&tmpl.Object); err != nil {
		t.Fatal(err)
	}
	dc := dynamic.NewForConfigOrDie(s.Config)
	wtGVR := remediate.WorkflowGVR.GroupVersion().WithResource("workflowtemplates")
	if _, err := dc.Resource(wtGVR).Namespace("pulsegate").Create(ctx, &tmpl, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	dir := copyDemo(t)
	cfg := filepath.Join(dir, "pulsegate.yaml")
	release := filepath.Join(dir, "releases/payments-api.yaml")
	remCfg, _ := filepath.Abs("remediation.yaml")
	log := filepath.Join(dir, "audit.log")
	history := filepath.Join(dir, "history.json")

	// Without --remediate the release blocks, as in `make demo`.
	if code, _, _ := run(t, "gate", "--config", cfg, "--release", release); code != 1 {
		t.Fatalf("plain gate: exit %d, want 1", code)
	}
	// A dry run plans the Workflow (the server accepts it) and the block stands.
	code, _, errOut := run(t, "gate", "--config", cfg, "--release", release, "--remediate", "--remediation-config", remCfg, "--kubeconfig", s.Kubeconfig)
	if code != 1 || !strings.Contains(errOut, "would create Workflow pulsegate/pg-replace-node-") || !strings.Contains(errOut, "dry run, nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s", code, errOut)
	}

	start := time.Now()
	c := &remediatetest.Controller{Dynamic: dc, Namespace: "pulsegate", Delay: 500 * time.Millisecond,
		Done: func(_ *unstructured.Unstructured, r remediatetest.Result) {
			if r != remediatetest.Succeed {
				return
			}
			if err := replaceNode(filepath.Join(dir, "inventory.json")); err != nil {
				t.Error(err)
			}
			// A few seconds after the Workflow ends, on the replayed clock.
			if err := freshTelemetry(dir, demoNow.Add(time.Since(start)+3*time.Second)); err != nil {
				t.Error(err)
			}
		}}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "gate", "--config", cfg, "--release", release, "--remediate", "--remediation-config", remCfg, "--apply",
		"--kubeconfig", s.Kubeconfig, "--audit-log", log, "--remediation-history", history)
	if code != 0 {
		t.Fatalf("gate --remediate --apply: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("stderr:\n%s", errOut)
	if !strings.HasPrefix(out, "PROCEED") || !strings.Contains(out, "remediation attempt 1: replace-node (argo-workflow): created Workflow pulsegate/pg-replace-node-") || !strings.Contains(out, "as admin: succeeded") {
		t.Errorf("report:\n%s", out)
	}
	if got := c.Finished(); len(got) != 1 {
		t.Errorf("workflows finished: %v", got)
	}
	var h remediate.History
	b, err := os.ReadFile(history)
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil || len(h.Records) != 1 || len(h.Decisions) != 1 || h.Decisions[0].Verdict != "proceed" {
		t.Errorf("history %v: %+v", err, h)
	}
	// The audit log: the first block, the action, the proceed; intact.
	sum, err := audit.VerifyFile(log)
	if err != nil || sum.Records != 3 {
		t.Errorf("audit log: %v, %d records", err, sum.Records)
	}
	lines, _ := os.ReadFile(log)
	if !bytes.Contains(lines, []byte(`"verdict":"remediate"`)) || !bytes.Contains(lines, []byte(`"remediation/by":"admin"`)) {
		t.Errorf("audit log:\n%s", lines)
	}
}
