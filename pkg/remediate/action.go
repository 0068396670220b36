package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/policy"
)

// The resources the workflow actions create.
var (
	WorkflowGVR    = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}
	PipelineRunGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}
)

// Outcome is how an action ended.
type Outcome string

// Outcomes.
const (
	// DryRun: the API server accepted the change in a server-side dry run;
	// nothing was changed.
	DryRun Outcome = "dry-run"
	// Running: started, not waited for.
	Running   Outcome = "running"
	Succeeded Outcome = "succeeded"
	Failed    Outcome = "failed"
	// Timeout: the workflow did not finish within its timeout.
	Timeout Outcome = "timeout"
	// Skipped: the block names no target of the kind the action acts on.
	Skipped Outcome = "skipped"
	// Error: the API refused or failed the request (forbidden, not found).
	Error Outcome = "error"
)

// Record is one thing an action did, for the history and the audit log.
type Record struct {
	// DecisionID is the loop's key: the id of the decision that blocked
	// first. Attempt counts from 1.
	DecisionID string `json:"decision_id"`
	Attempt    int    `json:"attempt"`
	Action     string `json:"action"`
	Type       string `json:"type"`
	// Target is the block's target acted on ("node ip-10-0-2-22"); empty
	// for workflows, which get all of them as a parameter.
	Target string `json:"target,omitempty"`
	// Object is what was created or changed: "Workflow ci/pg-...".
	Object string `json:"object,omitempty"`
	// Did says what happened in a few words ("created", "found existing",
	// "cordoned", "already cordoned", "deleted", "scaled 3 -> 0").
	Did    string `json:"did"`
	DryRun bool   `json:"dry_run"`
	// By is the user the API server knows the caller as (a SelfSubjectReview):
	// "system:serviceaccount:ci:pulsegate".
	By       string    `json:"by"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Outcome  Outcome   `json:"outcome"`
	Detail   string    `json:"detail,omitempty"`
}

// String is one line for a person.
func (r Record) String() string {
	s := fmt.Sprintf("attempt %d: %s (%s)", r.Attempt, r.Action, r.Type)
	if r.Target != "" {
		s += " on " + r.Target
	}
	if r.Did != "" {
		s += ": " + r.Did
	}
	if r.Object != "" {
		s += " " + r.Object
	}
	if r.DryRun {
		s += " [dry run]"
	}
	s += " as " + r.By + ": " + string(r.Outcome)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	return s
}

// Runner performs actions through the Kubernetes API.
type Runner struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Apply acts; false makes every write a server-side dry run (the
	// server checks it, RBAC included, and stores nothing).
	Apply bool
	// By is who acts, as WhoAmI reports it.
	By string
	// Now is the clock for records (nil: time.Now).
	Now func() time.Time
}

// NewRunner connects to the API server of cfg and asks it who the caller
// is.
func NewRunner(ctx context.Context, cfg *rest.Config, apply bool) (*Runner, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	by, err := WhoAmI(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Runner{Client: c, Dynamic: d, Apply: apply, By: by}, nil
}

// WhoAmI asks the API server who the caller is (a SelfSubjectReview, which
// every authenticated user may create).
func WhoAmI(ctx context.Context, c kubernetes.Interface) (string, error) {
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("who am i (SelfSubjectReview): %w", err)
	}
	return r.Status.UserInfo.Username, nil
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) dryRun() []string {
	if r.Apply {
		return nil
	}
	return []string{metav1.DryRunAll}
}

// Step is one action for one attempt of a loop.
type Step struct {
	// DecisionID keys the loop (the first block's decision id); names of
	// created objects derive from it, Action.Name and Attempt.
	DecisionID string
	Attempt    int
	Action     Action
	// Decision is the latest decision: its block reasons name the targets.
	Decision *policy.Decision
}

// Do performs s. Workflow actions create (or find) their Workflow or
// PipelineRun and, when wait is positive and the runner applies, wait up
// to wait for its outcome; built-ins act on each matching target and
// return one record each. Errors from the API are recorded with outcome
// Error, not returned; Do returns an error only for a step that cannot be
// performed at all (no decision).
func (r *Runner) Do(ctx context.Context, s Step, wait time.Duration) ([]Record, error) {
	if s.Decision == nil {
		return nil, errors.New("remediate: no decision")
	}
	if s.Attempt < 1 {
		return nil, fmt.Errorf("remediate: attempt %d, want 1 or more", s.Attempt)
	}
	base := Record{DecisionID: s.DecisionID, Attempt: s.Attempt, Action: s.Action.Name, Type: s.Action.Type, DryRun: !r.Apply, By: r.By}
	switch s.Action.Type {
	case TypeArgoWorkflow, TypeTektonPipeline:
		rec := r.startWorkflow(ctx, s, base)
		if rec.Outcome == Running && wait > 0 {
			r.wait(ctx, s.Action.Type, &rec, wait)
		}
		return []Record{rec}, nil
	case TypeCordon:
		return r.eachTarget(ctx, s, base, "Node", r.cordon), nil
	case TypeIsolatePod:
		return r.eachTarget(ctx, s, base, "Pod", r.isolate), nil
	case TypeDeletePod:
		return r.eachTarget(ctx, s, base, "Pod", r.deletePod), nil
	case TypeScaleToZero:
		return r.eachTarget(ctx, s, base, "Pod", r.scaleOwner), nil
	}
	return nil, fmt.Errorf("remediate: action %q: unknown type %q", s.Action.Name, s.Action.Type)
}

// workflowObject builds the Workflow or PipelineRun for s.
func workflowObject(s Step, name, by string) *unstructured.Unstructured {
	a := s.Action
	params := Params(s.DecisionID, s.Attempt, s.Decision, a)
	list := make([]any, len(params))
	for i, p := range params {
		list[i] = map[string]any{"name": p[0], "value": p[1]}
	}
	meta := map[string]any{
		"name":      name,
		"namespace": a.Namespace,
		"labels": map[string]any{
			LabelManagedBy: managedBy,
			LabelAction:    a.Name,
			LabelAttempt:   fmt.Sprint(s.Attempt),
			LabelDecision:  decisionHash(s.DecisionID),
		},
		"annotations": map[string]any{AnnotationDecide: s.DecisionID, AnnotationBy: by},
	}
	var obj map[string]any
	if a.Type == TypeArgoWorkflow {
		ref := map[string]any{"name": a.WorkflowTemplate}
		if a.ClusterWorkflowTemplate != "" {
			ref = map[string]any{"name": a.ClusterWorkflowTemplate, "clusterScope": true}
		}
		spec := map[string]any{"workflowTemplateRef": ref, "arguments": map[string]any{"parameters": list}}
		if a.ServiceAccount != "" {
			spec["serviceAccountName"] = a.ServiceAccount
		}
		obj = map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": meta, "spec": spec}
	} else {
		spec := map[string]any{"pipelineRef": map[string]any{"name": a.Pipeline}, "params": list}
		if a.ServiceAccount != "" {
			spec["taskRunTemplate"] = map[string]any{"serviceAccountName": a.ServiceAccount}
		}
		obj = map[string]any{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": meta, "spec": spec}
	}
	return &unstructured.Unstructured{Object: obj}
}

func gvrKind(typ string) (schema.GroupVersionResource, string) {
	if typ == TypeArgoWorkflow {
		return WorkflowGVR, "Workflow"
	}
	return PipelineRunGVR, "PipelineRun"
}

func (r *Runner) startWorkflow(ctx context.Context, s Step, rec Record) Record {
	name := ObjectName(s.DecisionID, s.Action.Name, s.Attempt)
	gvr, kind := gvrKind(s.Action.Type)
	rec.Object = kind + " " + s.Action.Namespace + "/" + name
	rec.Started = r.now()
	ri := r.Dynamic.Resource(gvr).Namespace(s.Action.Namespace)
	_, err := ri.Create(ctx, workflowObject(s, name, r.By), metav1.CreateOptions{DryRun: r.dryRun()})
	switch {
	case err == nil && !r.Apply:
		rec.Did, rec.Outcome, rec.Finished = "would create", DryRun, r.now()
		return rec
	case err == nil:
		rec.Did, rec.Outcome = "created", Running
		return rec
	case apierrors.IsAlreadyExists(err):
		// A retried step: find what this attempt already started.
		got, gerr := ri.Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return fail(rec, r.now(), "found existing", gerr)
		}
		if got.GetAnnotations()[AnnotationDecide] != s.DecisionID || got.GetLabels()[LabelAction] != s.Action.Name {
			return fail(rec, r.now(), "found existing", fmt.Errorf("%s exists but was not started by pulsegate for decision %s, action %s", rec.Object, s.DecisionID, s.Action.Name))
		}
		rec.Did = "found existing"
		if !r.Apply {
			rec.Outcome, rec.Finished = DryRun, r.now()
			return rec
		}
		if out, detail, done := workflowOutcome(s.Action.Type, got); done {
			rec.Outcome, rec.Detail, rec.Finished = out, detail, r.now()
			return rec
		}
		rec.Outcome = Running
		return rec
	default:
		return fail(rec, r.now(), "create", err)
	}
}

func fail(rec Record, now time.Time, did string, err error) Record {
	rec.Did, rec.Outcome, rec.Detail, rec.Finished = did, Error, err.Error(), now
	return rec
}

// workflowOutcome reads a Workflow's status.phase (Succeeded; Failed or
// Error) or a PipelineRun's Succeeded condition (True; False). done is
// false while it runs.
func workflowOutcome(typ string, u *unstructured.Unstructured) (Outcome, string, bool) {
	if typ == TypeArgoWorkflow {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
		switch phase {
		case "Succeeded":
			return Succeeded, join("phase Succeeded", msg), true
		case "Failed", "Error":
			return Failed, join("phase "+phase, msg), true
		}
		return Running, "", false
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Succeeded" {
			continue
		}
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		switch m["status"] {
		case "True":
			return Succeeded, join("Succeeded=True "+reason, msg), true
		case "False":
			return Failed, join("Succeeded=False "+reason, msg), true
		}
	}
	return Running, "", false
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + truncate(b, 300)
}

// wait watches rec's object until it finishes or timeout passes.
func (r *Runner) wait(ctx context.Context, typ string, rec *Record, timeout time.Duration) {
	gvr, _ := gvrKind(typ)
	ns, name := splitObject(rec.Object)
	ri := r.Dynamic.Resource(gvr).Namespace(ns)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	finish := func(o Outcome, detail string) {
		rec.Outcome, rec.Detail, rec.Finished = o, detail, r.now()
	}
	for {
		got, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				finish(Timeout, fmt.Sprintf("not finished after %s", timeout))
				return
			}
			finish(Error, err.Error())
			return
		}
		if out, detail, done := workflowOutcome(typ, got); done {
			finish(out, detail)
			return
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: got.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				finish(Timeout, fmt.Sprintf("not finished after %s", timeout))
				return
			}
			finish(Error, fmt.Sprintf("watch: %v", err))
			return
		}
		done := false
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break // expired resource version: get and watch again
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				w.Stop()
				finish(Failed, "deleted before it finished")
				return
			}
			if out, detail, fin := workflowOutcome(typ, u); fin {
				finish(out, detail)
				done = true
				break
			}
		}
		w.Stop()
		if done {
			return
		}
		if ctx.Err() != nil {
			finish(Timeout, fmt.Sprintf("not finished after %s", timeout))
			return
		}
	}
}

func splitObject(obj string) (ns, name string) {
	// "Kind ns/name"
	for i := 0; i < len(obj); i++ {
		if obj[i] == ' ' {
			obj = obj[i+1:]
			break
		}
	}
	for i := 0; i < len(obj); i++ {
		if obj[i] == '/' {
			return obj[:i], obj[i+1:]
		}
	}
	return "", obj
}

type targetFunc func(ctx context.Context, s Step, t correlate.Target, rec Record) Record

func (r *Runner) eachTarget(ctx context.Context, s Step, base Record, kind string, f targetFunc) []Record {
	var out []Record
	for _, t := range BlockTargets(s.Decision) {
		if t.Kind != kind {
			continue
		}
		rec := base
		rec.Target = t.String()
		rec.Started = r.now()
		rec = f(ctx, s, t, rec)
		if rec.Finished.IsZero() {
			rec.Finished = r.now()
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		rec := base
		rec.Started, rec.Finished = r.now(), r.now()
		rec.Outcome = Skipped
		rec.Detail = fmt.Sprintf("the block names no %s among its targets", kind)
		out = append(out, rec)
	}
	return out
}

func (r *Runner) done(rec Record, did string) Record {
	rec.Did = did
	rec.Outcome = Succeeded
	if !r.Apply {
		rec.Did = "would " + did
		rec.Outcome = DryRun
	}
	return rec
}

func annotationPatch(s Step, by string, extra map[string]any) []byte {
	meta := map[string]any{"annotations": map[string]any{AnnotationDecide: s.DecisionID, AnnotationBy: by}}
	for k, v := range extra {
		meta[k] = v
	}
	b, _ := json.Marshal(map[string]any{"metadata": meta})
	return b
}

func (r *Runner) cordon(ctx context.Context, s Step, t correlate.Target, rec Record) Record {
	rec.Object = "Node " + t.Name
	n, err := r.Client.CoreV1().Nodes().Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return fail(rec, r.now(), "get", err)
	}
	if n.Spec.Unschedulable {
		rec.Did, rec.Outcome = "already cordoned", Succeeded
		if !r.Apply {
			rec.Outcome = DryRun
		}
		return rec
	}
	var p map[string]any
	_ = json.Unmarshal(annotationPatch(s, r.By, nil), &p)
	p["spec"] = map[string]any{"unschedulable": true}
	b, _ := json.Marshal(p)
	if _, err := r.Client.CoreV1().Nodes().Patch(ctx, t.Name, types.MergePatchType, b, metav1.PatchOptions{DryRun: r.dryRun()}); err != nil {
		return fail(rec, r.now(), "cordon", err)
	}
	return r.done(rec, "cordoned")
}

// isolate labels the pod pulsegate.dev/isolate=<name> and creates a
// deny-all NetworkPolicy <name> in its namespace selecting that label. The
// label, not the pod's own labels, selects: those are shared by every
// replica, and only the compromised pod is to be cut off.
func (r *Runner) isolate(ctx context.Context, s Step, t correlate.Target, rec Record) Record {
	name := ObjectName(s.DecisionID, s.Action.Name, s.Attempt)
	rec.Object = "NetworkPolicy " + t.Namespace + "/" + name
	patch := annotationPatch(s, r.By, map[string]any{"labels": map[string]any{LabelIsolate: name}})
	if _, err := r.Client.CoreV1().Pods(t.Namespace).Patch(ctx, t.Name, types.MergePatchType, patch, metav1.PatchOptions{DryRun: r.dryRun()}); err != nil {
		return fail(rec, r.now(), "label pod", err)
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: t.Namespace,
			Labels:      map[string]string{LabelManagedBy: managedBy, LabelAction: s.Action.Name, LabelAttempt: fmt.Sprint(s.Attempt), LabelDecision: decisionHash(s.DecisionID)},
			Annotations: map[string]string{AnnotationDecide: s.DecisionID, AnnotationBy: r.By},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelIsolate: name}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	_, err := r.Client.NetworkingV1().NetworkPolicies(t.Namespace).Create(ctx, np, metav1.CreateOptions{DryRun: r.dryRun()})
	switch {
	case apierrors.IsAlreadyExists(err):
		return r.done(rec, "labelled the pod; found existing")
	case err != nil:
		return fail(rec, r.now(), "create", err)
	}
	return r.done(rec, "labelled the pod and created")
}

func (r *Runner) deletePod(ctx context.Context, s Step, t correlate.Target, rec Record) Record {
	rec.Object = "Pod " + t.Namespace + "/" + t.Name
	err := r.Client.CoreV1().Pods(t.Namespace).Delete(ctx, t.Name, metav1.DeleteOptions{DryRun: r.dryRun()})
	switch {
	case apierrors.IsNotFound(err):
		rec.Did, rec.Outcome = "already gone", Succeeded
		if !r.Apply {
			rec.Outcome = DryRun
		}
		return rec
	case err != nil:
		return fail(rec, r.now(), "delete", err)
	}
	return r.done(rec, "deleted")
}

// scaleOwner scales the Deployment (through the pod's ReplicaSet) or
// StatefulSet that controls the pod to zero, through the scale subresource.
func (r *Runner) scaleOwner(ctx context.Context, s Step, t correlate.Target, rec Record) Record {
	pod, err := r.Client.CoreV1().Pods(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return fail(rec, r.now(), "get pod", err)
	}
	kind, name, err := r.owner(ctx, pod)
	if err != nil {
		return fail(rec, r.now(), "find the pod's workload", err)
	}
	rec.Object = kind + " " + t.Namespace + "/" + name
	patch := []byte(`{"spec":{"replicas":0}}`)
	opts := metav1.PatchOptions{DryRun: r.dryRun()}
	switch kind {
	case "Deployment":
		_, err = r.Client.AppsV1().Deployments(t.Namespace).Patch(ctx, name, types.MergePatchType, patch, opts, "scale")
	case "StatefulSet":
		_, err = r.Client.AppsV1().StatefulSets(t.Namespace).Patch(ctx, name, types.MergePatchType, patch, opts, "scale")
	}
	if err != nil {
		return fail(rec, r.now(), "scale", err)
	}
	return r.done(rec, "scaled to 0")
}

func (r *Runner) owner(ctx context.Context, pod *corev1.Pod) (kind, name string, err error) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "", "", fmt.Errorf("pod %s/%s has no controller", pod.Namespace, pod.Name)
	}
	switch ref.Kind {
	case "StatefulSet":
		return ref.Kind, ref.Name, nil
	case "ReplicaSet":
		rs, err := r.Client.AppsV1().ReplicaSets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		if d := metav1.GetControllerOf(rs); d != nil && d.Kind == "Deployment" {
			return d.Kind, d.Name, nil
		}
		return "", "", fmt.Errorf("ReplicaSet %s/%s has no Deployment", pod.Namespace, rs.Name)
	}
	return "", "", fmt.Errorf("pod %s/%s is controlled by a %s, which scale-to-zero does not scale (Deployments and StatefulSets only)", pod.Namespace, pod.Name, ref.Kind)
}
