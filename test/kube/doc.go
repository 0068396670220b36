// Package kube runs a real Kubernetes API server for pulsegate's tests: etcd and
// kube-apiserver v1.37.2, built from the Go module proxy by build.sh through the
// wrapper modules in build/, cached outside the repository, and started on
// 127.0.0.1 with self-signed certificates, static-token authentication and RBAC
// authorization.
//
// There is no scheduler, kubelet or controller manager. Tests create Nodes and
// give Pods a nodeName and a status themselves (AddNode and RunPod do both the
// way a kubelet would). The harness stands in for exactly one controller: it
// creates the "default" ServiceAccount in every namespace, so that the
// ServiceAccount admission plugin stays enabled and Pods look as they do on a
// real cluster (spec.serviceAccountName "default", a projected token volume).
// Deleted Namespaces stay Terminating (no namespace controller) and deleting an
// owner does not delete its dependents (no garbage collector): tests use
// unique names rather than relying on deletion.
//
// A test package shares one server through TestMain:
//
//	func TestMain(m *testing.M) { kube.Main(m, nil) }
//
//	func TestSomething(t *testing.T) {
//		s := kube.Shared(t)
//		pods, err := s.Client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
//		...
//	}
//
// When the binaries cannot be built (no Go toolchain, no module proxy), Shared
// and New skip the test with "kube-apiserver harness unavailable: <reason>",
// unless PULSEGATE_KUBE_REQUIRE=1, which turns that into a failure (CI sets it).
// A server that was built but fails to start always fails the test, with the
// tail of its logs.
package kube
