// Package k8saudit reads Kubernetes audit events (audit.k8s.io Event).
package k8saudit

import (
	"errors"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "k8s-audit",
	Product: "Kubernetes",
	Summary: "Kubernetes audit events (audit.k8s.io Event JSON lines, EventList webhook bodies)",
	New:     func() source.Parser { return &Parser{} },
}

// Parser parses audit events. The zero value is ready to use.
type Parser struct{}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	return nil, errors.New("k8s-audit: not implemented yet")
}
