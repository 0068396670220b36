package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// hubCategories are the categories the Tekton catalog linter accepts
// (tektoncd/hub config.yaml).
var hubCategories = map[string]bool{
	"Automation": true, "Build Tools": true, "CLI": true, "Cloud": true, "Code Quality": true,
	"Continuous Integration": true, "Deployment": true, "Developers": true, "Git": true,
	"Image Build": true, "Integration & Delivery": true, "Kubernetes": true, "Language": true,
	"Messaging": true, "Monitoring": true, "Networking": true, "Openshift": true,
	"Publishing": true, "Security": true, "Storage": true, "Testing": true,
}

var (
	semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`)
	// pinned: repository, a tag, and the digest.
	pinned = regexp.MustCompile(`^[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[a-f0-9]{64}$`)
	// forbidden in scripts: values must reach a script through env or args.
	inScript = regexp.MustCompile(`\$\((params|workspaces)\.|\{\{\s*=?\s*(inputs|workflow\.parameters)\.`)
)

// lintTekton applies the catalog conventions to one Tekton document; the
// file's path gives the expected name and version.
func lintTekton(d doc) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	var meta struct {
		Metadata struct {
			Name        string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
	if err := yaml.Unmarshal(d.raw, &meta); err != nil {
		return err
	}
	m := meta.Metadata
	var spec *pipelinev1.TaskSpec
	var steps []stepInfo
	switch d.kind {
	case "Task", "Pipeline":
		// task/<name>/<version>/<name>.yaml
		parts := strings.Split(filepath.ToSlash(d.file), "/")
		if len(parts) != 5 || parts[0] != "tekton" || parts[2] != m.Name || parts[4] != m.Name+".yaml" {
			bad("path %s: want tekton/%s/%s/<version>/%s.yaml", d.file, strings.ToLower(d.kind), m.Name, m.Name)
		}
		ver := m.Labels["app.kubernetes.io/version"]
		if !semver.MatchString(ver) {
			bad("label app.kubernetes.io/version %q: want a semantic version like 0.1.0", ver)
		} else if len(parts) == 5 && parts[3] != ver {
			bad("label app.kubernetes.io/version %q differs from the version folder %s", ver, parts[3])
		}
		if v := m.Annotations["tekton.dev/pipelines.minVersion"]; !semver.MatchString(v) {
			bad("annotation tekton.dev/pipelines.minVersion %q: want a version like 0.56.0", v)
		}
		cats := m.Annotations["tekton.dev/categories"]
		if cats == "" {
			bad("annotation tekton.dev/categories missing")
		}
		for _, c := range strings.Split(cats, ",") {
			if c = strings.TrimSpace(c); c != "" && !hubCategories[c] {
				bad("category %q is not one of the hub's", c)
			}
		}
		for _, a := range []string{"tekton.dev/tags", "tekton.dev/displayName", "tekton.dev/platforms", "artifacthub.io/category", "artifacthub.io/license"} {
			if strings.TrimSpace(m.Annotations[a]) == "" {
				bad("annotation %s missing", a)
			}
		}
		dir := filepath.Dir(d.file)
		for _, f := range []string{"README.md", "samples"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				bad("%s: %v", dir, err)
			}
		}
	}
	switch d.kind {
	case "Task":
		var t pipelinev1.Task
		if err := yaml.Unmarshal(d.raw, &t); err != nil {
			return err
		}
		spec = &t.Spec
		errs = append(errs, lintDescription(t.Spec.Description))
		steps = append(steps, tektonSteps("", spec)...)
		for _, w := range spec.Workspaces {
			if secretish(w.Name) && (!w.Optional || !w.ReadOnly) {
				bad("workspace %s holds secrets: it must be optional and readOnly", w.Name)
			}
		}
	case "Pipeline":
		var p pipelinev1.Pipeline
		if err := yaml.Unmarshal(d.raw, &p); err != nil {
			return err
		}
		errs = append(errs, lintDescription(p.Spec.Description))
		for _, pt := range append(append([]pipelinev1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...) {
			if pt.TaskSpec != nil {
				ts := pt.TaskSpec.TaskSpec
				steps = append(steps, tektonSteps(pt.Name+"/", &ts)...)
			}
		}
	}
	errs = append(errs, lintSteps(steps)...)
	return errors.Join(errs...)
}

func lintDescription(s string) error {
	lines := strings.Split(s, "\n")
	if len(lines) < 3 || strings.TrimSpace(lines[0]) == "" || strings.TrimSpace(lines[1]) != "" || strings.TrimSpace(lines[2]) == "" {
		return errors.New("description: want a summary line, a blank line, then paragraphs")
	}
	return nil
}

func secretish(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "secret") || strings.Contains(n, "credential") || strings.Contains(n, "token")
}

// stepInfo is what the conventions look at in a Tekton step or an Argo
// container, whichever it came from.
type stepInfo struct {
	where   string
	image   string
	script  string
	sc      *corev1.SecurityContext
	env     []corev1.EnvVar
	envFrom []corev1.EnvFromSource
}

func tektonSteps(prefix string, spec *pipelinev1.TaskSpec) []stepInfo {
	var out []stepInfo
	for _, s := range spec.Steps {
		out = append(out, stepInfo{where: "step " + prefix + s.Name, image: s.Image, script: s.Script, sc: s.SecurityContext, env: s.Env, envFrom: s.EnvFrom})
	}
	for _, s := range spec.Sidecars {
		out = append(out, stepInfo{where: "sidecar " + prefix + s.Name, image: s.Image, script: s.Script, sc: s.SecurityContext, env: s.Env, envFrom: s.EnvFrom})
	}
	return out
}

func lintSteps(steps []stepInfo) []error {
	var errs []error
	for _, s := range steps {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", s.where, fmt.Sprintf(format, a...)))
		}
		if !pinned.MatchString(s.image) {
			bad("image %q: want repo:tag@sha256:<digest>", s.image)
		}
		if strings.Contains(s.image, ":latest@") || strings.HasSuffix(s.image, ":latest") {
			bad("image %q: no latest tag", s.image)
		}
		if loc := inScript.FindStringIndex(s.script); loc != nil {
			bad("script uses %q: pass values through env or args", s.script[loc[0]:loc[1]])
		}
		for _, e := range s.env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				bad("env %s from a Secret: mount secrets read-only instead", e.Name)
			}
		}
		for _, e := range s.envFrom {
			if e.SecretRef != nil {
				bad("envFrom a Secret: mount secrets read-only instead")
			}
		}
		c := s.sc
		if c == nil {
			bad("no securityContext")
			continue
		}
		if c.RunAsNonRoot == nil || !*c.RunAsNonRoot {
			bad("securityContext.runAsNonRoot must be true")
		}
		if c.RunAsUser == nil || *c.RunAsUser <= 0 {
			bad("securityContext.runAsUser must be a fixed non-root UID")
		}
		if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
			bad("securityContext.allowPrivilegeEscalation must be false")
		}
		if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
			bad("securityContext.readOnlyRootFilesystem must be true")
		}
		if c.Privileged != nil && *c.Privileged {
			bad("securityContext.privileged")
		}
		if c.Capabilities == nil || len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" || len(c.Capabilities.Add) > 0 {
			bad("securityContext.capabilities must drop ALL and add none")
		}
		if c.SeccompProfile == nil || c.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("securityContext.seccompProfile.type must be RuntimeDefault")
		}
	}
	return errs
}

// lintArgo applies the conventions to one Argo document.
func lintArgo(d doc) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	var spec *wfv1.WorkflowSpec
	switch d.kind {
	case "ClusterWorkflowTemplate":
		var c wfv1.ClusterWorkflowTemplate
		if err := yaml.Unmarshal(d.raw, &c); err != nil {
			return err
		}
		spec = &c.Spec
	case "WorkflowTemplate":
		var w wfv1.WorkflowTemplate
		if err := yaml.Unmarshal(d.raw, &w); err != nil {
			return err
		}
		spec = &w.Spec
	case "CronWorkflow":
		var c wfv1.CronWorkflow
		if err := yaml.Unmarshal(d.raw, &c); err != nil {
			return err
		}
		spec = &c.Spec.WorkflowSpec
		if c.Spec.ConcurrencyPolicy != "Forbid" {
			bad("concurrencyPolicy %q: want Forbid", c.Spec.ConcurrencyPolicy)
		}
		if c.Spec.Timezone == "" || c.Spec.StartingDeadlineSeconds == nil || c.Spec.SuccessfulJobsHistoryLimit == nil || c.Spec.FailedJobsHistoryLimit == nil {
			bad("a CronWorkflow needs timezone, startingDeadlineSeconds and both history limits")
		}
	case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
		return lintRBAC(d)
	default:
		return fmt.Errorf("unexpected kind %s", d.kind)
	}
	if spec.ServiceAccountName == "" {
		bad("spec.serviceAccountName: name the ServiceAccount of rbac.yaml")
	}
	secretVols := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretVols[v.Name] = true
			if v.Secret.Optional == nil || !*v.Secret.Optional {
				bad("volume %s: a secret volume must be optional", v.Name)
			}
		}
	}
	var steps []stepInfo
	for _, t := range spec.Templates {
		vols := map[string]bool{}
		for k := range secretVols {
			vols[k] = true
		}
		for _, v := range t.Volumes {
			if v.Secret != nil {
				vols[v.Name] = true
				if v.Secret.Optional == nil || !*v.Secret.Optional {
					bad("template %s: volume %s: a secret volume must be optional", t.Name, v.Name)
				}
			}
		}
		c := t.Container
		if t.Script != nil {
			c = &t.Script.Container
		}
		if c != nil {
			s := stepInfo{where: "template " + t.Name, image: c.Image, sc: c.SecurityContext, env: c.Env, envFrom: c.EnvFrom}
			if t.Script != nil {
				s.script = t.Script.Source
			}
			steps = append(steps, s)
			for _, m := range c.VolumeMounts {
				if vols[m.Name] && !m.ReadOnly {
					bad("template %s: secret volume %s must be mounted readOnly", t.Name, m.Name)
				}
			}
			if t.SecurityContext == nil || t.SecurityContext.RunAsNonRoot == nil || !*t.SecurityContext.RunAsNonRoot {
				if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
					bad("template %s: the pod's securityContext must set runAsNonRoot (Argo's executor runs in the pod too)", t.Name)
				}
			}
		}
	}
	errs = append(errs, lintSteps(steps)...)
	return errors.Join(errs...)
}

// lintRBAC: namespaced Roles only, no wildcards, no Secrets.
func lintRBAC(d doc) error {
	switch d.kind {
	case "ClusterRole", "ClusterRoleBinding":
		return fmt.Errorf("%s: the catalog's RBAC is namespaced (Role, RoleBinding)", d.kind)
	case "Role":
		var r rbacv1.Role
		if err := yaml.UnmarshalStrict(d.raw, &r); err != nil {
			return err
		}
		var errs []error
		for i, rule := range r.Rules {
			for _, l := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
				for _, v := range l {
					if strings.Contains(v, "*") {
						errs = append(errs, fmt.Errorf("role %s rule %d: wildcard %q", r.Name, i, v))
					}
				}
			}
			for _, res := range rule.Resources {
				if res == "secrets" {
					errs = append(errs, fmt.Errorf("role %s rule %d: no access to Secrets", r.Name, i))
				}
			}
			for _, v := range rule.Verbs {
				if v == "escalate" || v == "bind" || v == "impersonate" {
					errs = append(errs, fmt.Errorf("role %s rule %d: verb %s", r.Name, i, v))
				}
			}
		}
		return errors.Join(errs...)
	}
	var v any
	switch d.kind {
	case "ServiceAccount":
		v = &corev1.ServiceAccount{}
	case "RoleBinding":
		v = &rbacv1.RoleBinding{}
	default:
		return fmt.Errorf("unexpected kind %s in rbac.yaml", d.kind)
	}
	return yaml.UnmarshalStrict(d.raw, v)
}

func TestLint(t *testing.T) {
	for _, d := range docs(t, "tekton") {
		var err error
		switch d.kind {
		case "Task", "Pipeline":
			err = lintTekton(d)
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
			err = lintRBAC(d)
		}
		if err != nil {
			t.Errorf("%s:\n%v", d, err)
		}
	}
	for _, d := range docs(t, "argo") {
		if err := lintArgo(d); err != nil {
			t.Errorf("%s:\n%v", d, err)
		}
	}
}

// TestLayout: Artifact Hub's layouts, and a README for every package.
func TestLayout(t *testing.T) {
	for _, f := range []string{"tekton/artifacthub-repo.yml", "README.md"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	pkgs, _ := filepath.Glob("argo/*/*")
	if len(pkgs) == 0 {
		t.Fatal("no Argo packages")
	}
	for _, p := range pkgs {
		if !semver.MatchString(filepath.Base(p)) {
			t.Errorf("%s: the version folder must be a semantic version", p)
		}
		for _, f := range []string{"manifests.yaml", "artifacthub-pkg.yml", "README.md", "rbac.yaml"} {
			if _, err := os.Stat(filepath.Join(p, f)); err != nil {
				t.Error(err)
			}
		}
		var pkg struct {
			Version, Name, DisplayName, Description, License string
		}
		b, err := os.ReadFile(filepath.Join(p, "artifacthub-pkg.yml"))
		if err == nil {
			err = yaml.Unmarshal(b, &pkg)
		}
		if err != nil {
			t.Error(err)
			continue
		}
		if pkg.Version != filepath.Base(p) || pkg.Name != filepath.Base(filepath.Dir(p)) || pkg.DisplayName == "" || pkg.Description == "" || pkg.License == "" {
			t.Errorf("%s/artifacthub-pkg.yml: version must be the folder's, name the package's, and displayName, description, license set: %+v", p, pkg)
		}
	}
}

// TestLintRejects: each convention fails on a copy that breaks it.
func TestLintRejects(t *testing.T) {
	tek := docs(t, "tekton")
	gate := find(t, tek, "pulsegate-gate.yaml")
	fetch := find(t, tek, "pulsegate-fetch-telemetry.yaml")
	cwt := find(t, docs(t, "argo"), "pulsegate/0.1.0/manifests.yaml")
	rbac := find(t, docs(t, "argo"), "pulsegate/0.1.0/rbac.yaml")
	for _, d := range docs(t, "argo") {
		if d.kind == "Role" && strings.HasSuffix(d.file, "pulsegate/0.1.0/rbac.yaml") {
			rbac = d
			break
		}
	}
	image := "pulsegate/pulsegate:0.1.0@sha256:"
	for name, tc := range map[string]struct {
		d        doc
		old, new string
		want     string
		lint     func(doc) error
	}{
		"version label":        {gate, `app.kubernetes.io/version: "0.1.0"`, `app.kubernetes.io/version: "0.1"`, "semantic version", lintTekton},
		"minVersion":           {gate, "tekton.dev/pipelines.minVersion", "tekton.dev/pipelines.maxVersion", "minVersion", lintTekton},
		"category":             {gate, "tekton.dev/categories: Security", "tekton.dev/categories: Safety", "not one of the hub's", lintTekton},
		"description":          {gate, "one step.\n\n", "one step.\n", "summary line", lintTekton},
		"latest image":         {gate, "image: " + image, "image: pulsegate/pulsegate:latest\n      x-image: ", "image", lintTekton},
		"untagged image":       {gate, "image: pulsegate/pulsegate:0.1.0@", "image: pulsegate/pulsegate@", "repo:tag@sha256", lintTekton},
		"param in script":      {gate, "      command: [pulsegate]\n", "      script: |\n        pulsegate gate --release $(params.release)\n", "script uses", lintTekton},
		"root":                 {gate, "runAsUser: 65532\n        runAsGroup", "runAsUser: 0\n        runAsGroup", "runAsUser", lintTekton},
		"privilege":            {gate, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation", lintTekton},
		"writable root":        {gate, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem", lintTekton},
		"capabilities":         {gate, `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "drop ALL", lintTekton},
		"seccomp":              {gate, "type: RuntimeDefault", "type: Unconfined", "seccomp", lintTekton},
		"secret in env":        {gate, "      command: [pulsegate]\n", "      env:\n        - name: TOKEN\n          valueFrom:\n            secretKeyRef: {name: s, key: k}\n      command: [pulsegate]\n", "from a Secret", lintTekton},
		"writable secrets":     {fetch, "      optional: true\n      readOnly: true\n", "      optional: true\n", "optional and readOnly", lintTekton},
		"argo input in script": {cwt, "      container:\n        image: " + image, "      script:\n        source: echo {{inputs.parameters.release}}\n        image: " + image, "script uses", lintArgo},
		"argo secret rw":       {cwt, "            mountPath: /workspace/credentials\n            readOnly: true\n", "            mountPath: /workspace/credentials\n", "mounted readOnly", lintArgo},
		"argo required secret": {cwt, "            optional: true\n", "            optional: false\n", "must be optional", lintArgo},
		"wildcard role":        {rbac, "verbs: [create, patch]", `verbs: ["*"]`, "wildcard", lintRBAC},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.lint(broken(t, tc.d, tc.old, tc.new))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the lint accepted the broken copy, or said something else: %v (want %q)", err, tc.want)
			}
		})
	}
}
