package catalog

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/correlate"
	"github.com/pulsegate/pulsegate/tasks/decide"
	"github.com/pulsegate/pulsegate/tasks/fetch"
	"github.com/pulsegate/pulsegate/tasks/gate"
	"github.com/pulsegate/pulsegate/tasks/remediate"
	"github.com/pulsegate/pulsegate/tasks/score"
	"github.com/pulsegate/pulsegate/tasks/train"
)

// step is one row of the one-name-per-step table, with its typed
// definitions from tasks/.
type step struct {
	name, command, tekton, argo string
	params                      []tasks.Param
	results                     []tasks.Result
}

var steps = []step{
	{"fetch", "fetch", "pulsegate-fetch-telemetry", "fetch", fetch.CatalogParams, fetch.CatalogResults},
	{"correlate", "correlate", "pulsegate-correlate", "correlate", correlate.CatalogParams, correlate.CatalogResults},
	{"score", "score", "pulsegate-score", "score", score.CatalogParams, score.CatalogResults},
	{"decide", "decide", "pulsegate-decide", "decide", decide.CatalogParams, decide.CatalogResults},
	{"gate", "gate", "pulsegate-gate", "gate", gate.CatalogParams, gate.CatalogResults},
	// Argo's remediate-and-retry creates the remediation Workflow itself
	// (a resource template), so only Tekton runs `pulsegate remediate`.
	{"remediate", "remediate", "pulsegate-remediate", "", remediate.CatalogParams, remediate.CatalogResults},
	{"train", "train", "pulsegate-retrain", "retrain", train.CatalogParams, train.CatalogResults},
}

func (s step) want(catalog string) []tasks.Param {
	var out []tasks.Param
	for _, p := range s.params {
		if p.Only == "" || p.Only == catalog {
			out = append(out, p)
		}
	}
	return out
}

// passes reports whether args pass the param's value to flag.
func passes(args []string, flag, ref string) bool {
	for i, a := range args {
		if a == flag+"="+ref || a == flag && i+1 < len(args) && args[i+1] == ref {
			return true
		}
	}
	return false
}

func TestParamsMatchTasks(t *testing.T) {
	tek := tektonTasks(t)
	for _, s := range steps {
		t.Run("tekton/"+s.tekton, func(t *testing.T) {
			task := tek[s.tekton]
			if task == nil {
				t.Fatalf("no Tekton task %s", s.tekton)
			}
			var names []string
			for _, p := range task.Spec.Params {
				names = append(names, p.Name)
			}
			var args []string
			for _, st := range task.Spec.Steps {
				args = append(args, st.Args...)
				if st.Args[0] != s.command || len(st.Command) != 1 || st.Command[0] != "pulsegate" {
					t.Errorf("step %s runs %v %v, want pulsegate %s", st.Name, st.Command, st.Args[:1], s.command)
				}
			}
			want := s.want("tekton")
			for _, p := range want {
				i := slices.Index(names, p.Name)
				if i < 0 {
					t.Errorf("param %s of tasks/%s is not in the task", p.Name, s.name)
					continue
				}
				ps := task.Spec.Params[i]
				switch {
				case p.Required && ps.Default != nil:
					t.Errorf("param %s: required in tasks/%s, has a default in the task", p.Name, s.name)
				case !p.Required && (ps.Default == nil || ps.Default.StringVal != p.Default):
					t.Errorf("param %s: default %v in the task, %q in tasks/%s", p.Name, ps.Default, p.Default, s.name)
				case ps.Type != "" && ps.Type != pipelinev1.ParamTypeString:
					t.Errorf("param %s: type %s", p.Name, ps.Type)
				}
				if p.Flag != "" && !passes(args, p.Flag, "$(params."+p.Name+")") {
					t.Errorf("param %s: the step does not pass it as %s", p.Name, p.Flag)
				}
			}
			for _, n := range names {
				if !slices.ContainsFunc(want, func(p tasks.Param) bool { return p.Name == n }) {
					t.Errorf("param %s of the task is not in tasks/%s's CatalogParams", n, s.name)
				}
			}
			var results []string
			for _, r := range task.Spec.Results {
				results = append(results, r.Name)
			}
			if got, want := strings.Join(results, ","), resultNames(s.results); got != want {
				t.Errorf("results %s, tasks/%s declares %s", got, s.name, want)
			}
		})
	}
	specs := argoTemplates(t)
	for file, spec := range specs {
		for _, s := range steps {
			var tmpl *wfv1.Template
			for i := range spec.Templates {
				if spec.Templates[i].Name == s.argo && s.argo != "" {
					tmpl = &spec.Templates[i]
				}
			}
			if tmpl == nil {
				continue
			}
			t.Run(filepath.Dir(file)+"/"+s.argo, func(t *testing.T) {
				want := s.want("argo")
				var names []string
				for _, p := range tmpl.Inputs.Parameters {
					names = append(names, p.Name)
					i := slices.IndexFunc(want, func(w tasks.Param) bool { return w.Name == p.Name })
					if i < 0 {
						t.Errorf("input %s is not in tasks/%s's CatalogParams", p.Name, s.name)
						continue
					}
					w := want[i]
					def := ""
					if p.Value != nil {
						def = p.Value.String()
						// The CronWorkflow's defaults are its arguments.
						if strings.HasPrefix(def, "{{workflow.parameters.") {
							def = ""
							for _, a := range spec.Arguments.Parameters {
								if "{{workflow.parameters."+a.Name+"}}" == p.Value.String() {
									def = a.Value.String()
								}
							}
						}
					}
					if w.Required != (p.Value == nil) || !w.Required && def != w.Default {
						t.Errorf("input %s: default %q, tasks/%s says %q (required %v)", p.Name, def, s.name, w.Default, w.Required)
					}
					if w.Flag != "" && !passes(tmpl.Container.Args, w.Flag, "{{inputs.parameters."+p.Name+"}}") {
						t.Errorf("input %s: the container does not pass it as %s", p.Name, w.Flag)
					}
				}
				for _, w := range want {
					if !slices.Contains(names, w.Name) {
						t.Errorf("param %s of tasks/%s is not an input of the template", w.Name, s.name)
					}
				}
				var outs []string
				for _, o := range tmpl.Outputs.Parameters {
					outs = append(outs, o.Name)
				}
				if got, want := strings.Join(outs, ","), resultNames(s.results); got != want {
					t.Errorf("output parameters %s, tasks/%s declares %s", got, s.name, want)
				}
			})
		}
	}
}

func resultNames(rs []tasks.Result) string {
	var n []string
	for _, r := range rs {
		n = append(n, r.Name)
	}
	return strings.Join(n, ",")
}

// TestResultBudget: the declared result sizes fit Tekton's 4 KB
// termination message, with room for its JSON.
func TestResultBudget(t *testing.T) {
	for _, s := range steps {
		total := 0
		for _, r := range s.results {
			total += r.MaxBytes + len(r.Name) + 64
		}
		if total > 3500 {
			t.Errorf("%s: results may take %d bytes of the 4096", s.name, total)
		}
	}
}

// TestFlagsExist: every flag the catalog passes is one the command has.
func TestFlagsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the pulsegate binary")
	}
	bin := pulsegate(t)
	for _, s := range steps {
		out, err := exec.Command(filepath.Join(bin, "pulsegate"), s.command, "--help").CombinedOutput()
		if err != nil {
			t.Errorf("pulsegate %s --help: %v", s.command, err)
			continue
		}
		flags := []string{"--results-dir"}
		for _, p := range s.params {
			if p.Flag != "" {
				flags = append(flags, p.Flag)
			}
		}
		if len(s.results) == 0 {
			flags = flags[1:]
		}
		for _, f := range flags {
			if !strings.Contains(string(out), f+" ") {
				t.Errorf("pulsegate %s has no %s flag", s.command, f)
			}
		}
	}
}

// TestBinaryLean: Tekton's and Argo's modules are for these tests only;
// the pulsegate binary never links them.
func TestBinaryLean(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", "./cmd/pulsegate")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/tektoncd/") || strings.HasPrefix(p, "github.com/argoproj/") {
			t.Errorf("cmd/pulsegate links %s", p)
		}
	}
}
