package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pulsegate/pulsegate/pkg/config"
)

// BreakGlass is an emergency override: it turns a block into a proceed, and
// names who did it, why, under which ticket, and until when. The decision
// records it with the reasons it overrode, and reports it as a warning.
type BreakGlass struct {
	Who     string    `json:"who"`
	Why     string    `json:"why"`
	Ticket  string    `json:"ticket"`
	Expires time.Time `json:"expires"`
	// Overridden lists the block reasons the override turned into a
	// proceed (set in a Decision only).
	Overridden []Reason `json:"overridden,omitempty"`
}

type breakGlassFile struct {
	Who     string `yaml:"who"`
	Why     string `yaml:"why"`
	Ticket  string `yaml:"ticket"`
	Expires string `yaml:"expires"`
}

// MaxBreakGlass is the longest an override may run: an override is for an
// emergency, not a standing exception (write a policy rule for that).
const MaxBreakGlass = 7 * 24 * time.Hour

// LoadBreakGlass reads a break-glass file (strict YAML: who, why, ticket,
// expires as RFC 3339). Check it against the decision time with Check.
func LoadBreakGlass(path string) (*BreakGlass, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read break-glass file: %w", err)
	}
	bg, err := ParseBreakGlass(b)
	if err != nil {
		return nil, nil, fmt.Errorf("break-glass file %s: %w", path, err)
	}
	return bg, b, nil
}

// ParseBreakGlass reads break-glass YAML strictly.
func ParseBreakGlass(b []byte) (*BreakGlass, error) {
	var f breakGlassFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, config.YAMLError(err)
	}
	bg := &BreakGlass{Who: strings.TrimSpace(f.Who), Why: strings.TrimSpace(f.Why), Ticket: strings.TrimSpace(f.Ticket)}
	var errs []error
	if f.Expires != "" {
		t, err := time.Parse(time.RFC3339, f.Expires)
		if err != nil {
			errs = append(errs, fmt.Errorf("expires: %q is not an RFC 3339 time like 2026-12-04T18:00:00Z", f.Expires))
		}
		bg.Expires = t
	}
	if err := bg.complete(); err != nil {
		errs = append(errs, err)
	}
	return bg, errors.Join(errs...)
}

func (b *BreakGlass) complete() error {
	var missing []string
	if b.Who == "" {
		missing = append(missing, "who")
	}
	if b.Why == "" {
		missing = append(missing, "why")
	}
	if b.Ticket == "" {
		missing = append(missing, "ticket")
	}
	if b.Expires.IsZero() {
		missing = append(missing, "expires")
	}
	if len(missing) > 0 {
		return fmt.Errorf("incomplete break-glass: missing %s (an override names who, why, a ticket and when it expires)", strings.Join(missing, ", "))
	}
	return nil
}

// Check reports an incomplete override, one that has expired at now, and
// one that runs longer than MaxBreakGlass from now.
func (b *BreakGlass) Check(now time.Time) error {
	if err := b.complete(); err != nil {
		return err
	}
	if !now.Before(b.Expires) {
		return fmt.Errorf("break-glass by %s (ticket %s) expired at %s, before the decision time %s",
			b.Who, b.Ticket, b.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if b.Expires.Sub(now) > MaxBreakGlass {
		return fmt.Errorf("break-glass by %s (ticket %s) expires at %s, more than %s after the decision time: an override is for an emergency",
			b.Who, b.Ticket, b.Expires.UTC().Format(time.RFC3339), MaxBreakGlass)
	}
	return nil
}
