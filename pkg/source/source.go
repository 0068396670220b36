// Package source defines how raw telemetry becomes Signals: the Parser that
// every adapter implements, the record reader that splits a file into
// records (JSON lines, one JSON document, a JSON array, or an API envelope),
// and the registry of adapter types. Each adapter lives in its own
// subpackage (falco, tetragon, k8saudit, ...) and never imports another.
package source

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Record is one raw record read from a file or a response body.
type Record struct {
	Data []byte // the record's bytes; valid only during the Parse call
	File string // the file name, or "-" for standard input
	Line int    // 1-based line where the record starts
}

// Parser turns one raw record into Signals. It must not keep rec.Data. A
// returned error rejects the record; its text is the reason a person reads
// ("missing field \"time\""). Parse must never panic on any input.
type Parser interface {
	Parse(rec Record) ([]signal.Signal, error)
}

// ParserFunc adapts a function to Parser.
type ParserFunc func(rec Record) ([]signal.Signal, error)

// Parse calls f.
func (f ParserFunc) Parse(rec Record) ([]signal.Signal, error) { return f(rec) }

// Spec describes one adapter type.
type Spec struct {
	// Type is the name used on the command line and in configuration
	// ("falco", "k8s-audit").
	Type string
	// Product is the OCSF metadata.product.name of what it reads.
	Product string
	// Summary is one line for `pulsegate sources` and errors.
	Summary string
	// AlertOnly marks sources that stay quiet while all is well (Falco):
	// their freshness comes from heartbeats and file times, never from
	// the presence of findings.
	AlertOnly bool
	// New returns a parser. Parsers need not be safe for concurrent use.
	New func() Parser
	// Unwrap, when set, splits one decoded document into records (an API
	// list response). It returns ok=false when doc is a plain record.
	Unwrap UnwrapFunc
	// Split, when set, replaces ReadRecords for this type: for inputs that
	// are not JSON (CSV catalogues, YAML resources). See Spec.ReadRecords.
	Split SplitFunc
	// Pull, when set, makes the type pollable over HTTP (see pull.go).
	Pull PullFunc
	// PullKubernetes, when set, makes the type readable from the
	// Kubernetes API (PullConfig.Kubernetes instead of a URL): Trivy
	// Operator's reports. Its Puller ignores the HTTP client.
	PullKubernetes PullFunc
}

// Registry holds the known adapter types.
type Registry struct {
	specs map[string]Spec
}

// NewRegistry returns a registry holding specs. Duplicate or empty types are
// an error.
func NewRegistry(specs ...Spec) (*Registry, error) {
	r := &Registry{specs: make(map[string]Spec, len(specs))}
	var errs []error
	for _, s := range specs {
		switch {
		case s.Type == "":
			errs = append(errs, errors.New("source spec with empty type"))
		case s.New == nil:
			errs = append(errs, fmt.Errorf("source %q has no parser", s.Type))
		default:
			if _, dup := r.specs[s.Type]; dup {
				errs = append(errs, fmt.Errorf("source type %q registered twice", s.Type))
			}
			r.specs[s.Type] = s
		}
	}
	return r, errors.Join(errs...)
}

// Lookup returns the spec for typ, or an error that lists the known types.
func (r *Registry) Lookup(typ string) (Spec, error) {
	s, ok := r.specs[typ]
	if !ok {
		return Spec{}, fmt.Errorf("unknown telemetry type %q (known: %s)", typ, strings.Join(r.Types(), ", "))
	}
	return s, nil
}

// Types lists the registered types in sorted order.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.specs))
	for t := range r.specs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
