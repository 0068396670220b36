package remediate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pulsegate/pulsegate/pkg/audit"
	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/policy"
	pkgremediate "github.com/pulsegate/pulsegate/pkg/remediate"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) { kube.Main(m, nil) }

const config = `
actions:
  - {name: cordon, type: cordon}
  - {name: delete-pod, type: delete-pod}
environments:
  prod: {allow: [cordon]}
`

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decisionFile(t *testing.T, d *policy.Decision) string {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return write(t, "decision.json", string(b))
}

// One step on the real API server: dry run changes nothing, --apply
// cordons, a re-run finds it done; the audit log records each action.
func TestStep(t *testing.T) {
	s := kube.Shared(t)
	ctx := t.Context()
	node, err := s.AddNode(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "step-node"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &policy.Decision{DecisionID: "dec-step", Verdict: policy.Block, Enforced: true, Mode: policy.Enforce,
		Targets: []correlate.Target{{Kind: "Node", Name: node.Name}},
		Reasons: []policy.Reason{{Rule: "severe-finding", Evidence: []policy.Evidence{{Source: "falco", Target: "node " + node.Name}}}}}
	log := filepath.Join(t.TempDir(), "audit.log")
	p := Params{Config: write(t, "r.yaml", config), Environment: "prod", Decision: decisionFile(t, d), Attempt: 1, AuditLog: log}
	for _, apply := range []bool{false, true, true} {
		r, err := pkgremediate.NewRunner(ctx, s.Config, apply)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := Step(ctx, p, Env{Runner: r})
		if err != nil || len(recs) != 1 || Failed(recs) {
			t.Fatalf("apply %v: %v %+v", apply, err, recs)
		}
		n, _ := s.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if n.Spec.Unschedulable != apply {
			t.Errorf("apply %v: unschedulable %v (%s)", apply, n.Spec.Unschedulable, recs[0])
		}
	}
	sum, err := audit.VerifyFile(log)
	if err != nil || sum.Records != 3 {
		t.Errorf("audit log %v, %d records", err, sum.Records)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), `"remediation/did":"already cordoned"`) || !strings.Contains(string(b), `"mode":"dry-run"`) {
		t.Errorf("audit log:\n%s", b)
	}

	// Refused and usage errors come before any change; a proceed needs nothing.
	p.Actions = []string{"delete-pod"}
	if _, err := Step(ctx, p, Env{}); !tasks.IsUsage(err) || !strings.Contains(err.Error(), "not on environment \"prod\"'s allow list") {
		t.Errorf("refused: %v", err)
	}
	p.Actions = nil
	p.Attempt = 0
	if _, err := Step(ctx, p, Env{}); !tasks.IsUsage(err) {
		t.Errorf("attempt 0: %v", err)
	}
	p.Attempt = 1
	p.Decision = decisionFile(t, &policy.Decision{DecisionID: "x", Verdict: policy.Proceed, Enforced: true})
	if recs, err := Step(ctx, p, Env{}); err != nil || recs != nil {
		t.Errorf("proceed: %v %v", recs, err)
	}
	p.Decision = write(t, "bad.json", `{"verdict": 1}`)
	if _, err := Step(ctx, p, Env{}); !tasks.IsUsage(err) || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("bad decision: %v", err)
	}
}

func TestNeededSources(t *testing.T) {
	d := &policy.Decision{
		Reasons: []policy.Reason{{Evidence: []policy.Evidence{{Source: "falco"}, {Source: "k8s-audit"}}}},
		Sources: []policy.SourceStatus{{Name: "falco", Status: "fresh"}, {Name: "tetragon", Status: "no_data"}, {Name: "trivy", Status: "stale"}},
	}
	got := NeededSources(d)
	if len(got) != 3 || !got["falco"] || !got["k8s-audit"] || !got["trivy"] || got["tetragon"] {
		t.Errorf("needed %v", got)
	}
	rec := AuditRecord(pkgremediate.Record{DecisionID: "d", Attempt: 2, Action: "a", Type: "cordon", By: "me", Outcome: pkgremediate.Succeeded, Started: time.Unix(1, 0)})
	if rec.Verdict != "remediate" || rec.Inputs["remediation/attempt"] != "2" || rec.Time.IsZero() || rec.Inputs["remediation/object"] != "" {
		t.Errorf("audit record %+v", rec)
	}
}
