package remediate

import (
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/policy"
)

const goodConfig = `
actions:
  - name: reimage-node
    type: argo-workflow
    namespace: pulsegate
    workflow_template: reimage-node
    service_account: healer
    timeout: 20m
    params: {pool: payments}
  - name: quarantine
    type: tekton-pipeline
    namespace: pulsegate
    pipeline: quarantine
  - {name: cordon, type: cordon}
environments:
  prod: {allow: [reimage-node, cordon], run: [reimage-node]}
  default: {allow: [cordon]}
budget: {attempts: 2, backoff: 1m, deadline: 45m}
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Budget.WithDefaults()
	if b.Attempts != 2 || b.Backoff.String() != "1m0s" || b.ActionTimeout.String() != "15m0s" || c.Actions[0].Timeout.String() != "20m0s" {
		t.Errorf("budget %+v, timeout %v", b, c.Actions[0].Timeout)
	}
	got, err := c.Resolve("", nil)
	if err != nil || len(got) != 1 || got[0].Name != "cordon" {
		t.Errorf("default environment: %v %v", got, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key names its line", "actions:\n  - name: a\n    type: cordon\n    nodes: [x]\n", `line 4: unknown key "nodes"`},
		{"unknown type", "actions:\n  - {name: a, type: reboot}\n", `line 2: actions[0] (a): type "reboot": want one of argo-workflow, cordon`},
		{"workflow without namespace", "actions:\n  - {name: a, type: argo-workflow, workflow_template: t}\n", `missing key "namespace"`},
		{"both templates", "actions:\n  - {name: a, type: argo-workflow, namespace: n, workflow_template: t, cluster_workflow_template: c}\n", "exactly one of"},
		{"pipeline on argo", "actions:\n  - {name: a, type: argo-workflow, namespace: n, workflow_template: t, pipeline: p}\n", "pipeline belongs to type tekton-pipeline"},
		{"params on a built-in", "actions:\n  - {name: a, type: cordon, params: {x: y}}\n", "belong to types argo-workflow and tekton-pipeline"},
		{"reserved param", "actions:\n  - {name: a, type: tekton-pipeline, namespace: n, pipeline: p, params: {attempt: '9'}}\n", "params.attempt: pulsegate sets this parameter itself"},
		{"bad name", "actions:\n  - {name: Reboot_Now, type: cordon}\n", `name "Reboot_Now": want lower-case`},
		{"duplicate name", "actions:\n  - {name: a, type: cordon}\n  - {name: a, type: delete-pod}\n", `name "a" is used twice`},
		{"allow names an unknown action", "actions:\n  - {name: a, type: cordon}\nenvironments:\n  prod: {allow: [b]}\n", `environments.prod.allow[0]: "b" is not one of the actions (a)`},
		{"run not allowed", "actions:\n  - {name: a, type: cordon}\n  - {name: b, type: cordon}\nenvironments:\n  prod: {allow: [a], run: [b]}\n", `environments.prod.run[0]: "b" is not in environments.prod.allow`},
		{"bad duration", "budget: {backoff: soon}\n", `line 1: "soon" is not a positive duration`},
		{"negative duration", "budget: {deadline: -1m}\n", `"-1m" is not a positive duration`},
		{"attempts", "budget: {attempts: 1000}\n", "budget.attempts: 1000, want 1 to 100"},
		{"second document", "actions: []\n---\nactions: []\n", "line 3: a second YAML document"},
		{"not YAML", "actions: [\n", "invalid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigNamesFile(t *testing.T) {
	_, err := LoadConfig("testdata/missing.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("actions:\n  - {name: a, type: cordon}\nenvironments: {x: {allow: [a]}}\n"))
	f.Add([]byte("budget: {backoff: 1s}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err == nil {
			_, _ = c.Resolve("", nil)
		}
	})
}

func TestObjectName(t *testing.T) {
	a := ObjectName("eee488a5-f793-d0d0-1e7c-b9fd4a23d474", "reimage-node", 1)
	if a != ObjectName("eee488a5-f793-d0d0-1e7c-b9fd4a23d474", "reimage-node", 1) {
		t.Error("not deterministic")
	}
	if a == ObjectName("eee488a5-f793-d0d0-1e7c-b9fd4a23d474", "reimage-node", 2) || a == ObjectName("other", "reimage-node", 1) || a == ObjectName("eee488a5-f793-d0d0-1e7c-b9fd4a23d474", "cordon", 1) {
		t.Error("the same name for different inputs")
	}
	long := ObjectName("x", strings.Repeat("a", 40), 100)
	if len(long) > 63 || !dnsLabel.MatchString(long) {
		t.Errorf("%q: not a DNS label of at most 63", long)
	}
}

// Only targets with evidence are acted on, never the rest of the landing set.
func TestBlockTargetsAndParams(t *testing.T) {
	d := &policy.Decision{
		Targets: []correlate.Target{{Kind: "Node", Name: "n1", Relation: "eligible-node"}, {Kind: "Node", Name: "n2", Relation: "current-node"}, {Kind: "Pod", Namespace: "a", Name: "p"}},
		Reasons: []policy.Reason{{Rule: "severe-finding", Message: strings.Repeat("é", 600), Evidence: []policy.Evidence{{Target: "node n2"}, {Target: "node n2"}, {Target: "Pod/a/p"}}}},
	}
	bt := BlockTargets(d)
	if len(bt) != 2 || bt[0].Name != "n2" || bt[1].Name != "p" {
		t.Errorf("block targets %v", bt)
	}
	ps := Params("id-1", 3, d, Action{Params: map[string]string{"z": "1", "b": "2"}})
	names := []string{}
	for _, p := range ps {
		names = append(names, p[0])
	}
	if strings.Join(names, ",") != "decision-id,attempt,targets,reasons,b,z" || ps[1][1] != "3" {
		t.Errorf("params %v", names)
	}
	if !strings.Contains(ps[3][1], `"targets":["node n2","Pod/a/p"]`) || !strings.Contains(ps[3][1], "…") || strings.Contains(ps[3][1], "\ufffd") {
		t.Errorf("reasons %s", ps[3][1][:80])
	}
}
