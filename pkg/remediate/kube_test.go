package remediate_test

// These tests run against a real kube-apiserver (test/kube) with Argo's
// Workflow, WorkflowTemplate and ClusterWorkflowTemplate CRDs and Tekton's
// Pipeline and PipelineRun CRDs installed from testdata/crds (copied from the
// modules' own manifests). No Argo or Tekton controller runs here:
// remediatetest.Controller plays the controller by writing each created
// Workflow's status.phase or PipelineRun's Succeeded condition after a delay.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	pkgkube "github.com/pulsegate/pulsegate/pkg/kube"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/remediate"
	"github.com/pulsegate/pulsegate/pkg/remediate/remediatetest"
	"github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) {
	kube.Main(m, &kube.Options{Setup: func(ctx context.Context, s *kube.Server) error {
		return remediatetest.InstallCRDs(ctx, s.Config, "testdata/crds")
	}})
}

var seq atomic.Int64

// namespace creates a fresh namespace.
func namespace(t *testing.T, s *kube.Server) string {
	t.Helper()
	ns, err := s.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rem-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// blockOn is an enforced block whose evidence names the given targets, and
// a landing set that also holds a node without evidence (never acted on).
func blockOn(id string, targets ...correlate.Target) *policy.Decision {
	d := &policy.Decision{DecisionID: id, Verdict: policy.Block, Mode: policy.Enforce, Enforced: true,
		Summary: "BLOCK: test", Targets: append([]correlate.Target{{Kind: "Node", Name: "innocent", Relation: "eligible-node"}}, targets...)}
	r := policy.Reason{Rule: policy.RuleSevereFinding, Message: "Falco \"Terminal shell in container\" (critical)"}
	for _, t := range targets {
		r.Evidence = append(r.Evidence, policy.Evidence{Source: "falco", Target: t.String()})
	}
	d.Reasons = []policy.Reason{r}
	return d
}

func proceed(id string) *policy.Decision {
	return &policy.Decision{DecisionID: id, Verdict: policy.Proceed, Mode: policy.Enforce, Enforced: true, Summary: "PROCEED"}
}

func runner(t *testing.T, cfg *rest.Config, apply bool) *remediate.Runner {
	t.Helper()
	r, err := remediate.NewRunner(t.Context(), cfg, apply)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func controller(t *testing.T, s *kube.Server, ns string, delay time.Duration, decide func(*unstructured.Unstructured) remediatetest.Result) *remediatetest.Controller {
	t.Helper()
	c := &remediatetest.Controller{Dynamic: dynamic.NewForConfigOrDie(s.Config), Namespace: ns, Delay: delay, Decide: decide}
	if err := c.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

func list(t *testing.T, s *kube.Server, ns string) []string {
	t.Helper()
	dc := dynamic.NewForConfigOrDie(s.Config)
	var out []string
	for _, g := range []struct {
		kind string
		ri   dynamic.ResourceInterface
	}{{"Workflow", dc.Resource(remediate.WorkflowGVR).Namespace(ns)}, {"PipelineRun", dc.Resource(remediate.PipelineRunGVR).Namespace(ns)}} {
		l, err := g.ri.List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range l.Items {
			out = append(out, g.kind+"/"+i.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func argo(ns string) remediate.Action {
	return remediate.Action{Name: "reimage", Type: remediate.TypeArgoWorkflow, Namespace: ns, WorkflowTemplate: "reimage-node", ServiceAccount: "healer", Params: map[string]string{"pool": "payments"}}
}

func tekton(ns string) remediate.Action {
	return remediate.Action{Name: "quarantine", Type: remediate.TypeTektonPipeline, Namespace: ns, Pipeline: "quarantine", ServiceAccount: "healer"}
}

func fastBudget(attempts int) remediate.Budget {
	return remediate.Budget{Attempts: attempts, Backoff: remediate.Duration(10 * time.Millisecond), Deadline: remediate.Duration(time.Minute),
		ActionTimeout: remediate.Duration(20 * time.Second), FreshTimeout: remediate.Duration(5 * time.Second)}
}

// Success then proceed: the Workflow is created from the template with the
// targets and reasons, the simulated controller marks it Succeeded, the
// loop waits for fresh data from after that, and the re-check proceeds.
func TestLoopArgoSuccessThenProceed(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	healed := atomic.Bool{}
	c := controller(t, s, ns, 300*time.Millisecond, nil)
	c.Done = func(*unstructured.Unstructured, remediatetest.Result) { healed.Store(true) }
	first := blockOn("dec-success", correlate.Target{Kind: "Node", Name: "ip-10-0-2-22", Relation: "current-node"})
	var freshAfter time.Time
	l := &remediate.Loop{
		Runner: runner(t, s.Config, true), Actions: []remediate.Action{argo(ns)}, Budget: fastBudget(3),
		WaitFresh: func(_ context.Context, _ *policy.Decision, after time.Time) error { freshAfter = after; return nil },
		Evaluate: func(context.Context) (*policy.Decision, error) {
			if healed.Load() {
				return proceed("dec-after"), nil
			}
			return first, nil
		},
	}
	d, h, err := l.Run(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.Proceed || len(h.Records) != 1 || h.Records[0].Outcome != remediate.Succeeded {
		t.Fatalf("verdict %s, history %+v", d.Verdict, h)
	}
	rec := h.Records[0]
	name := remediate.ObjectName("dec-success", "reimage", 1)
	if rec.Object != "Workflow "+ns+"/"+name || rec.Did != "created" || rec.By != kube.AdminUser || !strings.Contains(rec.Detail, "Succeeded") {
		t.Errorf("record %+v", rec)
	}
	if freshAfter.Before(rec.Finished) {
		t.Errorf("fresh data waited for from %s, before the workflow finished at %s", freshAfter, rec.Finished)
	}
	if !strings.Contains(h.Result, "cleared") || len(h.Decisions) != 1 || h.Decisions[0].DecisionID != "dec-after" {
		t.Errorf("history %+v", h)
	}
	// The Workflow as created: a workflowTemplateRef with the parameters.
	wf, err := dynamic.NewForConfigOrDie(s.Config).Resource(remediate.WorkflowGVR).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, _ := unstructured.NestedString(wf.Object, "spec", "workflowTemplateRef", "name")
	sa, _, _ := unstructured.NestedString(wf.Object, "spec", "serviceAccountName")
	params, _, _ := unstructured.NestedSlice(wf.Object, "spec", "arguments", "parameters")
	got := map[string]string{}
	for _, p := range params {
		m := p.(map[string]any)
		got[m["name"].(string)] = m["value"].(string)
	}
	if ref != "reimage-node" || sa != "healer" || got["decision-id"] != "dec-success" || got["attempt"] != "1" || got["pool"] != "payments" ||
		got["targets"] != `[{"kind":"Node","name":"ip-10-0-2-22","relation":"current-node"}]` || !strings.Contains(got["reasons"], `"targets":["node ip-10-0-2-22"]`) {
		t.Errorf("workflow ref %q sa %q params %v", ref, sa, got)
	}
}

// Failure then block: every attempt's Workflow fails; each attempt starts a
// new one (a new name), and when the budget is spent the verdict is block
// with the history.
func TestLoopFailureThenBlock(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	controller(t, s, ns, 100*time.Millisecond, func(*unstructured.Unstructured) remediatetest.Result { return remediatetest.Fail })
	first := blockOn("dec-fail", correlate.Target{Kind: "Node", Name: "n1"})
	evals := 0
	l := &remediate.Loop{Runner: runner(t, s.Config, true), Actions: []remediate.Action{argo(ns)}, Budget: fastBudget(2),
		Evaluate: func(context.Context) (*policy.Decision, error) { evals++; return first, nil }}
	d, h, err := l.Run(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.Block || len(h.Records) != 2 || !strings.Contains(h.Result, "budget (2 attempts) is spent") {
		t.Fatalf("verdict %s history %+v", d.Verdict, h)
	}
	for i, r := range h.Records {
		if r.Attempt != i+1 || r.Outcome != remediate.Failed || !strings.Contains(r.Detail, "phase Failed") {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	want := []string{"Workflow/" + remediate.ObjectName("dec-fail", "reimage", 1), "Workflow/" + remediate.ObjectName("dec-fail", "reimage", 2)}
	slices.Sort(want)
	if got := list(t, s, ns); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	if evals != 0 {
		t.Errorf("evaluated %d times after failed remediations, want 0", evals)
	}
}

// Timeout: the Workflow never finishes.
func TestLoopTimeout(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	controller(t, s, ns, 0, func(*unstructured.Unstructured) remediatetest.Result { return remediatetest.Hang })
	first := blockOn("dec-timeout", correlate.Target{Kind: "Node", Name: "n1"})
	b := fastBudget(1)
	b.ActionTimeout = remediate.Duration(time.Second)
	l := &remediate.Loop{Runner: runner(t, s.Config, true), Actions: []remediate.Action{argo(ns)}, Budget: b,
		Evaluate: func(context.Context) (*policy.Decision, error) {
			t.Error("evaluated after a timeout")
			return first, nil
		}}
	start := time.Now()
	d, h, err := l.Run(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.Block || len(h.Records) != 1 || h.Records[0].Outcome != remediate.Timeout {
		t.Fatalf("verdict %s history %+v", d.Verdict, h)
	}
	if el := time.Since(start); el < time.Second || el > 15*time.Second {
		t.Errorf("took %s for a 1s timeout", el)
	}
}

// A retried step (the same attempt run again) finds the Workflow it
// started instead of creating a second one, and reads its outcome.
func TestRetriedStepFindsItsWorkflow(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	c := controller(t, s, ns, 200*time.Millisecond, nil)
	r := runner(t, s.Config, true)
	step := remediate.Step{DecisionID: "dec-retry", Attempt: 1, Action: argo(ns), Decision: blockOn("dec-retry", correlate.Target{Kind: "Node", Name: "n1"})}
	first, err := r.Do(t.Context(), step, 0) // start, do not wait: the step "crashes"
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Did != "created" || first[0].Outcome != remediate.Running {
		t.Fatalf("first run %+v", first[0])
	}
	again, err := r.Do(t.Context(), step, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Did != "found existing" || again[0].Object != first[0].Object || again[0].Outcome != remediate.Succeeded {
		t.Errorf("re-run %+v", again[0])
	}
	if got := list(t, s, ns); len(got) != 1 {
		t.Errorf("objects %v, want one Workflow", got)
	}
	if got := c.Finished(); len(got) != 1 {
		t.Errorf("controller finished %v", got)
	}
	// The next attempt is a new Workflow.
	step.Attempt = 2
	next, err := r.Do(t.Context(), step, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if next[0].Did != "created" || next[0].Object == first[0].Object || next[0].Outcome != remediate.Succeeded {
		t.Errorf("attempt 2 %+v", next[0])
	}
	if got := list(t, s, ns); len(got) != 2 {
		t.Errorf("objects %v, want two Workflows", got)
	}
	// A Workflow of that name that pulsegate did not start is not adopted.
	step.DecisionID = "dec-other"
	other := workflowNamed(ns, remediate.ObjectName("dec-other", "reimage", 2))
	if _, err := dynamic.NewForConfigOrDie(s.Config).Resource(remediate.WorkflowGVR).Namespace(ns).Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	recs, _ := r.Do(t.Context(), step, time.Second)
	if recs[0].Outcome != remediate.Error || !strings.Contains(recs[0].Detail, "was not started by pulsegate") {
		t.Errorf("foreign workflow: %+v", recs[0])
	}
}

func workflowNamed(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": map[string]any{"entrypoint": "main"}}}
}

// Tekton: a PipelineRun from the Pipeline with the params; succeeded and
// failed are read from the Succeeded condition.
func TestTektonPipelineRun(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	controller(t, s, ns, 100*time.Millisecond, func(u *unstructured.Unstructured) remediatetest.Result {
		if u.GetLabels()[remediate.LabelAttempt] == "1" {
			return remediatetest.Fail
		}
		return remediatetest.Succeed
	})
	r := runner(t, s.Config, true)
	step := remediate.Step{DecisionID: "dec-tekton", Attempt: 1, Action: tekton(ns), Decision: blockOn("dec-tekton", correlate.Target{Kind: "Pod", Namespace: "payments", Name: "api-1"})}
	for attempt, want := range map[int]remediate.Outcome{1: remediate.Failed, 2: remediate.Succeeded} {
		step.Attempt = attempt
		recs, err := r.Do(t.Context(), step, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if recs[0].Outcome != want || !strings.HasPrefix(recs[0].Object, "PipelineRun "+ns+"/") {
			t.Errorf("attempt %d: %+v", attempt, recs[0])
		}
	}
	pr, err := dynamic.NewForConfigOrDie(s.Config).Resource(remediate.PipelineRunGVR).Namespace(ns).Get(t.Context(), remediate.ObjectName("dec-tekton", "quarantine", 2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, _ := unstructured.NestedString(pr.Object, "spec", "pipelineRef", "name")
	sa, _, _ := unstructured.NestedString(pr.Object, "spec", "taskRunTemplate", "serviceAccountName")
	params, _, _ := unstructured.NestedSlice(pr.Object, "spec", "params")
	if ref != "quarantine" || sa != "healer" || len(params) != 4 || !strings.Contains(fmt.Sprint(params), `"namespace":"payments"`) {
		t.Errorf("pipelinerun ref %q sa %q params %v", ref, sa, params)
	}
}

// An action not on the environment's allow list is refused before
// anything is created.
func TestNotAllowedRefused(t *testing.T) {
	cfg, err := remediate.ParseConfig([]byte(`
actions:
  - {name: cordon, type: cordon}
  - {name: delete-pod, type: delete-pod}
environments:
  prod: {allow: [cordon]}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Resolve("prod", []string{"delete-pod"})
	var re *remediate.RefusedError
	if !errors.As(err, &re) || re.Unknown || !strings.Contains(err.Error(), `remediation "delete-pod" refused: not on environment "prod"'s allow list (allowed: cordon)`) {
		t.Errorf("refusal: %v", err)
	}
	if _, err := cfg.Resolve("prod", []string{"reboot"}); !errors.As(err, &re) || !re.Unknown {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := cfg.Resolve("staging", nil); err == nil || !strings.Contains(err.Error(), `environment "staging" is not configured`) {
		t.Errorf("unknown environment: %v", err)
	}
	if got, err := cfg.Resolve("prod", nil); err != nil || len(got) != 1 || got[0].Name != "cordon" {
		t.Errorf("run list: %v %v", got, err)
	}
}

// fixture is a node and a Deployment's pod on it, in ns.
func fixture(t *testing.T, s *kube.Server, ns string) (node, pod string) {
	t.Helper()
	ctx := t.Context()
	node = fmt.Sprintf("node-%s", ns)
	if _, err := s.AddNode(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "api"}
	dep, err := s.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctrl := true
	rs, err := s.Client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "api-7d9f", OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: &ctrl}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: new(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.RunPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "api-7d9f-x1", Namespace: ns, Labels: labels, OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &ctrl}}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return node, p.Name
}

func builtins() []remediate.Action {
	return []remediate.Action{
		{Name: "cordon", Type: remediate.TypeCordon},
		{Name: "isolate", Type: remediate.TypeIsolatePod},
		{Name: "scale", Type: remediate.TypeScaleToZero},
		{Name: "delete", Type: remediate.TypeDeletePod},
	}
}

// Dry run (the default) sends every write as a server-side dry run: the
// server checks it and nothing is created or changed.
func TestDryRunCreatesNothing(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	node, pod := fixture(t, s, ns)
	d := blockOn("dec-dry", correlate.Target{Kind: "Node", Name: node}, correlate.Target{Kind: "Pod", Namespace: ns, Name: pod})
	r := runner(t, s.Config, false)
	for _, a := range append(builtins(), argo(ns), tekton(ns)) {
		recs, err := r.Do(t.Context(), remediate.Step{DecisionID: "dec-dry", Attempt: 1, Action: a, Decision: d}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Outcome != remediate.DryRun || !rec.DryRun || !strings.HasPrefix(rec.Did, "would") {
				t.Errorf("%s: %+v", a.Name, rec)
			}
		}
	}
	if got := list(t, s, ns); len(got) != 0 {
		t.Errorf("dry run created %v", got)
	}
	assertUntouched(t, s, ns, node, pod)
}

func assertUntouched(t *testing.T, s *kube.Server, ns, node, pod string) {
	t.Helper()
	ctx := t.Context()
	n, err := s.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil || n.Spec.Unschedulable {
		t.Errorf("node: %v, unschedulable %v", err, n.Spec.Unschedulable)
	}
	p, err := s.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil || p.Labels[remediate.LabelIsolate] != "" {
		t.Errorf("pod: %v, labels %v", err, p.Labels)
	}
	nps, _ := s.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if len(nps.Items) != 0 {
		t.Errorf("network policies %d", len(nps.Items))
	}
	dep, _ := s.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	if *dep.Spec.Replicas != 3 {
		t.Errorf("replicas %d", *dep.Spec.Replicas)
	}
}

// rbacConfig applies the shipped Roles and returns the ServiceAccount's
// configuration (a real token from the TokenRequest API).
func rbacConfig(t *testing.T, s *kube.Server) *rest.Config {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pulsegate"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	dc := dynamic.NewForConfigOrDie(s.Config)
	for _, f := range []string{"../../catalog/rbac/remediate-workflows.yaml", "../../catalog/rbac/remediate-builtins.yaml"} {
		objs, err := pkgkube.ReadPath(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			var u unstructured.Unstructured
			if err := o.Decode(&u.Object); err != nil {
				t.Fatal(err)
			}
			gvr := map[string]string{"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings", "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}[o.Kind]
			if gvr == "" {
				t.Fatalf("%s: unexpected kind %s", o.Where(), o.Kind)
			}
			gv := u.GroupVersionKind().GroupVersion()
			ri := dc.Resource(gv.WithResource(gvr))
			var err2 error
			if u.GetNamespace() != "" {
				_, err2 = ri.Namespace(u.GetNamespace()).Create(ctx, &u, metav1.CreateOptions{})
			} else {
				_, err2 = ri.Create(ctx, &u, metav1.CreateOptions{})
			}
			if err2 != nil && !apierrors.IsAlreadyExists(err2) {
				t.Fatalf("%s: %v", o.Where(), err2)
			}
		}
	}
	cfg, err := s.ServiceAccountConfig(ctx, "pulsegate", "pulsegate-remediate")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// With the shipped Roles, every action works as the ServiceAccount, and
// the API server denies it everything else asked here.
func TestRBACShippedRoles(t *testing.T) {
	s := kube.Shared(t)
	cfg := rbacConfig(t, s)
	ns := namespace(t, s)
	node, pod := fixture(t, s, ns)
	controller(t, s, "pulsegate", 100*time.Millisecond, nil)
	r := runner(t, cfg, true)
	if r.By != "system:serviceaccount:pulsegate:pulsegate-remediate" {
		t.Errorf("by %q", r.By)
	}
	d := blockOn("dec-rbac", correlate.Target{Kind: "Node", Name: node}, correlate.Target{Kind: "Pod", Namespace: ns, Name: pod})
	for _, a := range append(builtins(), argo("pulsegate"), tekton("pulsegate")) {
		recs, err := r.Do(t.Context(), remediate.Step{DecisionID: "dec-rbac", Attempt: 1, Action: a, Decision: d}, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Outcome != remediate.Succeeded {
				t.Errorf("%s as the ServiceAccount: %s", a.Name, rec)
			}
		}
	}
	ctx := t.Context()
	n, _ := s.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if !n.Spec.Unschedulable || n.Annotations[remediate.AnnotationBy] != r.By {
		t.Errorf("node not cordoned by %s: %v %v", r.By, n.Spec.Unschedulable, n.Annotations)
	}
	nps, _ := s.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if len(nps.Items) != 1 || nps.Items[0].Spec.PodSelector.MatchLabels[remediate.LabelIsolate] != nps.Items[0].Name || len(nps.Items[0].Spec.Ingress)+len(nps.Items[0].Spec.Egress) != 0 || len(nps.Items[0].Spec.PolicyTypes) != 2 {
		t.Errorf("network policies %+v", nps.Items)
	}
	dep, _ := s.Client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	if *dep.Spec.Replicas != 0 {
		t.Errorf("replicas %d after scale-to-zero", *dep.Spec.Replicas)
	}
	// A pod bound to a node waits for its kubelet (none here) after a
	// graceful delete: it is terminating.
	if p, err := s.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || p.DeletionTimestamp == nil) {
		t.Errorf("pod after delete-pod: %v", err)
	}

	// Nothing more: SelfSubjectAccessReviews as the ServiceAccount.
	cs := kubernetes.NewForConfigOrDie(cfg)
	type ask struct{ verb, group, resource, sub, ns string }
	allowed := []ask{
		{"create", "argoproj.io", "workflows", "", "pulsegate"}, {"watch", "argoproj.io", "workflows", "", "pulsegate"},
		{"create", "tekton.dev", "pipelineruns", "", "pulsegate"}, {"patch", "", "nodes", "", ""},
		{"delete", "", "pods", "", ns}, {"patch", "apps", "deployments", "scale", ns},
	}
	denied := []ask{
		{"create", "argoproj.io", "workflows", "", ns}, // only in its own namespace
		{"delete", "argoproj.io", "workflows", "", "pulsegate"}, {"update", "argoproj.io", "workflows", "", "pulsegate"},
		{"patch", "argoproj.io", "workflows", "", "pulsegate"}, {"get", "argoproj.io", "workflowtemplates", "", "pulsegate"},
		{"create", "argoproj.io", "workflowtemplates", "", "pulsegate"}, {"create", "argoproj.io", "clusterworkflowtemplates", "", ""},
		{"create", "tekton.dev", "pipelines", "", "pulsegate"}, {"delete", "tekton.dev", "pipelineruns", "", "pulsegate"},
		{"create", "tekton.dev", "taskruns", "", "pulsegate"},
		{"list", "", "nodes", "", ""}, {"delete", "", "nodes", "", ""}, {"update", "", "nodes", "", ""},
		{"create", "", "pods", "", ns}, {"list", "", "pods", "", ns}, {"create", "", "pods", "exec", ns}, {"create", "", "pods", "eviction", ns},
		{"get", "", "secrets", "", ns}, {"list", "", "secrets", "", "pulsegate"}, {"get", "", "configmaps", "", ns},
		{"patch", "apps", "deployments", "", ns}, {"update", "apps", "deployments", "", ns}, {"delete", "apps", "deployments", "", ns},
		{"patch", "apps", "daemonsets", "", ns}, {"patch", "apps", "replicasets", "scale", ns},
		{"delete", "networking.k8s.io", "networkpolicies", "", ns}, {"update", "networking.k8s.io", "networkpolicies", "", ns},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", ns}, {"escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""},
		{"impersonate", "", "serviceaccounts", "", ns}, {"create", "", "serviceaccounts", "token", "pulsegate"},
	}
	check := func(a ask, want bool) {
		rev, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Namespace: a.ns},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rev.Status.Allowed != want {
			t.Errorf("%s %s/%s/%s in %q: allowed %v, want %v", a.verb, a.group, a.resource, a.sub, a.ns, rev.Status.Allowed, want)
		}
	}
	for _, a := range allowed {
		check(a, true)
	}
	for _, a := range denied {
		check(a, false)
	}
	// And for real, through impersonation: a pod delete elsewhere is
	// allowed by the pods role, but a Secret read is not.
	imp := kubernetes.NewForConfigOrDie(s.ImpersonateConfig("system:serviceaccount:pulsegate:pulsegate-remediate", "system:serviceaccounts", "system:serviceaccounts:pulsegate", "system:authenticated"))
	if _, err := imp.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets as the ServiceAccount: %v, want forbidden", err)
	}
	if _, err := imp.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list nodes as the ServiceAccount: %v, want forbidden", err)
	}
	// Without the Roles (a ServiceAccount of its own), the actions fail
	// with the API server's refusal, recorded as an error.
	bare, err := s.ServiceAccountConfig(ctx, ns, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := runner(t, bare, true).Do(ctx, remediate.Step{DecisionID: "dec-rbac-bare", Attempt: 1, Action: argo(ns), Decision: d}, time.Second)
	if err != nil || recs[0].Outcome != remediate.Error || !strings.Contains(recs[0].Detail, "forbidden") {
		t.Errorf("without the Role: %v %+v", err, recs)
	}
}
