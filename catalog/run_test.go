package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/reconciler/taskrun/resources"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The local step runner: every step of every task and template runs here,
// after Tekton's and Argo's own substitution code has put the params in,
// with the pulsegate binary (built from this checkout) on PATH, the
// workspace or volume in a temporary folder, and the result files in
// another. The container's paths map onto those folders; nothing else of
// the container is imitated.

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// pulsegate builds the binary once per test process and returns the folder
// it is in.
func pulsegate(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pulsegate-catalog-bin-")
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "pulsegate"), "./cmd/pulsegate")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/pulsegate: %v\n%s", err, out)
			return
		}
		binDir = dir
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// workdir is the demo as the workspace (Tekton) or volume (Argo) holds it:
// the configuration, inventory, releases and telemetry of examples/demo,
// the demo's Signals as JSON lines, the landing set and the policy input
// (made by the binary, so each step can run on its own), and a fetch
// configuration pointing at an Alertmanager API serving a real payload.
func workdir(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples/demo")); err != nil {
		t.Fatal(err)
	}
	pg := filepath.Join(bin, "pulsegate")
	run := func(out string, args ...string) {
		cmd := exec.Command(pg, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("setup: pulsegate %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		if out == "/dev/null" {
			return
		}
		f, err := os.OpenFile(filepath.Join(dir, out), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(stdout.Bytes())
		f.Close()
	}
	for _, typ := range []string{"falco", "k8s-audit", "tetragon"} {
		run("signals.jsonl", "normalize", "--type", typ, "telemetry/"+typ+".jsonl")
	}
	run("targets.json", "correlate", "--release", "releases/payments-api.yaml", "--inventory", "inventory.json", "--cluster", "prod-eu-1", "-o", "json")
	run("scores.json", "score", "--targets", "targets.json", "--inventory", "inventory.json", "--signals", "signals.jsonl", "--now", demoNow)
	run("/dev/null", "gate", "--config", "pulsegate.yaml", "--release", "releases/storefront-web.yaml", "--report-dir", "report-proceed")

	am := httptest.NewServer(http.HandlerFunc(alertmanager(t)))
	t.Cleanup(am.Close)
	cfg := "telemetry:\n  - name: alertmanager\n    type: alertmanager\n    url: " + am.URL + "\n"
	if err := os.WriteFile(filepath.Join(dir, "fetch.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const demoNow = "2026-11-30T10:00:00Z"

// alertmanager serves /api/v2/alerts: the alerts of a real Alertmanager
// v0.22 alert-groups response (karma's mock, in the shared data).
func alertmanager(t *testing.T) func(http.ResponseWriter, *http.Request) {
	b, err := os.ReadFile("../../shared/data/telemetry/prometheus-alertmanager/karma_mock_alertmanager_0.22.0_api_v2_alerts_groups.json")
	if err != nil {
		t.Fatalf("the shared Alertmanager payload: %v", err)
	}
	var groups []struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(b, &groups); err != nil {
		t.Fatal(err)
	}
	var alerts []json.RawMessage
	for _, g := range groups {
		alerts = append(alerts, g.Alerts...)
	}
	body, _ := json.Marshal(alerts)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// stepRun is the outcome of a task or template run.
type stepRun struct {
	failed  bool // the task or template failed
	code    int  // the last step's exit code
	results map[string]string
	log     string
}

// paths maps the container's paths onto the machine's folders.
type paths map[string]string

func (p paths) mapArg(s string) string {
	for from, to := range p {
		if s == from || strings.HasPrefix(s, from+"/") {
			return to + strings.TrimPrefix(s, from)
		}
	}
	return s
}

func execStep(t *testing.T, bin string, where string, command, args []string, script, workingDir string, env []corev1.EnvVar, p paths) (int, string) {
	t.Helper()
	if script != "" {
		f := filepath.Join(t.TempDir(), "script")
		if err := os.WriteFile(f, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		command = append([]string{"/bin/sh", f}, command...)
	}
	if len(command) == 0 {
		t.Fatalf("%s: no command: the image's entrypoint is not imitated here", where)
	}
	var argv []string
	for _, a := range append(append([]string{}, command...), args...) {
		argv = append(argv, p.mapArg(a))
	}
	name := argv[0]
	if name == "pulsegate" {
		name = filepath.Join(bin, "pulsegate")
	}
	cmd := exec.Command(name, argv[1:]...)
	cmd.Dir = p.mapArg(workingDir)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir()}
	for _, e := range env {
		if e.ValueFrom != nil {
			t.Fatalf("%s: env %s from a reference is not imitated", where, e.Name)
		}
		cmd.Env = append(cmd.Env, e.Name+"="+p.mapArg(e.Value))
	}
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return code, fmt.Sprintf("$ %s\n%s[exit %d]\n", strings.Join(argv, " "), out, code)
}

// runTektonTask substitutes params, workspaces and results into the task
// with Tekton's own reconciler code, then runs its steps in order as the
// entrypoint does: a failing step stops the task unless its onError is
// continue.
func runTektonTask(t *testing.T, bin string, task *pipelinev1.Task, params map[string]string, work string) stepRun {
	t.Helper()
	ctx := stable()
	task = task.DeepCopy()
	task.SetDefaults(ctx)
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: task.Name + "-run", Namespace: "default"}}
	for k, v := range params {
		tr.Spec.Params = append(tr.Spec.Params, pipelinev1.Param{Name: k, Value: *pipelinev1.NewStructuredValues(v)})
	}
	spec := &task.Spec
	spec = resources.ApplyParameters(spec, tr, spec.Params...)
	spec = resources.ApplyContexts(spec, task.Name, tr)
	var bindings []pipelinev1.WorkspaceBinding
	for _, w := range spec.Workspaces {
		if !w.Optional {
			bindings = append(bindings, pipelinev1.WorkspaceBinding{Name: w.Name, EmptyDir: &corev1.EmptyDirVolumeSource{}})
		}
	}
	spec = resources.ApplyWorkspaces(ctx, spec, spec.Workspaces, bindings, nil)
	spec = resources.ApplyResults(spec)

	results := t.TempDir()
	p := paths{"/workspace/workdir": work, "/tekton/results": results}
	run := stepRun{results: map[string]string{}}
	for _, s := range spec.Steps {
		if strings.Contains(strings.Join(append(append([]string{}, s.Args...), s.Command...), " ")+s.Script, "$(") {
			t.Fatalf("step %s: a variable is left after substitution: %q %q", s.Name, s.Command, s.Args)
		}
		code, log := execStep(t, bin, task.Name+"/"+s.Name, s.Command, s.Args, s.Script, s.WorkingDir, s.Env, p)
		run.log += log
		run.code = code
		if code != 0 {
			switch s.OnError {
			case pipelinev1.Continue:
			case pipelinev1.StopAndFail, "":
				run.failed = true
			default:
				t.Fatalf("step %s: onError %q after substitution", s.Name, s.OnError)
			}
		}
		if run.failed {
			break
		}
	}
	for _, r := range spec.Results {
		if b, err := os.ReadFile(filepath.Join(results, r.Name)); err == nil {
			run.results[r.Name] = string(b)
		}
	}
	return run
}

// runArgoTemplate substitutes the arguments into a container template with
// Argo's own ProcessArgs, runs the container's command, and reads the
// output parameters from their paths.
func runArgoTemplate(t *testing.T, bin string, tmpl *wfv1.Template, params, globals map[string]string, work string) stepRun {
	t.Helper()
	args := wfv1.Arguments{}
	for k, v := range params {
		args.Parameters = append(args.Parameters, wfv1.Parameter{Name: k, Value: wfv1.AnyStringPtr(v)})
	}
	g := common.Parameters{}
	for k, v := range globals {
		g["workflow.parameters."+k] = v
	}
	nt, err := common.ProcessArgs(tmpl, &args, g, common.Parameters{}, false, "default", nil)
	if err != nil {
		t.Fatalf("argo: template %s: %v", tmpl.Name, err)
	}
	c := nt.Container
	if c == nil {
		t.Fatalf("template %s has no container", tmpl.Name)
	}
	if s := strings.Join(append(append([]string{}, c.Command...), c.Args...), " "); strings.Contains(s, "{{") {
		t.Fatalf("template %s: a variable is left after substitution: %s", tmpl.Name, s)
	}
	tmp := t.TempDir()
	p := paths{"/work": work, "/tmp": tmp}
	code, log := execStep(t, bin, "template "+tmpl.Name, c.Command, c.Args, "", c.WorkingDir, c.Env, p)
	run := stepRun{code: code, failed: code != 0, log: log, results: map[string]string{}}
	for _, o := range nt.Outputs.Parameters {
		if o.ValueFrom == nil || o.ValueFrom.Path == "" {
			continue
		}
		if b, err := os.ReadFile(p.mapArg(o.ValueFrom.Path)); err == nil {
			run.results[o.Name] = string(b)
		}
	}
	return run
}

// scenario is one run of one step on the demo, and what must come of it.
type scenario struct {
	name    string
	step    string            // the tasks/ step: fetch, correlate, ...
	params  map[string]string // catalog params (paths relative to the workdir)
	needs   []string          // pulsegate command and flags the step needs, checked first
	failed  bool              // the task or template fails
	results map[string]string // expected result values ("*": present and not empty)
	files   []string          // files the step writes, relative to the workdir
}

func scenarios() []scenario {
	return []scenario{
		{name: "fetch", step: "fetch", params: map[string]string{"config": "fetch.yaml", "output": "fetched.jsonl"}, files: []string{"fetched.jsonl"}},
		{name: "correlate", step: "correlate", params: map[string]string{"release": "releases/payments-api.yaml", "cluster": "prod-eu-1", "output": "targets-out.json"}, needs: []string{"correlate", "--out"}, files: []string{"targets-out.json"}},
		{name: "score", step: "score", params: map[string]string{"now": demoNow, "output": "scores-out.json"}, results: map[string]string{"risk-score": "*"}, files: []string{"scores-out.json"}},
		{name: "decide block", step: "decide", params: map[string]string{"on-block": "continue"}, needs: []string{"decide", "--results-dir", "--report-dir"}, results: map[string]string{"verdict": "block", "summary": "*", "risk-score": "*", "decision-id": "*"}, files: []string{"pulsegate-report/decision.json"}},
		{name: "decide fails on block", step: "decide", params: map[string]string{}, needs: []string{"decide", "--results-dir", "--report-dir"}, failed: true, results: map[string]string{"verdict": "block"}},
		{name: "gate block continue", step: "gate", params: map[string]string{"release": "releases/payments-api.yaml", "on-block": "continue"}, results: map[string]string{"verdict": "block", "summary": "*", "risk-score": "*", "decision-id": "*"}, files: []string{"pulsegate-record/decision.json", "pulsegate-record/input.json", "pulsegate-record/report.md"}},
		{name: "gate block fails", step: "gate", params: map[string]string{"release": "releases/payments-api.yaml"}, failed: true, results: map[string]string{"verdict": "block"}},
		{name: "gate proceed", step: "gate", params: map[string]string{"release": "releases/storefront-web.yaml", "record": "rec-storefront"}, results: map[string]string{"verdict": "proceed"}, files: []string{"rec-storefront/decision.json"}},
		// Without a cluster: a decision that proceeds needs no remediation.
		// The actions themselves are tested against a real API server in
		// tasks/remediate.
		{name: "remediate nothing to do", step: "remediate", params: map[string]string{"remediation-config": "remediation/remediation.yaml", "decision": "report-proceed/decision.json"}, needs: []string{"remediate", "--results-dir"}, results: map[string]string{"outcome": "none"}},
		{name: "train", step: "train", params: map[string]string{"window": "5m"}, needs: []string{"train", "--results-dir"}, results: map[string]string{"promoted": "true", "outcome": "*", "model-digest": "*"}, files: []string{"model.json"}},
	}
}

var tektonTaskOf = map[string]string{
	"fetch": "pulsegate-fetch-telemetry", "correlate": "pulsegate-correlate", "score": "pulsegate-score",
	"decide": "pulsegate-decide", "gate": "pulsegate-gate", "remediate": "pulsegate-remediate", "train": "pulsegate-retrain",
}

func (sc scenario) ready(t *testing.T, bin string) {
	t.Helper()
	if len(sc.needs) == 0 {
		return
	}
	out, err := exec.Command(filepath.Join(bin, "pulsegate"), sc.needs[0], "--help").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), sc.needs[0]) && !strings.Contains(string(out), "pulsegate "+sc.needs[0]) {
		t.Skipf("missing prerequisite: this build of pulsegate has no %q command (a later issue builds it)", sc.needs[0])
	}
	for _, f := range sc.needs[1:] {
		if !strings.Contains(string(out), f+" ") {
			t.Skipf("missing prerequisite: 'pulsegate %s' has no %s flag yet", sc.needs[0], f)
		}
	}
}

func (sc scenario) check(t *testing.T, run stepRun, work string) {
	t.Helper()
	if run.failed != sc.failed {
		t.Fatalf("failed = %v, want %v\n%s", run.failed, sc.failed, run.log)
	}
	total := 0
	for name, want := range sc.results {
		got, ok := run.results[name]
		switch {
		case !ok || got == "":
			t.Errorf("result %s: not written\n%s", name, run.log)
		case want != "*" && got != want:
			t.Errorf("result %s = %q, want %q", name, got, want)
		}
	}
	for name, v := range run.results {
		total += len(name) + len(strconv.Quote(v)) + 40 // JSON keys and quoting of the termination message
	}
	if total >= 4096 {
		t.Errorf("results take %d bytes of the 4 KB termination message", total)
	}
	if v, ok := run.results["risk-score"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || f > 100 {
			t.Errorf("risk-score %q: want a number in 0..100", v)
		}
	}
	for _, f := range sc.files {
		st, err := os.Stat(filepath.Join(work, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("output %s: %v (size %d)\n%s", f, err, sizeOf(st), run.log)
		}
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

func TestTektonStepsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the pulsegate binary")
	}
	bin := pulsegate(t)
	tasks := tektonTasks(t)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			task := tasks[tektonTaskOf[sc.step]]
			if task == nil {
				t.Fatalf("no Tekton task %s", tektonTaskOf[sc.step])
			}
			sc.ready(t, bin)
			work := workdir(t, bin)
			run := runTektonTask(t, bin, task, sc.params, work)
			sc.check(t, run, work)
			t.Log(run.log)
		})
	}
	t.Run("pipeline finally publish-report", func(t *testing.T) {
		work := workdir(t, bin)
		gate := runTektonTask(t, bin, tasks["pulsegate-gate"], map[string]string{"release": "releases/payments-api.yaml", "on-block": "continue"}, work)
		if gate.results["verdict"] != "block" {
			t.Fatalf("gate: %s", gate.log)
		}
		p := tektonPipelines(t)["pulsegate-gated-deploy"]
		for _, f := range p.Spec.Finally {
			if f.TaskSpec == nil {
				continue
			}
			task := &pipelinev1.Task{ObjectMeta: metav1.ObjectMeta{Name: f.Name}, Spec: f.TaskSpec.TaskSpec}
			params := map[string]string{}
			for _, pp := range f.Params {
				params[pp.Name] = strings.ReplaceAll(pp.Value.StringVal, "$(params.record)", "pulsegate-record")
			}
			run := runTektonTask(t, bin, task, params, work)
			if run.failed {
				t.Fatalf("finally %s failed:\n%s", f.Name, run.log)
			}
			if !strings.Contains(run.log, "the same decision") {
				t.Errorf("finally %s: the replay does not say the decision is the same:\n%s", f.Name, run.log)
			}
		}
	})
}

func TestArgoStepsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the pulsegate binary")
	}
	bin := pulsegate(t)
	ran := map[string]bool{}
	for file, spec := range argoTemplates(t) {
		for _, sc := range scenarios() {
			name := sc.step
			if name == "train" {
				name = "retrain"
			}
			var tmpl *wfv1.Template
			for i := range spec.Templates {
				if spec.Templates[i].Name == name && spec.Templates[i].Container != nil {
					tmpl = &spec.Templates[i]
				}
			}
			if tmpl == nil {
				continue
			}
			ran[sc.step] = true
			t.Run(filepath.Dir(file)+"/"+sc.name, func(t *testing.T) {
				sc.ready(t, bin)
				params := map[string]string{}
				for k, v := range sc.params {
					if k != "on-block" {
						params[k] = v
					}
				}
				globals := map[string]string{}
				for _, p := range spec.Arguments.Parameters {
					globals[p.Name] = p.Value.String()
				}
				if sc.step == "train" {
					for k, v := range params {
						globals[k] = v // the CronWorkflow's arguments
					}
				}
				work := workdir(t, bin)
				run := runArgoTemplate(t, bin, tmpl, params, globals, work)
				want := sc
				// Argo's containers exit 1 on a block; remediate-and-retry
				// branches on the exit code with continueOn.
				want.failed = sc.failed || sc.params["on-block"] == "continue" && sc.results["verdict"] == "block"
				want.check(t, run, work)
				t.Log(run.log)
			})
		}
	}
	// remediate-and-retry creates the Workflow with a resource template:
	// TestArgoRemediateWorkflow checks it.
	for _, step := range []string{"fetch", "correlate", "score", "decide", "gate", "train"} {
		if !ran[step] {
			t.Errorf("no Argo container template runs the %s step", step)
		}
	}
}

// healNodes stands for the user's remediation WorkflowTemplate.
const healNodes = `apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: heal-nodes
spec:
  entrypoint: main
  arguments:
    parameters:
      - name: attempt
      - name: record
  templates:
    - name: main
      container:
        image: registry.invalid/heal:1.0@sha256:1111111111111111111111111111111111111111111111111111111111111111
        command: [heal]
`

// TestArgoRemediateWorkflow: the resource template's manifest, after
// Argo's own substitution of the arguments, is a Workflow of the user's
// WorkflowTemplate that Argo's validation accepts.
func TestArgoRemediateWorkflow(t *testing.T) {
	g := argoGetters(t)
	var heal wfv1.WorkflowTemplate
	if err := yaml.UnmarshalStrict([]byte(healNodes), &heal); err != nil {
		t.Fatal(err)
	}
	g.wf[heal.Name] = &heal
	n := 0
	for file, spec := range argoTemplates(t) {
		for i := range spec.Templates {
			tmpl := &spec.Templates[i]
			if tmpl.Resource == nil {
				continue
			}
			n++
			args := wfv1.Arguments{Parameters: []wfv1.Parameter{
				{Name: "remediation-template", Value: wfv1.AnyStringPtr("heal-nodes")},
				{Name: "attempt", Value: wfv1.AnyStringPtr("2")},
				{Name: "record", Value: wfv1.AnyStringPtr("pulsegate-record")},
			}}
			nt, err := common.ProcessArgs(tmpl, &args, common.Parameters{}, common.Parameters{}, false, "default", nil)
			if err != nil {
				t.Fatalf("%s: %s: %v", file, tmpl.Name, err)
			}
			r := nt.Resource
			if r.Action != "create" || r.SuccessCondition == "" || r.FailureCondition == "" {
				t.Errorf("%s: %s: want action create with a success and a failure condition", file, tmpl.Name)
			}
			var wf wfv1.Workflow
			if err := yaml.UnmarshalStrict([]byte(r.Manifest), &wf); err != nil {
				t.Fatalf("%s: %s: manifest: %v\n%s", file, tmpl.Name, err, r.Manifest)
			}
			if wf.Spec.WorkflowTemplateRef == nil || wf.Spec.WorkflowTemplateRef.Name != "heal-nodes" || wf.Labels["pulsegate.dev/attempt"] != "2" {
				t.Errorf("%s: %s: the Workflow does not run heal-nodes for attempt 2:\n%s", file, tmpl.Name, r.Manifest)
			}
			if err := validateArgo(g, doc{file: file, kind: "Workflow", raw: []byte(r.Manifest)}); err != nil {
				t.Errorf("%s: %s: Argo rejects the remediation Workflow: %v", file, tmpl.Name, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no resource template")
	}
}
