// Package kube reads Kubernetes manifests from files: multi-document YAML,
// JSON streams and `kind: List`, keeping the file and line where each object
// starts so that errors can name them. It decodes into the upstream API types
// and does not talk to a cluster.
package kube
