// Package kubeconfig is pulsegate's one place for reaching a Kubernetes API
// server: it resolves --kubeconfig and --context the way kubectl does (the
// flag, else the KUBECONFIG path list, else ~/.kube/config; the in-cluster
// ServiceAccount when none of these exists), and reports the context's
// default namespace and cluster name. Every command that reads a cluster goes
// through Load.
package kubeconfig

import (
	"fmt"
	"sort"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options select the kubeconfig and the context. The zero value means
// kubectl's defaults.
type Options struct {
	// Path is a kubeconfig file (--kubeconfig). Empty: the files listed in
	// $KUBECONFIG, merged, else ~/.kube/config.
	Path string
	// Context names the context to use (--context). Empty: the current one.
	Context string
	// QPS and Burst bound client-side request rates; 0 keeps client-go's
	// defaults (5 and 10), which throttle informers' initial lists very little.
	QPS   float32
	Burst int
}

// Cluster is one resolved context.
type Cluster struct {
	// Config reaches the API server.
	Config *rest.Config
	// Context is the context's name ("" for in-cluster configuration).
	Context string
	// Name is the context's cluster name, or the context's name when it
	// names no cluster; "in-cluster" inside a pod.
	Name string
	// Namespace is the context's default namespace, "default" when the
	// context names none.
	Namespace string
}

// Load resolves opt into a Cluster. The error names the file and context
// when the context does not exist.
func Load(opt Options) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opt.Path != "" {
		rules.ExplicitPath = opt.Path
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opt.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	ctxName := opt.Context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	if opt.Context != "" {
		if _, ok := raw.Contexts[opt.Context]; !ok {
			return nil, fmt.Errorf("kubeconfig %s: no context %q (contexts: %v)", where(rules), opt.Context, contextNames(&raw))
		}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("no kubeconfig: give --kubeconfig PATH, set KUBECONFIG, or run inside a pod: %w", err)
		}
		return nil, fmt.Errorf("kubeconfig %s, context %q: %w", where(rules), ctxName, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s, context %q: namespace: %w", where(rules), ctxName, err)
	}
	if opt.QPS > 0 {
		cfg.QPS = opt.QPS
	}
	if opt.Burst > 0 {
		cfg.Burst = opt.Burst
	}
	c := &Cluster{Config: cfg, Context: ctxName, Namespace: ns, Name: ctxName}
	if kc, ok := raw.Contexts[ctxName]; ok && kc.Cluster != "" {
		c.Name = kc.Cluster
	}
	if len(raw.Contexts) == 0 {
		c.Name = "in-cluster"
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	return c, nil
}

// Contexts lists the context names of the kubeconfig that opt selects,
// sorted.
func Contexts(opt Options) ([]string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opt.Path != "" {
		rules.ExplicitPath = opt.Path
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return contextNames(raw), nil
}

func contextNames(c *clientcmdapi.Config) []string {
	out := make([]string, 0, len(c.Contexts))
	for n := range c.Contexts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func where(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	if len(rules.Precedence) > 0 {
		return fmt.Sprint(rules.Precedence)
	}
	return "(none)"
}
