package catalog

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var resultRef = regexp.MustCompile(`\$\(tasks\.([a-z0-9-]+)\.results\.([a-z0-9-]+)\)`)

// pipelineRun is what a run of pulsegate-gated-deploy did.
type pipelineRun struct {
	ran    []string // the tasks that ran, in order (deploy: reached, not run)
	failed string   // the task that failed the run
	log    string
}

// runPipeline walks pulsegate-gated-deploy in its order on this machine:
// when expressions are substituted and evaluated with Tekton's own
// WhenExpressions code, each task runs through runTektonTask, and, as
// Tekton does, a task that reads a result of a task that did not run is
// skipped, and a failed task stops the run before the finally tasks.
// The user's deploy task is only marked as reached.
func runPipeline(t *testing.T, bin, work string, params map[string]string) pipelineRun {
	t.Helper()
	p := tektonPipelines(t)["pulsegate-gated-deploy"].DeepCopy()
	p.SetDefaults(stable())
	tasks := tektonTasks(t)
	repl := map[string]string{}
	for _, ps := range p.Spec.Params {
		if ps.Default != nil {
			repl["params."+ps.Name] = ps.Default.StringVal
		}
	}
	for k, v := range params {
		repl["params."+k] = v
	}
	subst := func(s string) string {
		for k, v := range repl {
			s = strings.ReplaceAll(s, "$("+k+")", v)
		}
		return s
	}
	var run pipelineRun
	succeeded := map[string]bool{}
	exec := func(pt pipelinev1.PipelineTask) bool {
		refs := resultRef.FindAllStringSubmatch(whenString(pt.When)+paramString(pt.Params), -1)
		for _, r := range refs {
			if !succeeded[r[1]] {
				return true // skipped: a result it reads does not exist
			}
		}
		if !pt.When.ReplaceVariables(repl, nil).AllowsExecution(nil) {
			return true
		}
		run.ran = append(run.ran, pt.Name)
		if pt.TaskRef != nil && pt.TaskRef.Name == "deploy" {
			succeeded[pt.Name] = true
			return true
		}
		var task *pipelinev1.Task
		if pt.TaskSpec != nil {
			task = &pipelinev1.Task{ObjectMeta: metav1.ObjectMeta{Name: pt.Name}, Spec: pt.TaskSpec.TaskSpec}
		} else if task = tasks[pt.TaskRef.Name]; task == nil {
			t.Fatalf("%s: no task %s in the catalog", pt.Name, pt.TaskRef.Name)
		}
		args := map[string]string{}
		for _, pp := range pt.Params {
			args[pp.Name] = subst(pp.Value.StringVal)
		}
		r := runTektonTask(t, bin, task, args, work)
		run.log += "== " + pt.Name + "\n" + r.log
		if r.failed {
			run.failed = pt.Name
			return false
		}
		succeeded[pt.Name] = true
		for k, v := range r.results {
			repl["tasks."+pt.Name+".results."+k] = v
		}
		return true
	}
	for _, pt := range p.Spec.Tasks {
		if !exec(pt) {
			break
		}
	}
	for _, pt := range p.Spec.Finally {
		failed := run.failed
		if !exec(pt) {
			t.Errorf("finally %s failed:\n%s", pt.Name, run.log)
		}
		run.failed = failed
	}
	return run
}

func whenString(ws pipelinev1.WhenExpressions) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.Input + " " + strings.Join(w.Values, " ") + " ")
	}
	return b.String()
}

func paramString(ps pipelinev1.Params) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Value.StringVal + " ")
	}
	return b.String()
}

func TestPipelineRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the pulsegate binary")
	}
	bin := pulsegate(t)
	for _, tc := range []struct {
		name   string
		params map[string]string
		ran    []string
		failed string
	}{
		{"proceed deploys", map[string]string{"release": "releases/storefront-web.yaml"},
			[]string{"gate-1", "deploy", "publish-report"}, ""},
		{"block without remediation fails", map[string]string{"release": "releases/payments-api.yaml", "allow-remediation": "false"},
			[]string{"gate-1", "gate-final", "publish-report"}, "gate-final"},
		// No cluster here: the remediation cannot start, and the run fails
		// closed before any deploy. tasks/remediate runs the actions
		// against a real API server.
		{"block, remediation cannot run, fails closed", map[string]string{"release": "releases/payments-api.yaml", "remediation-config": "remediation/remediation.yaml"},
			[]string{"gate-1", "remediate-1", "publish-report"}, "remediate-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := workdir(t, bin)
			run := runPipeline(t, bin, work, tc.params)
			if !slices.Equal(run.ran, tc.ran) || run.failed != tc.failed {
				t.Errorf("ran %v, failed %q; want %v, failed %q\n%s", run.ran, run.failed, tc.ran, tc.failed, run.log)
			}
			t.Log(run.log)
		})
	}
}
