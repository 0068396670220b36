package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Knetic/govaluate"
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
)

// when evaluates a step's when expression as Argo's controller does
// (workflow/controller/steps.go, shouldExecute, unexported there): with
// govaluate, variables read as strings.
func when(t *testing.T, expr string) bool {
	t.Helper()
	if expr == "" {
		return true
	}
	e, err := govaluate.NewEvaluableExpression(expr)
	if err != nil {
		t.Fatalf("when %q: %v", expr, err)
	}
	tokens := e.Tokens()
	for i, tok := range tokens {
		if tok.Kind == govaluate.VARIABLE {
			tok.Kind = govaluate.STRING
			tokens[i] = tok
		}
	}
	if e, err = govaluate.NewEvaluableExpressionFromTokens(tokens); err != nil {
		t.Fatalf("when %q: %v", expr, err)
	}
	v, err := e.Evaluate(nil)
	b, ok := v.(bool)
	if err != nil || !ok {
		t.Fatalf("when %q: %v %v", expr, v, err)
	}
	return b
}

// argoRun is what a remediate-and-retry run did: the steps that ran, by
// name and attempt, and whether the run failed.
type argoRun struct {
	steps  []string
	failed bool
	log    string
}

// runSteps walks a steps template: Argo's ProcessArgs substitutes the
// inputs, each step's when is evaluated as the controller does after
// {{steps.NAME.exitCode}} is known, container templates run through
// runArgoTemplate, the resource template calls remediation (a stand-in for
// the user's remediation Workflow: no Argo controller runs here), and a
// steps template recurses.
func runSteps(t *testing.T, bin string, spec *wfv1.WorkflowSpec, name string, args wfv1.Arguments, work string, remediation func(attempt string) bool, run *argoRun) {
	t.Helper()
	var tmpl *wfv1.Template
	for i := range spec.Templates {
		if spec.Templates[i].Name == name {
			tmpl = &spec.Templates[i]
		}
	}
	if tmpl == nil {
		t.Fatalf("no template %s", name)
	}
	nt, err := common.ProcessArgs(tmpl, &args, common.Parameters{}, common.Parameters{}, false, "default", nil)
	if err != nil {
		t.Fatalf("template %s: %v", name, err)
	}
	attempt := ""
	for _, p := range nt.Inputs.Parameters {
		if p.Name == "attempt" {
			attempt = p.Value.String()
		}
	}
	exit := map[string]string{}
	for _, group := range nt.Steps {
		for _, st := range group.Steps {
			w := st.When
			for k, v := range exit {
				w = strings.ReplaceAll(w, "{{steps."+k+".exitCode}}", v)
			}
			if !when(t, w) {
				continue
			}
			run.steps = append(run.steps, st.Name+"@"+attempt)
			var child *wfv1.Template
			for i := range spec.Templates {
				if spec.Templates[i].Name == st.Template {
					child = &spec.Templates[i]
				}
			}
			switch {
			case child == nil:
				t.Fatalf("step %s: no template %s", st.Name, st.Template)
			case child.Steps != nil:
				runSteps(t, bin, spec, child.Name, st.Arguments, work, remediation, run)
			case child.Resource != nil:
				if !remediation(attempt) {
					run.failed = true
				}
			default:
				params := map[string]string{}
				for _, p := range st.Arguments.Parameters {
					params[p.Name] = p.Value.String()
				}
				r := runArgoTemplate(t, bin, child, params, nil, work)
				run.log += r.log
				exit[st.Name] = strconv.Itoa(r.code)
				if r.failed && (st.ContinueOn == nil || !st.ContinueOn.Failed) {
					run.failed = true
				}
			}
			if run.failed {
				return
			}
		}
	}
}

// heal is a remediation that works: it drops every telemetry record about
// the compromised node and the payments-worker pod, as if the node had
// been replaced and the collectors had written fresh files since.
func heal(t *testing.T, work string) func(string) bool {
	return func(string) bool {
		files, _ := filepath.Glob(filepath.Join(work, "telemetry", "*.jsonl"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.Contains(l, "ip-10-0-2-22") && !strings.Contains(l, "payments-worker") {
					keep = append(keep, l)
				}
			}
			if err := os.WriteFile(f, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return true
	}
}

func TestArgoRemediateAndRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the pulsegate binary")
	}
	bin := pulsegate(t)
	spec := argoTemplates(t)["argo/pulsegate/0.1.0/manifests.yaml"]
	if spec == nil {
		t.Fatal("no argo/pulsegate/0.1.0/manifests.yaml")
	}
	args := func(release string) wfv1.Arguments {
		a := wfv1.Arguments{}
		for k, v := range map[string]string{"release": release, "remediation-template": "heal-nodes"} {
			a.Parameters = append(a.Parameters, wfv1.Parameter{Name: k, Value: wfv1.AnyStringPtr(v)})
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		release string
		heals   bool
		steps   []string
		failed  bool
	}{
		{"proceed", "releases/storefront-web.yaml", true, []string{"gate@1"}, false},
		{"block, healed, proceed", "releases/payments-api.yaml", true,
			[]string{"gate@1", "remediate@1", "retry@1", "gate@2"}, false},
		{"block, never healed, fails after three gates", "releases/payments-api.yaml", false,
			[]string{"gate@1", "remediate@1", "retry@1", "gate@2", "remediate@2", "retry@2", "gate@3", "blocked@3"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := workdir(t, bin)
			remediation := func(string) bool { return true } // succeeds, changes nothing
			if tc.heals {
				remediation = heal(t, work)
			}
			var run argoRun
			runSteps(t, bin, spec, "remediate-and-retry", args(tc.release), work, remediation, &run)
			if !slices.Equal(run.steps, tc.steps) || run.failed != tc.failed {
				t.Errorf("steps %v, failed %v; want %v, failed %v\n%s", run.steps, run.failed, tc.steps, tc.failed, run.log)
			}
		})
	}
}
