package catalog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// doc is one YAML document of a catalog file.
type doc struct {
	file string // relative to the catalog folder
	n    int    // 1-based document number in the file
	kind string
	raw  []byte
}

func (d doc) String() string { return fmt.Sprintf("%s#%d (%s)", d.file, d.n, d.kind) }

// docs reads every YAML document under dirs (relative to this folder).
func docs(t testing.TB, dirs ...string) []doc {
	t.Helper()
	var out []doc
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			if !strings.HasSuffix(path, ".yaml") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, part := range splitYAML(b) {
				var h struct{ Kind string }
				if err := yaml.Unmarshal(part, &h); err != nil {
					return fmt.Errorf("%s#%d: %w", path, i+1, err)
				}
				if h.Kind == "" {
					continue
				}
				out = append(out, doc{file: path, n: i + 1, kind: h.Kind, raw: part})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].file < out[j].file })
	if len(out) == 0 {
		t.Fatalf("no YAML documents under %v", dirs)
	}
	return out
}

func splitYAML(b []byte) [][]byte {
	var out [][]byte
	for _, p := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		if len(bytes.TrimSpace(p)) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// strict decodes a document into v; unknown fields are errors, as they are
// for the API server.
func strict(t testing.TB, d doc, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(d.raw, v); err != nil {
		t.Fatalf("%s: %v", d, err)
	}
}

func tektonTasks(t testing.TB) map[string]*pipelinev1.Task {
	out := map[string]*pipelinev1.Task{}
	for _, d := range docs(t, "tekton") {
		if d.kind == "Task" {
			var task pipelinev1.Task
			strict(t, d, &task)
			out[task.Name] = &task
		}
	}
	return out
}

func tektonPipelines(t testing.TB) map[string]*pipelinev1.Pipeline {
	out := map[string]*pipelinev1.Pipeline{}
	for _, d := range docs(t, "tekton") {
		if d.kind == "Pipeline" {
			var p pipelinev1.Pipeline
			strict(t, d, &p)
			out[p.Name] = &p
		}
	}
	return out
}

// argoTemplates returns the templates of the ClusterWorkflowTemplate and
// the WorkflowTemplate by package folder.
func argoTemplates(t testing.TB) map[string]*wfv1.WorkflowSpec {
	out := map[string]*wfv1.WorkflowSpec{}
	for _, d := range docs(t, "argo") {
		switch d.kind {
		case "ClusterWorkflowTemplate":
			var c wfv1.ClusterWorkflowTemplate
			strict(t, d, &c)
			out[d.file] = &c.Spec
		case "WorkflowTemplate":
			var w wfv1.WorkflowTemplate
			strict(t, d, &w)
			out[d.file] = &w.Spec
		case "CronWorkflow":
			var c wfv1.CronWorkflow
			strict(t, d, &c)
			out[d.file] = &c.Spec.WorkflowSpec
		}
	}
	return out
}
