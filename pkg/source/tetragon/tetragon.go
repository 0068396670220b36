// Package tetragon reads Tetragon's JSON export.
package tetragon

import (
	"errors"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "tetragon",
	Product: "Tetragon",
	Summary: "Tetragon JSON export lines (process_exec, process_exit, process_kprobe, ...)",
	New:     func() source.Parser { return &Parser{} },
}

// Parser parses Tetragon events. The zero value is ready to use.
type Parser struct{}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	return nil, errors.New("tetragon: not implemented yet")
}
