// Package fetch is the step that polls the configured pull sources
// (prometheus, alertmanager, msgraph-alerts, crowdstrike over HTTP; trivy
// through the Kubernetes API) once and writes
// their Signals as JSON lines, into the store (pkg/store), or both. With a
// store it also reads the configured file sources into it, records every
// source's freshness there and expires old Signals. `pulsegate fetch` runs
// it.
package fetch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
	"github.com/pulsegate/pulsegate/pkg/store"
	"github.com/pulsegate/pulsegate/tasks"
)

// Params are the step's inputs.
type Params struct {
	// Telemetry are the configured sources; those with a path (files) are
	// left out.
	Telemetry []config.Telemetry
	// Only names the sources to poll; empty polls every pull source.
	Only []string
	// Cluster is the cluster of sources that name none of their own (the
	// configuration file's top-level cluster), as the gate does.
	Cluster string
	// Now is the poll time for lookbacks; zero is time.Now().
	Now time.Time
	// TTL, with a store, expires Signals older than Now minus TTL after
	// writing; zero keeps everything.
	TTL time.Duration
}

// Env is what the step needs from its caller.
type Env struct {
	Sources *source.Registry
	// Out receives the Signals, one JSON object per line; nil writes none
	// (then Store must be set).
	Out io.Writer
	// Store, when set, receives every source's Signals and its freshness
	// record (a failed poll is recorded too), and file sources (a path,
	// not a url) are read into it as well.
	Store *store.Store
	// Rejects receives "SOURCE: FILE:LINE: reason" for unusable records.
	Rejects io.Writer
	// Logger receives retries and TLS warnings; nil discards.
	Logger *slog.Logger
}

// SourceResult is one source's outcome.
type SourceResult struct {
	Name    string        `json:"name"`
	Type    string        `json:"type"`
	Status  string        `json:"status"` // "ok" or "unavailable"
	Signals int           `json:"signals"`
	Health  source.Health `json:"health"`
	Error   string        `json:"error,omitempty"`
	// Path is set for a file source; Stored counts the Signals new to the
	// store.
	Path   string `json:"path,omitempty"`
	Stored int    `json:"stored,omitempty"`
}

// Result is the step's output.
type Result struct {
	Sources []SourceResult `json:"sources"`
	Signals int            `json:"signals"`
	// Expired counts the Signals the TTL removed from the store.
	Expired int `json:"expired,omitempty"`
}

// Failed reports whether a source could not be polled.
func (r *Result) Failed() bool {
	for _, s := range r.Sources {
		if s.Status != "ok" {
			return true
		}
	}
	return false
}

type job struct {
	t      config.Telemetry
	ref    signal.SourceRef
	poller *source.Poller // nil for a file source
	spec   source.Spec    // of a file source
	maxAge time.Duration
}

// Run polls every selected pull source once, concurrently, and writes the
// Signals in configuration order. Configuration problems (an unknown or
// file-only type, a secret that cannot be read) are usage errors and poll
// nothing; a source that cannot be reached is reported in the Result.
func Run(ctx context.Context, p Params, env Env) (*Result, error) {
	if env.Sources == nil || (env.Out == nil && env.Store == nil) {
		return nil, errors.New("fetch: no source registry, or neither an output nor a store")
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	if p.Cluster != "" {
		ts := make([]config.Telemetry, len(p.Telemetry))
		for i, t := range p.Telemetry {
			t.Cluster = cmp.Or(t.Cluster, p.Cluster)
			ts[i] = t
		}
		p.Telemetry = ts
	}
	only := map[string]bool{}
	for _, n := range p.Only {
		only[n] = true
	}
	var jobs []job
	var errs []error
	seen, matched := map[string]bool{}, map[string]bool{}
	for i, t := range p.Telemetry {
		name := t.Name
		if name == "" {
			name = t.Type
		}
		file := !t.Pulled() && env.Store != nil
		if (!t.Pulled() && !file) || (len(only) > 0 && !only[name]) {
			continue
		}
		matched[name] = true
		if seen[name] {
			errs = append(errs, fmt.Errorf("telemetry[%d]: name %q used twice: give each source a name", i, name))
			continue
		}
		seen[name] = true
		var j job
		var err error
		if file {
			j, err = fileJob(t, name, env.Sources)
		} else {
			j, err = newJob(t, name, now, env.Sources, log)
		}
		if err == nil {
			j.maxAge, err = t.MaxAgeDuration()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("telemetry[%d] (%s): %w", i, name, err))
			continue
		}
		jobs = append(jobs, j)
	}
	for _, n := range p.Only {
		if !matched[n] {
			what := "pull source"
			if env.Store != nil {
				what = "source"
			}
			errs = append(errs, fmt.Errorf("--source %q: no %s of that name in the configuration", n, what))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, tasks.Usage(err)
	}
	if len(jobs) == 0 && env.Store == nil {
		return nil, tasks.Usage(errors.New("no pull source configured: give a telemetry entry a url"))
	}
	if len(jobs) == 0 {
		return nil, tasks.Usage(errors.New("no telemetry configured: give the configuration telemetry entries with a url or a path"))
	}

	type outcome struct {
		b   *source.Batch
		h   source.Health
		err error
	}
	outs := make([]outcome, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			if j.poller == nil {
				b, err := readFile(j)
				h := source.Health{Polls: 1}
				if err != nil {
					h.Failures, h.LastError, h.Err = 1, time.Now().UTC(), err.Error()
				} else {
					h.LastSuccess, h.Records, h.Rejected = time.Now().UTC(), b.Records, b.Rejected
				}
				outs[i] = outcome{b, h, err}
				return
			}
			b, h, err := j.poller.Poll(ctx)
			outs[i] = outcome{b, h, err}
		})
	}
	wg.Wait()

	res := &Result{}
	var enc *json.Encoder
	if env.Out != nil {
		enc = json.NewEncoder(env.Out)
	}
	for i, j := range jobs {
		o := outs[i]
		sr := SourceResult{Name: j.ref.Name, Type: j.ref.Type, Status: "ok", Health: o.h, Path: j.t.Path}
		if j.poller != nil {
			sr.Path = ""
		}
		if o.err != nil {
			sr.Status, sr.Error = "unavailable", o.err.Error()
			if env.Store != nil {
				if _, err := env.Store.Record(store.Read{Source: j.ref, At: o.h.LastError, Err: o.err, MaxAge: j.maxAge}); err != nil {
					return nil, err
				}
			}
			res.Sources = append(res.Sources, sr)
			continue
		}
		for _, r := range o.b.Rejects {
			if env.Rejects != nil {
				fmt.Fprintf(env.Rejects, "%s: %s\n", j.ref.Name, r.Error())
			}
		}
		for k := range o.b.Signals {
			s := &o.b.Signals[k]
			if s.Asset.Cluster == "" {
				s.Asset.Cluster = j.t.Cluster
			}
			if enc == nil {
				continue
			}
			if err := enc.Encode(s); err != nil {
				return nil, fmt.Errorf("write signals: %w", err)
			}
		}
		if env.Store != nil {
			at := o.h.LastSuccess
			rec, err := env.Store.Record(store.Read{Source: j.ref, At: at, Signals: o.b.Signals, Records: o.b.Records,
				Rejected: o.b.Rejected, LastRecord: o.b.LastRecord, Written: o.b.Written, MaxAge: j.maxAge})
			if err != nil {
				return nil, err
			}
			sr.Stored = rec.Stored
		}
		sr.Signals = len(o.b.Signals)
		res.Signals += sr.Signals
		res.Sources = append(res.Sources, sr)
	}
	if env.Store != nil && p.TTL > 0 {
		n, err := env.Store.Expire(now.Add(-p.TTL))
		if err != nil {
			return nil, err
		}
		res.Expired = n
	}
	return res, nil
}

// fileJob is a file source read into the store.
func fileJob(t config.Telemetry, name string, reg *source.Registry) (job, error) {
	spec, err := reg.Lookup(t.Type)
	if err != nil {
		return job{}, err
	}
	return job{t: t, ref: signal.SourceRef{Name: name, Type: t.Type}, spec: spec}, nil
}

// readFile reads a file source whole. Its rejected records are counted,
// and the first of them reported, as for a poll.
func readFile(j job) (*source.Batch, error) {
	b, err := source.ReadFile(j.t.Path, j.spec, j.ref, nil)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("read %s: %w", j.t.Path, err)
	}
	return b, nil
}

func newJob(t config.Telemetry, name string, now time.Time, reg *source.Registry, log *slog.Logger) (job, error) {
	lookback, timeout, _, err := t.Durations()
	if err != nil {
		return job{}, err
	}
	queries, err := Queries(t.Queries)
	if err != nil {
		return job{}, err
	}
	ref := signal.SourceRef{Name: name, Type: t.Type}
	pc := source.PullConfig{
		Ref: ref, URL: t.URL, Queries: queries, Filter: t.Filter, Lookback: lookback, PageSize: t.PageSize,
		Now: func() time.Time { return now },
	}
	if k := t.Kubernetes; k != nil {
		pc.Kubernetes = &source.Kubernetes{Kubeconfig: k.Kubeconfig, Context: k.Context, Namespaces: k.Namespaces, Cluster: t.Cluster, Timeout: timeout}
	}
	pl, err := reg.Puller(t.Type, pc)
	if err != nil {
		return job{}, err
	}
	c, err := Client(t.Pull, timeout, log.With("source", name))
	if err != nil {
		return job{}, err
	}
	return job{t: t, ref: ref, poller: &source.Poller{Ref: ref, Puller: pl, Client: c}}, nil
}

// Client builds the HTTP client of one pull source: its TLS settings and
// its credentials, read now from their file or environment variable.
func Client(p config.Pull, timeout time.Duration, log *slog.Logger) (*httpclient.Client, error) {
	opts := httpclient.Options{Timeout: timeout, CAFile: p.CAFile, InsecureSkipVerify: p.InsecureSkipVerify, Logger: log}
	switch {
	case p.Auth != nil:
		tok, err := httpclient.LoadSecret("auth token", p.Auth.TokenFile, p.Auth.TokenEnv)
		if err != nil {
			return nil, err
		}
		opts.Auth = httpclient.Bearer{Value: tok}
	case p.OAuth2 != nil:
		if p.OAuth2.TokenURL == "" {
			return nil, errors.New(`oauth2: missing key "token_url"`)
		}
		sec, err := httpclient.LoadSecret("oauth2 client secret", p.OAuth2.ClientSecretFile, p.OAuth2.ClientSecretEnv)
		if err != nil {
			return nil, err
		}
		opts.Auth = &httpclient.ClientCredentials{TokenURL: p.OAuth2.TokenURL, ClientID: p.OAuth2.ClientID, ClientSecret: sec, Scopes: p.OAuth2.Scopes}
	}
	return httpclient.New(opts)
}

// Queries converts configured Prometheus queries.
func Queries(in []config.Query) ([]source.Query, error) {
	out := make([]source.Query, 0, len(in))
	for i, q := range in {
		sq := source.Query{Name: q.Name, Expr: q.Expr, Op: q.Op, Class: q.Class, Title: q.Title}
		if q.Threshold != nil {
			sq.Threshold = *q.Threshold
		}
		if q.Severity != "" {
			s, err := signal.ParseSeverity(q.Severity)
			if err != nil {
				return nil, fmt.Errorf("queries[%d]: severity: %w", i, err)
			}
			sq.Severity = s
		}
		out = append(out, sq)
	}
	return out, nil
}

// Poll polls one configured pull source once, as Run does, and returns its
// batch (Signals without a cluster get the source's) and health. The gate
// uses it for a url source when there is no store. Configuration problems
// are usage errors.
func Poll(ctx context.Context, t config.Telemetry, name string, now time.Time, reg *source.Registry, log *slog.Logger) (*source.Batch, source.Health, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now.IsZero() {
		now = time.Now()
	}
	j, err := newJob(t, name, now, reg, log)
	if err != nil {
		return nil, source.Health{}, tasks.Usage(fmt.Errorf("telemetry %s: %w", name, err))
	}
	b, h, err := j.poller.Poll(ctx)
	if err != nil {
		return nil, h, err
	}
	for k := range b.Signals {
		if b.Signals[k].Asset.Cluster == "" {
			b.Signals[k].Asset.Cluster = t.Cluster
		}
	}
	return b, h, nil
}
