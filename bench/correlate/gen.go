// Package correlate benchmarks pulsegate's landing-set computation and
// inventory snapshot loading at the scale of a large cluster (5,000 nodes,
// 150,000 pods, a release of 200 workloads), each beside a peer measured in
// the same run: correlation beside the straightforward check of every
// workload against every node with the scheduler's own helpers, and
// snapshot loading beside client-go's universal deserializer (what kubectl
// decodes a List with).
package correlate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/release"
)

// Shape of the generated cluster.
type Shape struct {
	Nodes, Pods, Namespaces, PodsPerDeployment int
	Pools                                      int // node pools; every fourth is tainted
	Workloads                                  int // in the release
	DaemonSets                                 int // of Workloads
}

// Large is the target: 5,000 nodes, 150,000 pods, 200 workloads.
var Large = Shape{Nodes: 5000, Pods: 150000, Namespaces: 100, PodsPerDeployment: 30, Pools: 20, Workloads: 200, DaemonSets: 10}

var created = metav1.Date(2026, 11, 2, 8, 0, 0, 0, metav1.Now().Location())

func uid(r *rand.Rand) types.UID {
	return types.UID(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff))
}

// Cluster builds a seeded inventory of shape s: nodes in pools over three
// zones (some tainted, 1% cordoned, 1% NotReady), namespaces of teams, each
// Deployment with a ReplicaSet, PodsPerDeployment running pods shaped like
// the ones `pulsegate inventory snapshot` writes, and a Service (every
// tenth a LoadBalancer, every twentieth behind an Ingress).
func Cluster(s Shape) *inventory.Inventory {
	r := rand.New(rand.NewPCG(4, 2))
	inv := inventory.New()
	zones := []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	for i := 0; i < s.Nodes; i++ {
		pool := i % s.Pools
		name := fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", pool, i/250, i%250)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid(r), CreationTimestamp: created, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/zone": zones[i%3],
			"topology.kubernetes.io/region": "eu-west-1", "pool": fmt.Sprintf("pool-%d", pool)}}}
		if pool%4 == 3 {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: fmt.Sprintf("pool-%d", pool), Effect: corev1.TaintEffectNoSchedule})
		}
		ready := corev1.ConditionTrue
		switch i % 100 {
		case 17:
			n.Spec.Unschedulable = true
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
		case 53:
			ready = corev1.ConditionFalse
		}
		n.Status = corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("31Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", LastHeartbeatTime: created, LastTransitionTime: created}},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.%d.%d.%d", pool, i/250, i%250)}},
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Bottlerocket OS 1.40.0", ContainerRuntimeVersion: "containerd://2.1.4", Architecture: "amd64", OperatingSystem: "linux"},
		}
		inv.Nodes[name] = n
	}
	nodeList := make([][]string, s.Pools)
	for name, n := range inv.Nodes {
		var p int
		fmt.Sscanf(n.Labels["pool"], "pool-%d", &p)
		nodeList[p] = append(nodeList[p], name)
	}
	for p := range nodeList {
		sort.Strings(nodeList[p])
	}
	deployments := s.Pods / s.PodsPerDeployment
	perNS := deployments / s.Namespaces
	for ns := 0; ns < s.Namespaces; ns++ {
		nsName := fmt.Sprintf("team-%02d", ns)
		labels := map[string]string{"kubernetes.io/metadata.name": nsName, "team": nsName}
		if ns%5 == 0 {
			labels["data-classification"] = "pii"
		}
		inv.Namespaces[nsName] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName, UID: uid(r), CreationTimestamp: created, Labels: labels}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
		inv.ServiceAccounts = append(inv.ServiceAccounts, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: nsName, UID: uid(r), CreationTimestamp: created}})
		pool := ns % s.Pools
		for d := 0; d < perNS; d++ {
			app := fmt.Sprintf("svc-%02d", d)
			sel := map[string]string{"app": app}
			tmpl := podTemplate(nsName, app, pool)
			tmpl.Labels["tier"] = fmt.Sprintf("t%d", d/7)
			dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: nsName, UID: uid(r), CreationTimestamp: created, Generation: 3},
				Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(s.PodsPerDeployment)), Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}
			rsName := app + "-7d9c6b5f4"
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: rsName, Namespace: nsName, UID: uid(r), CreationTimestamp: created,
				Labels:          map[string]string{"app": app, "pod-template-hash": "7d9c6b5f4"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: app, UID: dep.UID, Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}},
				Spec: appsv1.ReplicaSetSpec{Replicas: dep.Spec.Replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app, "pod-template-hash": "7d9c6b5f4"}}, Template: tmpl}}
			inv.Deployments = append(inv.Deployments, dep)
			inv.ReplicaSets = append(inv.ReplicaSets, rs)
			for k := 0; k < s.PodsPerDeployment; k++ {
				nodes := nodeList[pool]
				inv.Pods = append(inv.Pods, runningPod(r, rs, fmt.Sprintf("%s-%05x", rsName, r.Uint32()&0xfffff), nodes[r.IntN(len(nodes))]))
			}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: nsName, UID: uid(r), CreationTimestamp: created},
				Spec: corev1.ServiceSpec{Selector: sel, Type: corev1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("172.20.%d.%d", ns, d),
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
			if d%10 == 0 {
				svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			}
			if d == 0 {
				// A Service over the first seven Deployments of the
				// namespace (one tier): their other pods are network
				// neighbours.
				svc.Name = app + "-tier"
				svc.Spec.Selector = map[string]string{"team": nsName, "tier": fmt.Sprintf("t%d", d/7)}
			}
			inv.Services = append(inv.Services, svc)
			if d%20 == 0 {
				inv.Ingresses = append(inv.Ingresses, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: nsName, UID: uid(r), CreationTimestamp: created},
					Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: app + "." + nsName + ".example.com"}},
						DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc.Name, Port: networkingv1.ServiceBackendPort{Number: 80}}}}})
			}
		}
	}
	inv.Index()
	return inv
}

func podTemplate(ns, app string, pool int) corev1.PodTemplateSpec {
	spec := corev1.PodSpec{
		NodeSelector:       map[string]string{"pool": fmt.Sprintf("pool-%d", pool)},
		ServiceAccountName: "default",
		Containers: []corev1.Container{{
			Name: "app", Image: fmt.Sprintf("123456789012.dkr.ecr.eu-west-1.amazonaws.com/%s/%s:1.4.2", ns, app),
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env:       []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "PORT", Value: "8080"}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
		}},
	}
	if pool%4 == 3 {
		spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: fmt.Sprintf("pool-%d", pool), Effect: corev1.TaintEffectNoSchedule}}
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app, "team": ns}}, Spec: spec}
}

func runningPod(r *rand.Rand, rs *appsv1.ReplicaSet, name, node string) *corev1.Pod {
	spec := *rs.Spec.Template.Spec.DeepCopy()
	spec.NodeName = node
	spec.Tolerations = append(spec.Tolerations,
		corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
		corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))})
	spec.Volumes = []corev1.Volume{{Name: "kube-api-access-x2k9p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
	}, DefaultMode: ptr(int32(420))}}}}
	spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "kube-api-access-x2k9p", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}
	cid := fmt.Sprintf("containerd://%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rs.Namespace, UID: uid(r), CreationTimestamp: created,
			Labels:          map[string]string{"app": rs.Labels["app"], "team": rs.Namespace, "tier": rs.Spec.Template.Labels["tier"], "pod-template-hash": "7d9c6b5f4"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}},
		Spec: spec,
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.100.%d.%d", r.IntN(256), r.IntN(256)), StartTime: &created, QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: created},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: created}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Started: ptr(true), Image: spec.Containers[0].Image,
				ImageID: spec.Containers[0].Image + "@sha256:3f1a9c0e5b7d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a", ContainerID: cid,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: created}}}},
		},
	}
}

// Release picks s.Workloads workloads: new versions of existing Deployments
// spread over the namespaces (so they replace running pods), and
// s.DaemonSets DaemonSets without a node selector (they land on every node).
func Release(inv *inventory.Inventory, s Shape) *release.Release {
	rel := &release.Release{Other: map[string]int{}}
	deps := inv.Deployments
	step := len(deps) / (s.Workloads - s.DaemonSets)
	for i := 0; i < s.Workloads-s.DaemonSets; i++ {
		d := deps[i*step]
		tmpl := *d.Spec.Template.DeepCopy()
		tmpl.Spec.Containers[0].Image += "-next"
		rel.Workloads = append(rel.Workloads, release.Workload{Kind: "Deployment", Name: d.Name, Namespace: d.Namespace,
			Selector: d.Spec.Selector, Template: tmpl, Source: fmt.Sprintf("release.yaml:%d", i*40+1)})
	}
	for i := 0; i < s.DaemonSets; i++ {
		lbl := map[string]string{"app": fmt.Sprintf("agent-%d", i)}
		rel.Workloads = append(rel.Workloads, release.Workload{Kind: "DaemonSet", Name: lbl["app"], Namespace: "kube-system",
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}}},
			Source:   fmt.Sprintf("release.yaml:%d", 10000+i)})
	}
	return rel
}

// Snapshot writes inv as the snapshot file `pulsegate inventory snapshot`
// would.
func Snapshot(inv *inventory.Inventory) []byte {
	var b bytes.Buffer
	if err := inv.WriteList(&b); err != nil {
		panic("bench/correlate: " + err.Error())
	}
	return b.Bytes()
}

func ptr[T any](v T) *T { return &v }
