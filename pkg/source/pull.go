package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// Puller polls a source's API once. Pull returns what the poll produced;
// an error means the source could not be read at all (it is then
// unavailable), while records it could not use are counted in the Batch.
// The client carries the timeouts, retries, TLS and credentials; a Puller
// only builds URLs and parses responses. Pullers must be safe for
// concurrent use.
type Puller interface {
	Pull(ctx context.Context, c *httpclient.Client) (*Batch, error)
}

// PullFunc builds a Puller from its configuration. Bad configuration is
// an error that names the offending key.
type PullFunc func(cfg PullConfig) (Puller, error)

// PullConfig is what a pull source needs besides the HTTP client.
type PullConfig struct {
	// Ref names the configured source; Batches carry it.
	Ref signal.SourceRef
	// URL is the API's base URL ("http://prometheus:9090").
	URL string
	// Queries are Prometheus instant queries with thresholds.
	Queries []Query
	// Filter narrows what is fetched, in the API's own language: an
	// Alertmanager matcher list ("severity=~critical|warning"), a Graph
	// $filter, a CrowdStrike FQL filter. Empty fetches the defaults.
	Filter string
	// Lookback is how far back alert APIs are asked for alerts (Graph,
	// CrowdStrike); zero takes the adapter's default.
	Lookback time.Duration
	// PageSize is the page size asked for; zero takes the adapter's
	// default.
	PageSize int
	// Now returns the current time; nil is time.Now.
	Now func() time.Time
	// Kubernetes, when set instead of URL, reads the source from the
	// Kubernetes API (types with Spec.PullKubernetes).
	Kubernetes *Kubernetes
}

// Kubernetes says which cluster a Kubernetes API source reads, and where.
type Kubernetes struct {
	// Kubeconfig is a kubeconfig file; empty is kubectl's default (the
	// KUBECONFIG list, ~/.kube/config, else the in-cluster ServiceAccount).
	Kubeconfig string
	// Context is the kubeconfig context; empty is the current one.
	Context string
	// Namespaces limits the read to these namespaces; empty reads all
	// of them (and cluster-scoped resources).
	Namespaces []string
	// Cluster names the cluster in Signals; empty is the context's
	// cluster name.
	Cluster string
	// Timeout bounds one API request; zero is no limit but the context's.
	Timeout time.Duration
}

// Query is one Prometheus instant query whose results are compared with a
// threshold: each series over it becomes a Signal.
type Query struct {
	// Name is the Signal's rule ("container-memory-spike").
	Name string `json:"name"`
	// Expr is the PromQL expression.
	Expr string `json:"expr"`
	// Op compares a result with Threshold: ">" (the default), ">=", "<",
	// "<=".
	Op        string  `json:"op,omitempty"`
	Threshold float64 `json:"threshold"`
	// Severity is the OCSF severity of a result over the threshold;
	// zero is Medium.
	Severity signal.Severity `json:"severity,omitempty"`
	// Class is the OCSF class of its Signals; zero is 6002 Application
	// Lifecycle (a workload's health), 4001 Network Activity suits
	// traffic queries.
	Class int `json:"class,omitempty"`
	// Title describes a breach for people; empty derives one.
	Title string `json:"title,omitempty"`
}

// NowTime returns cfg.Now() or the current time.
func (cfg PullConfig) NowTime() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// Puller returns a Puller for the type typ, or an error when the type is
// unknown or cannot be pulled.
func (r *Registry) Puller(typ string, cfg PullConfig) (Puller, error) {
	s, err := r.Lookup(typ)
	if err != nil {
		return nil, err
	}
	if cfg.Kubernetes != nil {
		if s.PullKubernetes == nil {
			return nil, fmt.Errorf("telemetry type %q is not read from the Kubernetes API: remove key \"kubernetes\"", typ)
		}
		if cfg.URL != "" {
			return nil, fmt.Errorf("telemetry type %q: \"url\" and \"kubernetes\" both set: choose one", typ)
		}
	}
	pull := s.Pull
	if cfg.Kubernetes != nil {
		pull = s.PullKubernetes
	}
	if pull == nil && s.PullKubernetes != nil {
		return nil, fmt.Errorf("telemetry type %q is read from files or from the Kubernetes API, not over HTTP: give it a path or \"kubernetes\", not a url", typ)
	}
	if pull == nil {
		return nil, fmt.Errorf("telemetry type %q is read from files or pushed, not pulled: give it a path, not a url", typ)
	}
	if cfg.URL == "" && cfg.Kubernetes == nil {
		return nil, fmt.Errorf("telemetry type %q: missing key \"url\"", typ)
	}
	if cfg.Ref.Type == "" {
		cfg.Ref.Type = typ
	}
	if cfg.Ref.Name == "" {
		cfg.Ref.Name = typ
	}
	return pull(cfg)
}

// AddItems parses each item with p and records the results in b. file
// names where the items came from ("GET /api/v2/alerts") and each item's
// Line is its 1-based position there. A parser panic rejects the item.
func AddItems(b *Batch, p Parser, file string, items []json.RawMessage) {
	for i, it := range items {
		rec := Record{Data: it, File: file, Line: i + 1}
		sigs, err := safeParse(p, rec)
		b.Add(rec, sigs, err)
	}
}

// Health is what is known about a polled source's liveness.
type Health struct {
	// LastSuccess is when a poll last succeeded; zero when none has.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is when a poll last failed, and Err why (free of
	// secrets: the HTTP client scrubs them).
	LastError time.Time `json:"last_error,omitzero"`
	Err       string    `json:"error,omitempty"`
	// Records and Rejected count the last successful poll's records.
	Records  int `json:"records"`
	Rejected int `json:"rejected"`
	// Polls and Failures count every poll since the Poller was made.
	Polls    int `json:"polls"`
	Failures int `json:"failures"`
}

// Poller runs a Puller and keeps its Health. It is safe for concurrent
// use; polls of one Poller do not overlap.
type Poller struct {
	Ref    signal.SourceRef
	Puller Puller
	Client *httpclient.Client
	// Timeout bounds one poll; zero leaves it to the client's limits.
	Timeout time.Duration
	// Now returns the current time; nil is time.Now.
	Now func() time.Time

	run    sync.Mutex
	mu     sync.Mutex
	health Health
}

// Poll polls once and returns the batch (nil on error) and the health
// after it. The batch's Written is the poll's time: a successful poll is
// evidence that the source is alive even when it had nothing to report.
func (p *Poller) Poll(ctx context.Context) (*Batch, Health, error) {
	p.run.Lock()
	defer p.run.Unlock()
	if p.Puller == nil || p.Client == nil {
		return nil, p.Health(), errors.New("poller without a puller or a client")
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	b, err := p.Puller.Pull(ctx, p.Client)
	t := now().UTC()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.health.Polls++
	if err == nil && b == nil {
		err = errors.New("puller returned no batch")
	}
	if err != nil {
		err = fmt.Errorf("poll %s: %w", p.Ref.Name, err)
		p.health.Failures++
		p.health.LastError, p.health.Err = t, err.Error()
		return nil, p.health, err
	}
	b.Source = p.Ref
	for i := range b.Signals {
		b.Signals[i].Source = p.Ref
	}
	b.Written = t
	p.health.LastSuccess = t
	p.health.Records, p.health.Rejected = b.Records, b.Rejected
	return b, p.health, nil
}

// Health returns the health as of the last poll.
func (p *Poller) Health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.health
}
