package catalog

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

func withFields(fields string) context.Context {
	ctx := context.Background()
	cfg := config.FromContextOrDefaults(ctx)
	cfg.FeatureFlags.EnableAPIFields = fields
	return config.ToContext(ctx, cfg)
}

// pipelineWith wraps pipeline tasks (a YAML list) into a Pipeline.
func pipelineWith(t *testing.T, tasks string) *pipelinev1.Pipeline {
	t.Helper()
	src := "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: usage\nspec:\n  workspaces:\n    - name: source\n  tasks:\n" + indent(tasks, "    ")
	var p pipelinev1.Pipeline
	if err := yaml.UnmarshalStrict([]byte(src), &p); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return &p
}

func indent(s, by string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(by + l + "\n")
	}
	return b.String()
}

// TestUsageSnippets: the taskRefs the READMEs show (hub resolver with
// type artifact, git resolver, bundles, and the project README's) are valid
// Tekton. Remote resolution is a beta API field in Tekton v1.10.0, so they
// validate with enable-api-fields beta (the default) and not with stable,
// which the READMEs say.
func TestUsageSnippets(t *testing.T) {
	var snippets []string
	readmes, _ := filepath.Glob("tekton/task/*/*/README.md")
	for _, f := range readmes {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(filepath.Dir(f)))
		n := 0
		for _, m := range yamlBlock.FindAllStringSubmatch(string(b), -1) {
			if strings.HasPrefix(m[1], "taskRef:") {
				snippets = append(snippets, "- name: "+name+"\n"+indent(m[1], "  "))
				n++
			}
		}
		if n != 3 {
			t.Errorf("%s: %d taskRef examples, want 3 (hub, git, bundle)", f, n)
		}
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range yamlBlock.FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], "taskRef:") && strings.Contains(m[1], "pulsegate-gate") {
			snippets = append(snippets, m[1])
			found = true
		}
	}
	if !found {
		t.Error("README.md shows no pulsegate-gate taskRef")
	}
	for _, s := range snippets {
		p := pipelineWith(t, s)
		beta := withFields(config.BetaAPIFields)
		p.SetDefaults(beta)
		if err := p.Validate(beta); err != nil {
			t.Errorf("with enable-api-fields beta: %v\n%s", err, s)
		}
		st := stable()
		if err := p.Validate(st); err == nil || !strings.Contains(err.Error(), "beta") {
			t.Errorf("with enable-api-fields stable the resolver should need beta, got %v", err)
		}
		if !strings.Contains(s, "resolver: hub") {
			continue
		}
		if !strings.Contains(s, "value: artifact") && !strings.Contains(s, "{name: type, value: artifact}") {
			t.Errorf("a hub resolver example without type artifact:\n%s", s)
		}
	}
}
