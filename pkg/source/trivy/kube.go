package trivy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/pulsegate/pulsegate/pkg/kubeconfig"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// The API group, version and resources of Trivy Operator's reports.
const (
	Group           = "aquasecurity.github.io"
	Version         = "v1alpha1"
	Resource        = "vulnerabilityreports"        // namespaced
	ClusterResource = "clustervulnerabilityreports" // cluster-scoped
)

// DefaultPageSize is the List page size (limit) asked for when none is
// configured. kubectl's --chunk-size default is 500; a VulnerabilityReport
// carries its whole vulnerability list (tens of kilobytes), so pages are
// kept smaller.
const DefaultPageSize = 100

// MaxPages bounds the pages of one List, against a server that never ends
// one.
const MaxPages = 10000

// RBACFile is the shipped ClusterRole that grants what the pull needs.
const RBACFile = "catalog/rbac/trivy-reports-reader.yaml"

// KubeOptions configure a KubePuller.
type KubeOptions struct {
	// Namespaces limits the read to these namespaces; empty reads every
	// namespace and the ClusterVulnerabilityReports too.
	Namespaces []string
	// PageSize is the List limit; zero is DefaultPageSize.
	PageSize int
	// Cluster is given to Signals (Asset.Cluster).
	Cluster string
}

// KubePuller lists VulnerabilityReports (and ClusterVulnerabilityReports)
// from the Kubernetes API, page by page (limit and continue), and parses
// each item as the file path does. It implements source.Puller; the HTTP
// client it is given is not used (the rest.Config carries the kubeconfig's
// credentials and TLS). It is safe for concurrent use.
type KubePuller struct {
	rc       rest.Interface
	host     string
	opt      KubeOptions
	limit    int64
	maxPages int
}

// NewKubePuller returns a KubePuller that reaches the API server with cfg.
func NewKubePuller(cfg *rest.Config, opt KubeOptions) (*KubePuller, error) {
	if opt.PageSize < 0 {
		return nil, fmt.Errorf("page_size: %d is negative", opt.PageSize)
	}
	for i, ns := range opt.Namespaces {
		if ns == "" {
			return nil, fmt.Errorf("namespaces[%d]: empty namespace", i)
		}
	}
	c := rest.CopyConfig(cfg)
	c.APIPath = "/apis"
	c.GroupVersion = &schema.GroupVersion{Group: Group, Version: Version}
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	c.AcceptContentTypes = "application/json"
	c.ContentType = "application/json"
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	return &KubePuller{rc: rc, host: cfg.Host, opt: opt, limit: int64(cmp.Or(opt.PageSize, DefaultPageSize)), maxPages: MaxPages}, nil
}

// pullKubernetes is Spec.PullKubernetes: it loads the kubeconfig now, so
// that a missing file or context is a configuration error.
func pullKubernetes(cfg source.PullConfig) (source.Puller, error) {
	k := cfg.Kubernetes
	if k == nil {
		return nil, errors.New(`missing key "kubernetes"`)
	}
	cl, err := kubeconfig.Load(kubeconfig.Options{Path: k.Kubeconfig, Context: k.Context})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	rc := cl.Config
	if k.Timeout > 0 {
		rc = rest.CopyConfig(rc)
		rc.Timeout = k.Timeout
	}
	return NewKubePuller(rc, KubeOptions{Namespaces: k.Namespaces, PageSize: cfg.PageSize, Cluster: cmp.Or(k.Cluster, cl.Name)})
}

// Pull implements source.Puller.
func (k *KubePuller) Pull(ctx context.Context, _ *httpclient.Client) (*source.Batch, error) {
	b := &source.Batch{}
	p := &Parser{}
	nss := k.opt.Namespaces
	if len(nss) == 0 {
		nss = []string{""} // every namespace
	}
	for _, ns := range nss {
		if err := k.list(ctx, b, p, Resource, ns); err != nil {
			return nil, err
		}
	}
	if len(k.opt.Namespaces) == 0 {
		err := k.list(ctx, b, p, ClusterResource, "")
		// Older trivy-operator releases have no ClusterVulnerabilityReports.
		if err != nil && !errors.Is(err, errNoResource) {
			return nil, err
		}
	}
	return b, nil
}

var errNoResource = errors.New("no such resource")

// list reads every page of resource in ns ("" for all namespaces or a
// cluster-scoped resource) into b.
func (k *KubePuller) list(ctx context.Context, b *source.Batch, p *Parser, resource, ns string) error {
	path := "/apis/" + Group + "/" + Version + "/"
	where := "in every namespace"
	if ns != "" {
		path += "namespaces/" + ns + "/"
		where = "in namespace " + ns
	}
	path += resource
	if resource == ClusterResource {
		where = "(cluster-scoped)"
	}
	file := "GET " + path
	cont, n := "", 0
	for page := 1; ; page++ {
		req := k.rc.Get().Namespace(ns).Resource(resource).Param("limit", strconv.FormatInt(k.limit, 10))
		if cont != "" {
			req = req.Param("continue", cont)
		}
		raw, err := req.DoRaw(ctx)
		if err != nil {
			return k.listError(err, resource, where)
		}
		next, err := k.addPage(b, p, raw, file, resource, &n)
		if err != nil {
			return fmt.Errorf("%s (page %d): %w", file, page, err)
		}
		if next == "" {
			return nil
		}
		if next == cont {
			return fmt.Errorf("%s (page %d): the server returned the same continue token twice", file, page)
		}
		if page >= k.maxPages {
			return fmt.Errorf("%s: more than %d pages of %d: raise page_size or list fewer namespaces", file, k.maxPages, k.limit)
		}
		cont = next
	}
}

// addPage parses the items of one List page into b (n counts the items
// so far) and returns the page's continue token.
func (k *KubePuller) addPage(b *source.Batch, p *Parser, raw []byte, file, resource string, n *int) (string, error) {
	var list struct {
		Metadata struct {
			Continue string `json:"continue"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("not a list: %s", source.JSONReason(err))
	}
	for _, it := range list.Items {
		*n++
		rec := source.Record{Data: it, File: file, Line: *n}
		sigs, err := k.parse(p, rec, resource)
		b.Add(rec, sigs, err)
	}
	return list.Metadata.Continue, nil
}

// parse parses one report; a rejected report is named by its namespace and
// name. A parser panic rejects the report.
func (k *KubePuller) parse(p *Parser, rec source.Record, resource string) (sigs []signal.Signal, err error) {
	defer func() {
		if r := recover(); r != nil {
			sigs, err = nil, fmt.Errorf("parser panic: %v", r)
		}
		if err != nil {
			err = fmt.Errorf("%s %s: %w", singular(resource), itemName(rec.Data), err)
		}
	}()
	sigs, err = p.Parse(rec)
	if err != nil {
		return nil, err
	}
	for i := range sigs {
		if sigs[i].Asset.Cluster == "" {
			sigs[i].Asset.Cluster = k.opt.Cluster
		}
	}
	return sigs, nil
}

func singular(resource string) string {
	if resource == ClusterResource {
		return "clustervulnerabilityreport"
	}
	return "vulnerabilityreport"
}

// itemName returns "namespace/name" (or "name" for a cluster-scoped item)
// of one List item, or "(unnamed)".
func itemName(data []byte) string {
	var it struct {
		Metadata struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(data, &it)
	m := it.Metadata
	switch {
	case m.Name == "":
		return "(unnamed)"
	case m.Namespace == "":
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// listError words the API's answer to a List.
func (k *KubePuller) listError(err error, resource, where string) error {
	gr := resource + "." + Group
	switch {
	case apierrors.IsNotFound(err):
		if resource == ClusterResource {
			return errNoResource
		}
		return fmt.Errorf("the cluster has no %s: is trivy-operator installed? (%s: %w)", gr, k.host, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("list %s %s: forbidden: grant get and list on %s (%s): %w", gr, where, gr, RBACFile, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("list %s %s: unauthorized: the kubeconfig's credentials were refused: %w", gr, where, err)
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		return fmt.Errorf("list %s %s: the list changed too much while paging (continue token expired): poll again: %w", gr, where, err)
	}
	return fmt.Errorf("list %s %s: %w", gr, where, err)
}

var _ source.Puller = (*KubePuller)(nil)
