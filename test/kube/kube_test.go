package kube_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pulsegate/pulsegate/test/kube"
)

func TestMain(m *testing.M) {
	kube.Main(m, &kube.Options{
		Users: []kube.User{{Name: "carol", Groups: []string{"pulsegate:auditors"}}},
	})
}

// namespace creates a namespace with a name unique to the test: deleted
// namespaces never go away here (no namespace controller).
func namespace(t *testing.T, s *kube.Server) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	ns, err := s.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func client(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodesAndPods(t *testing.T) {
	s := kube.Shared(t)
	ctx := t.Context()
	ns := namespace(t, s)
	prefix := ns + "-"

	nodes := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: prefix + "a", Labels: map[string]string{"zone": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: prefix + "b", Labels: map[string]string{"zone": "b"}},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: prefix + "c"}, Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}},
	}
	for _, n := range nodes {
		if _, err := s.AddNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for i, node := range []string{prefix + "a", prefix + "a", prefix + "b"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:   node,
				Containers: []corev1.Container{{Name: "web", Image: "registry.example/web@sha256:" + fmt.Sprintf("%064d", i)}},
			},
			Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.244.0.%d", i+10)},
		}
		if _, err := s.RunPod(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}

	// Nodes read back as a controller would see them.
	for _, tc := range []struct {
		name          string
		ready         corev1.ConditionStatus
		taints        []string
		unschedulable bool
	}{
		{name: prefix + "a", ready: corev1.ConditionTrue},
		{name: prefix + "b", ready: corev1.ConditionTrue, taints: []string{"dedicated"}},
		{name: prefix + "c", ready: corev1.ConditionFalse, unschedulable: true},
	} {
		t.Run("node "+tc.name, func(t *testing.T) {
			n, err := s.Client.CoreV1().Nodes().Get(ctx, tc.name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var taints []string
			for _, taint := range n.Spec.Taints {
				taints = append(taints, taint.Key)
			}
			if !slices.Equal(taints, tc.taints) {
				t.Errorf("taints = %v, want %v (the admission-added not-ready taint must be gone)", taints, tc.taints)
			}
			if n.Spec.Unschedulable != tc.unschedulable {
				t.Errorf("unschedulable = %v, want %v", n.Spec.Unschedulable, tc.unschedulable)
			}
			var ready corev1.ConditionStatus
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					ready = c.Status
				}
			}
			if ready != tc.ready {
				t.Errorf("Ready = %q, want %q", ready, tc.ready)
			}
		})
	}

	// Pods list back by label and by node, running, with the ServiceAccount
	// that admission gave them.
	pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("listed %d pods, want 3", len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			t.Errorf("pod %s: phase %q, IP %q; want Running with an IP", p.Name, p.Status.Phase, p.Status.PodIP)
		}
		if p.Spec.ServiceAccountName != "default" {
			t.Errorf("pod %s: serviceAccountName %q, want default (ServiceAccount admission)", p.Name, p.Spec.ServiceAccountName)
		}
	}
	onA, err := s.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", prefix+"a").String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(onA.Items) != 2 {
		t.Errorf("pods on node %sa: %d, want 2", prefix, len(onA.Items))
	}

	// Pods bound to a node wait for their kubelet on graceful deletion; none
	// runs here, so tests delete with a zero grace period.
	zero := int64(0)
	if err := s.Client.CoreV1().Pods(ns).Delete(ctx, "web-2", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Pods(ns).Get(ctx, "web-2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after deletion: %v, want NotFound", err)
	}
}

func TestRBAC(t *testing.T) {
	s := kube.Shared(t)
	ctx := t.Context()
	ns := namespace(t, s)
	other := namespace(t, s)

	// A Role that lets ServiceAccount ns/reader list pods in ns only.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := s.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns},
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "pulsegate:auditors"},
		},
	}
	if _, err := s.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	saConfig, err := s.ServiceAccountConfig(ctx, ns, "reader")
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := s.UserConfig(kube.NobodyUser)
	if err != nil {
		t.Fatal(err)
	}
	carol, err := s.UserConfig("carol")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		cfg       *rest.Config
		namespace string
		allowed   bool
	}{
		{"admin lists pods anywhere", s.Config, other, true},
		{"nobody token is denied", nobody, ns, false},
		{"service account lists pods in its namespace", saConfig, ns, true},
		{"service account is denied in another namespace", saConfig, other, false},
		{"static user through group binding", carol, ns, true},
		{"static user denied elsewhere", carol, other, false},
		{"impersonated user without bindings is denied", s.ImpersonateConfig("mallory"), ns, false},
		{"impersonated group member is allowed", s.ImpersonateConfig("dave", "pulsegate:auditors"), ns, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, tc.cfg)
			_, err := c.CoreV1().Pods(tc.namespace).List(ctx, metav1.ListOptions{})
			switch {
			case tc.allowed && err != nil:
				t.Errorf("list pods in %s: %v, want allowed", tc.namespace, err)
			case !tc.allowed && !apierrors.IsForbidden(err):
				t.Errorf("list pods in %s: %v, want 403 Forbidden", tc.namespace, err)
			}

			// The same answer from the authorizer, asked by the subject itself.
			review, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: tc.namespace, Verb: "list", Resource: "pods",
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed != tc.allowed {
				t.Errorf("SelfSubjectAccessReview allowed = %v, want %v (%s)", review.Status.Allowed, tc.allowed, review.Status.Reason)
			}
		})
	}

	// Nodes are cluster-scoped: a namespaced Role never reaches them.
	if _, err := client(t, saConfig).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("service account listing nodes: %v, want 403 Forbidden", err)
	}
}

func TestKubeconfig(t *testing.T) {
	s := kube.Shared(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client(t, cfg).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != kube.Version {
		t.Errorf("server version %q, want %s (build.sh stamps it)", v.GitVersion, kube.Version)
	}

	// A kubeconfig for a least-privileged user is denied through the file too.
	nobody, err := s.UserConfig(kube.NobodyUser)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/nobody.kubeconfig"
	if err := s.WriteKubeconfig(path, nobody); err != nil {
		t.Fatal(err)
	}
	cfg, err = clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, cfg).CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("nobody listing namespaces through kubeconfig: %v, want 403 Forbidden", err)
	}
}

// A namespace created now gets its default ServiceAccount from the harness,
// so a pod can be created in it right away, as on a real cluster.
func TestDefaultServiceAccountInNewNamespace(t *testing.T) {
	s := kube.Shared(t)
	ns := namespace(t, s)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns},
		Spec:       corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	start := time.Now()
	p, err := s.RunPod(t.Context(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName %q, want default", p.Spec.ServiceAccountName)
	}
	t.Logf("pod created %v after its namespace", time.Since(start).Round(time.Millisecond))
}
