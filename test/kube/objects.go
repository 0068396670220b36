package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddNode creates node as a kubelet would have registered it and a node
// controller would have marked it: the node.kubernetes.io/not-ready taint that
// the TaintNodesByCondition admission plugin adds on creation is removed
// unless node itself lists it, and the status is written as given, with a
// Ready=True condition added when node has no Ready condition. Give node a
// Ready=False condition (or the not-ready taint) to model a NotReady node.
func (s *Server) AddNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	node = node.DeepCopy()
	wantNotReadyTaint := false
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady {
			wantNotReadyTaint = true
		}
	}
	hasReady := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			hasReady = true
		}
	}
	if !hasReady {
		now := metav1.Now()
		node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
		})
	}
	status := node.Status
	nodes := s.Client.CoreV1().Nodes()
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: create node %s: %w", node.Name, err)
	}
	if !wantNotReadyTaint {
		var kept []corev1.Taint
		for _, t := range created.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				kept = append(kept, t)
			}
		}
		if len(kept) != len(created.Spec.Taints) {
			created.Spec.Taints = kept
			if created, err = nodes.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
				return nil, fmt.Errorf("kube: remove not-ready taint of node %s: %w", node.Name, err)
			}
		}
	}
	created.Status = status
	if created, err = nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("kube: status of node %s: %w", node.Name, err)
	}
	return created, nil
}

// RunPod creates pod, which must name its node in spec.nodeName (there is no
// scheduler), and writes the status a kubelet would report for it running:
// phase Running, conditions PodScheduled, Initialized, ContainersReady and
// Ready, a running status per container, and podIP if pod.Status.PodIP is set.
// The node need not exist.
func (s *Server) RunPod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	if pod.Spec.NodeName == "" {
		return nil, fmt.Errorf("kube: pod %s/%s has no spec.nodeName (no scheduler runs here)", pod.Namespace, pod.Name)
	}
	podIP := pod.Status.PodIP
	pods := s.Client.CoreV1().Pods(pod.Namespace)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: create pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	now := metav1.Now()
	created.Status.Phase = corev1.PodRunning
	created.Status.StartTime = &now
	created.Status.PodIP = podIP
	if podIP != "" {
		created.Status.PodIPs = []corev1.PodIP{{IP: podIP}}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		created.Status.Conditions = append(created.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	created.Status.ContainerStatuses = nil
	for _, c := range created.Spec.Containers {
		created.Status.ContainerStatuses = append(created.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	running, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return running, nil
}
