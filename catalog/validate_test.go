package catalog

import (
	"context"
	"fmt"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	"github.com/tektoncd/pipeline/pkg/apis/config"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// stable is a context as a Tekton controller with enable-api-fields
// "stable" has: the catalog must not need beta or alpha features.
func stable() context.Context {
	ctx := context.Background()
	cfg := config.FromContextOrDefaults(ctx)
	cfg.FeatureFlags.EnableAPIFields = config.StableAPIFields
	return config.ToContext(ctx, cfg)
}

// validateTekton runs Tekton's own defaulting and validation on one
// document, as the admission webhook does.
func validateTekton(d doc) error {
	ctx := stable()
	switch d.kind {
	case "Task":
		var task pipelinev1.Task
		if err := yaml.UnmarshalStrict(d.raw, &task); err != nil {
			return err
		}
		task.SetDefaults(ctx)
		if fe := task.Validate(ctx); fe != nil {
			return fe
		}
	case "Pipeline":
		var p pipelinev1.Pipeline
		if err := yaml.UnmarshalStrict(d.raw, &p); err != nil {
			return err
		}
		p.SetDefaults(ctx)
		if fe := p.Validate(ctx); fe != nil {
			return fe
		}
	case "TaskRun":
		var tr pipelinev1.TaskRun
		if err := yaml.UnmarshalStrict(d.raw, &tr); err != nil {
			return err
		}
		if tr.Name == "" {
			tr.Name = tr.GenerateName + "x7k2q" // the API server names it
		}
		tr.SetDefaults(ctx)
		if fe := tr.Validate(ctx); fe != nil {
			return fe
		}
	case "PipelineRun":
		var pr pipelinev1.PipelineRun
		if err := yaml.UnmarshalStrict(d.raw, &pr); err != nil {
			return err
		}
		if pr.Name == "" {
			pr.Name = pr.GenerateName + "x7k2q"
		}
		pr.SetDefaults(ctx)
		if fe := pr.Validate(ctx); fe != nil {
			return fe
		}
	case "ServiceAccount", "Role", "RoleBinding":
		return nil // checked by the lint
	default:
		return fmt.Errorf("unexpected kind %s in the Tekton catalog", d.kind)
	}
	return nil
}

func TestTektonValidates(t *testing.T) {
	n := 0
	for _, d := range docs(t, "tekton") {
		if err := validateTekton(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		n++
	}
	t.Logf("%d Tekton documents valid with enable-api-fields: stable", n)
}

// templates is an in-memory getter for Argo's template resolution: the
// catalog's own WorkflowTemplates and ClusterWorkflowTemplates.
type templates struct {
	wf  map[string]*wfv1.WorkflowTemplate
	cwf map[string]*wfv1.ClusterWorkflowTemplate
}

type wfGetter templates
type cwfGetter templates

func (g wfGetter) Get(name string) (*wfv1.WorkflowTemplate, error) {
	if t, ok := g.wf[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("workflowtemplate %q not found", name)
}

func (g cwfGetter) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if t, ok := g.cwf[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("clusterworkflowtemplate %q not found", name)
}

func argoGetters(t testing.TB) templates {
	g := templates{wf: map[string]*wfv1.WorkflowTemplate{}, cwf: map[string]*wfv1.ClusterWorkflowTemplate{}}
	for _, d := range docs(t, "argo") {
		switch d.kind {
		case "WorkflowTemplate":
			var w wfv1.WorkflowTemplate
			strict(t, d, &w)
			g.wf[w.Name] = &w
		case "ClusterWorkflowTemplate":
			var c wfv1.ClusterWorkflowTemplate
			strict(t, d, &c)
			g.cwf[c.Name] = &c
		}
	}
	return g
}

// validateArgo runs argo-workflows' own offline validation on one document.
func validateArgo(g templates, d doc) error {
	switch d.kind {
	case "ClusterWorkflowTemplate":
		var c wfv1.ClusterWorkflowTemplate
		if err := yaml.UnmarshalStrict(d.raw, &c); err != nil {
			return err
		}
		return validate.ValidateClusterWorkflowTemplate(wfGetter(g), cwfGetter(g), &c, nil, validate.ValidateOpts{})
	case "WorkflowTemplate":
		var w wfv1.WorkflowTemplate
		if err := yaml.UnmarshalStrict(d.raw, &w); err != nil {
			return err
		}
		return validate.ValidateWorkflowTemplate(wfGetter(g), cwfGetter(g), &w, nil, validate.ValidateOpts{})
	case "CronWorkflow":
		var c wfv1.CronWorkflow
		if err := yaml.UnmarshalStrict(d.raw, &c); err != nil {
			return err
		}
		return validate.ValidateCronWorkflow(context.Background(), wfGetter(g), cwfGetter(g), &c, nil)
	case "Workflow":
		var w wfv1.Workflow
		if err := yaml.UnmarshalStrict(d.raw, &w); err != nil {
			return err
		}
		return validate.ValidateWorkflow(wfGetter(g), cwfGetter(g), &w, nil, validate.ValidateOpts{Submit: true})
	case "ServiceAccount", "Role", "RoleBinding":
		return nil
	}
	return fmt.Errorf("unexpected kind %s in the Argo catalog", d.kind)
}

func TestArgoValidates(t *testing.T) {
	g := argoGetters(t)
	for _, d := range docs(t, "argo") {
		if err := validateArgo(g, d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	// A user's Workflow that references the cluster templates, as the
	// README shows: resolved through the in-memory getters.
	for _, wf := range []string{userWorkflow("gate", "clusterScope: true"), userWorkflow("remediate-and-retry", "clusterScope: true")} {
		if err := validateArgo(g, doc{file: "README", kind: "Workflow", raw: []byte(wf)}); err != nil {
			t.Errorf("user workflow: %v\n%s", err, wf)
		}
	}
}

func userWorkflow(template, scope string) string {
	return `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: deploy-
spec:
  entrypoint: main
  serviceAccountName: pulsegate
  templates:
    - name: main
      steps:
        - - name: check
            templateRef:
              name: pulsegate
              template: ` + template + `
              ` + scope + `
            arguments:
              parameters:
                - name: release
                  value: deploy/
                - name: remediation-template
                  value: heal-nodes
`
}

// TestBrokenCopiesRejected: both validators reject a deliberately broken
// copy of a catalog file, so a pass above means something.
func TestBrokenCopiesRejected(t *testing.T) {
	tek := map[string]doc{}
	for _, d := range docs(t, "tekton") {
		tek[d.kind+"/"+d.file] = d
	}
	gate := find(t, docs(t, "tekton"), "pulsegate-gate.yaml")
	pipe := find(t, docs(t, "tekton"), "pulsegate-gated-deploy.yaml")
	for name, tc := range map[string]struct {
		d        doc
		old, new string
		want     string
	}{
		"undeclared param":         {gate, `"$(params.release)"`, `"$(params.releas)"`, "non-existent variable"},
		"bad onError":              {gate, "onError: $(params.on-block)", "onError: sometimes", "invalid value"},
		"bad result name":          {gate, "- name: risk-score", "- name: risk score", "risk score"},
		"unknown result in when":   {pipe, "$(tasks.gate-1.results.verdict)", "$(tasks.gate-9.results.verdict)", "nonexistent task"},
		"alpha field under stable": {gate, "      workingDir: $(workspaces.workdir.path)\n", "      workingDir: $(workspaces.workdir.path)\n      stdoutConfig:\n        path: /tekton/results/verdict\n", "stdout"},
	} {
		t.Run("tekton/"+name, func(t *testing.T) {
			err := validateTekton(broken(t, tc.d, tc.old, tc.new))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Tekton accepted the broken copy, or said something else: %v (want %q)", err, tc.want)
			}
		})
	}
	g := argoGetters(t)
	cwt := find(t, docs(t, "argo"), "pulsegate/0.1.0/manifests.yaml")
	cron := find(t, docs(t, "argo"), "pulsegate-retrain/0.1.0/manifests.yaml")
	for name, tc := range map[string]struct {
		d        doc
		old, new string
		want     string
	}{
		"unknown step template": {cwt, "template: remediate\n", "template: remediat\n", "remediat"},
		"undeclared input":      {cwt, `"{{inputs.parameters.record}}"`, `"{{inputs.parameters.recrd}}"`, "recrd"},
		"bad cron schedule":     {cron, `"30 2 * * *"`, `"30 2 * *"`, "schedule"},
		"bad concurrency":       {cron, "concurrencyPolicy: Forbid", "concurrencyPolicy: Sometimes", "concurrencyPolicy"},
	} {
		t.Run("argo/"+name, func(t *testing.T) {
			err := validateArgo(g, broken(t, tc.d, tc.old, tc.new))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Argo accepted the broken copy, or said something else: %v (want %q)", err, tc.want)
			}
		})
	}
}

func find(t testing.TB, ds []doc, suffix string) doc {
	t.Helper()
	for _, d := range ds {
		if strings.HasSuffix(d.file, suffix) {
			return d
		}
	}
	t.Fatalf("no catalog file %s", suffix)
	return doc{}
}

func broken(t testing.TB, d doc, old, new string) doc {
	t.Helper()
	if !strings.Contains(string(d.raw), old) {
		t.Fatalf("%s does not contain %q: update the test", d, old)
	}
	d.raw = []byte(strings.Replace(string(d.raw), old, new, 1))
	return d
}
