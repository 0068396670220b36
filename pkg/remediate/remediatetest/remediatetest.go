// Package remediatetest helps tests of remediation against a real
// kube-apiserver (test/kube): it installs Argo's and Tekton's
// CustomResourceDefinitions from files, and plays the Argo or Tekton
// controller, which does not run there, by writing the status of the
// Workflows and PipelineRuns that pulsegate creates.
package remediatetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/pkg/kube"
	"github.com/pulsegate/pulsegate/pkg/remediate"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates every CustomResourceDefinition in dir (YAML files,
// as pkg/kube reads them) and waits until each is Established. CRDs that
// exist already are left as they are. A CRD that names a conversion
// webhook (Tekton's) is installed with conversion strategy None instead:
// no webhook runs here, and the tests use the storage version only.
func InstallCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	objs, err := kube.ReadPath(dir)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ri := dc.Resource(crdGVR)
	var names []string
	for _, o := range objs {
		if o.Kind != "CustomResourceDefinition" {
			continue
		}
		var u unstructured.Unstructured
		if err := json.Unmarshal(o.JSON, &u.Object); err != nil {
			return fmt.Errorf("%s: %w", o.Where(), err)
		}
		// Tekton's CRDs convert between v1beta1 and v1 through its webhook,
		// which does not run here; the API server's watch cache then fails
		// to convert and drops events. Only v1 is used: no conversion.
		if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "conversion", "webhook"); ok {
			_ = unstructured.SetNestedField(u.Object, map[string]any{"strategy": "None"}, "spec", "conversion")
		}
		if _, err := ri.Create(ctx, &u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: create %s: %w", o.Where(), o.Name, err)
		}
		names = append(names, u.GetName())
	}
	for _, n := range names {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			u, err := ri.Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", n, err)
		}
	}
	return nil
}

// Result is what the simulated controller does with one object.
type Result int

// Results.
const (
	// Succeed: Argo phase Succeeded; Tekton Succeeded=True.
	Succeed Result = iota
	// Fail: Argo phase Failed; Tekton Succeeded=False.
	Fail
	// Hang: phase Running / Succeeded=Unknown, never finishing.
	Hang
)

// Controller plays the Argo Workflows and Tekton Pipelines controllers
// for the objects pulsegate creates (label app.kubernetes.io/managed-by:
// pulsegate) in one namespace: after Delay it writes a Running status, then
// the final one that Decide returns. Workflows have no status subresource
// (Argo's CRD), so their status is merge-patched on the object; a
// PipelineRun's goes through its status subresource, as Tekton's does.
type Controller struct {
	Dynamic   dynamic.Interface
	Namespace string
	Delay     time.Duration
	// Decide says how obj ends (nil: every object succeeds).
	Decide func(obj *unstructured.Unstructured) Result
	// Done, if set, runs just before the final status is written (with
	// Succeed or Fail): a simulated workflow's effect, such as a new
	// inventory snapshot and fresh telemetry, as its steps would have had.
	Done func(obj *unstructured.Unstructured, r Result)

	mu   sync.Mutex
	seen map[string]bool
	// Handled lists "Kind/name" of every object finished, in order.
	Handled []string
}

// Run watches both kinds until ctx ends. It returns once the watches are
// established.
func (c *Controller) Run(ctx context.Context) error {
	c.seen = map[string]bool{}
	for _, gvr := range []schema.GroupVersionResource{remediate.WorkflowGVR, remediate.PipelineRunGVR} {
		w, err := c.Dynamic.Resource(gvr).Namespace(c.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: remediate.LabelManagedBy + "=pulsegate"})
		if err != nil {
			return fmt.Errorf("simulated controller: watch %s: %w", gvr.Resource, err)
		}
		go func(gvr schema.GroupVersionResource, w watch.Interface) {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					u, isU := ev.Object.(*unstructured.Unstructured)
					if ev.Type != watch.Added || !isU {
						continue
					}
					c.mu.Lock()
					dup := c.seen[gvr.Resource+"/"+u.GetName()]
					c.seen[gvr.Resource+"/"+u.GetName()] = true
					c.mu.Unlock()
					if !dup {
						go c.handle(ctx, gvr, u)
					}
				}
			}
		}(gvr, w)
	}
	return nil
}

func (c *Controller) handle(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	r := Succeed
	if c.Decide != nil {
		r = c.Decide(u)
	}
	ri := c.Dynamic.Resource(gvr).Namespace(u.GetNamespace())
	_ = c.patch(ctx, ri, gvr, u.GetName(), Hang) // Running
	select {
	case <-ctx.Done():
		return
	case <-time.After(c.Delay):
	}
	if r == Hang {
		return
	}
	if c.Done != nil {
		c.Done(u, r) // a workflow's steps act before it reports its phase
	}
	// Listed before the final status is written: whoever sees that status
	// (the runner's watch) must find the object in Finished. A failed
	// write takes it out again.
	name := u.GetKind() + "/" + u.GetName()
	c.mu.Lock()
	c.Handled = append(c.Handled, name)
	c.mu.Unlock()
	if err := c.patch(ctx, ri, gvr, u.GetName(), r); err != nil {
		c.mu.Lock()
		if i := slices.Index(c.Handled, name); i >= 0 {
			c.Handled = slices.Delete(c.Handled, i, i+1)
		}
		c.mu.Unlock()
	}
}

// Finished returns a copy of Handled.
func (c *Controller) Finished() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.Handled...)
}

func (c *Controller) patch(ctx context.Context, ri dynamic.ResourceInterface, gvr schema.GroupVersionResource, name string, r Result) error {
	now := time.Now().UTC().Format(time.RFC3339)
	var status map[string]any
	if gvr == remediate.WorkflowGVR {
		phase := map[Result]string{Succeed: "Succeeded", Fail: "Failed", Hang: "Running"}[r]
		status = map[string]any{"phase": phase, "startedAt": now}
		if r != Hang {
			status["finishedAt"] = now
		}
		if r == Fail {
			status["message"] = "simulated: step heal exited 1"
		}
	} else {
		st := map[Result]string{Succeed: "True", Fail: "False", Hang: "Unknown"}[r]
		reason := map[Result]string{Succeed: "Succeeded", Fail: "Failed", Hang: "Running"}[r]
		status = map[string]any{"startTime": now, "conditions": []any{map[string]any{
			"type": "Succeeded", "status": st, "reason": reason, "message": "simulated controller", "lastTransitionTime": now,
		}}}
		if r != Hang {
			status["completionTime"] = now
		}
	}
	b, _ := json.Marshal(map[string]any{"status": status})
	var err error
	if gvr == remediate.WorkflowGVR {
		_, err = ri.Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
	} else {
		_, err = ri.Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{}, "status")
	}
	return err
}
