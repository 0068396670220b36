// Package policy decides proceed or block from the release's targets, the
// signals that concern them, the risk score and every source's state, and
// explains the verdict with reasons and evidence. Evaluation is
// deterministic: the same input gives the same Decision, byte for byte.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pulsegate/pulsegate/pkg/config"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// FailMode says what a stale or unavailable source does to the verdict.
type FailMode string

// Fail modes.
const (
	// FailClosed blocks, with the source's state as the reason.
	FailClosed FailMode = "fail-closed"
	// FailOpen proceeds, with a warning in the report.
	FailOpen FailMode = "fail-open"
)

// ParseFailMode checks s.
func ParseFailMode(s string) (FailMode, error) {
	switch FailMode(s) {
	case FailClosed, FailOpen:
		return FailMode(s), nil
	}
	return "", fmt.Errorf("unknown fail mode %q (want fail-closed or fail-open)", s)
}

// Mode says whether a block is enforced.
type Mode string

// Modes.
const (
	Enforce Mode = "enforce"
	// Shadow evaluates and records everything, and never fails the run.
	Shadow Mode = "shadow"
)

// ParseMode checks s.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Enforce, Shadow:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q (want enforce or shadow)", s)
}

// Policy holds the built-in rules' settings. The zero value is not useful:
// start from Default.
type Policy struct {
	Name string `yaml:"name" json:"name"`
	// BlockSeverity: a finding at or above it, fresh within Window, on
	// any target blocks.
	BlockSeverity string `yaml:"block_severity" json:"block_severity"`
	// RiskThreshold: a risk score at or above it blocks (0..100).
	RiskThreshold float64 `yaml:"risk_threshold" json:"risk_threshold"`
	// Window is how far back a finding counts ("1h").
	Window Duration `yaml:"window" json:"window"`
	// FailMode applies to stale and unavailable sources unless a source
	// sets its own.
	FailMode FailMode `yaml:"fail_mode" json:"fail_mode"`
	// MaxReasons bounds the findings listed as reasons; the rest are
	// counted in one more reason.
	MaxReasons int `yaml:"max_reasons" json:"max_reasons"`

	severity signal.Severity
}

// Default is the built-in policy.
func Default() Policy {
	p := Policy{
		Name:          "builtin-default",
		BlockSeverity: "high",
		RiskThreshold: 70,
		Window:        Duration(time.Hour),
		FailMode:      FailClosed,
		MaxReasons:    10,
	}
	_ = p.validate()
	return p
}

// DefaultYAML is the default policy as a file, for `pulsegate policy show`.
const DefaultYAML = `# pulsegate policy: the built-in default.
name: builtin-default
# A finding at or above this OCSF severity (informational, low, medium, high,
# critical, fatal), newer than the window, on any target of the release blocks.
block_severity: high
# A risk score (0..100) at or above this blocks.
risk_threshold: 70
# How far back a finding counts.
window: 1h
# What a stale or unavailable source does, unless the source sets its own:
# fail-closed (block) or fail-open (proceed with a warning).
fail_mode: fail-closed
# At most this many findings are listed as reasons; the rest are counted.
max_reasons: 10
`

// Load reads a policy file. Keys missing from the file keep their default
// values; unknown keys are errors that name the line.
func Load(path string) (Policy, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return Policy{}, nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, b, nil
}

// Parse reads policy YAML strictly.
func Parse(b []byte) (Policy, error) {
	p := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, config.YAMLError(err)
	}
	if err := p.validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func (p *Policy) validate() error {
	var errs []error
	sev, err := signal.ParseSeverity(p.BlockSeverity)
	if err != nil {
		errs = append(errs, fmt.Errorf("block_severity: %w", err))
	}
	p.severity = sev
	if p.RiskThreshold <= 0 || p.RiskThreshold > 100 {
		errs = append(errs, fmt.Errorf("risk_threshold: %v is outside 0 < t <= 100", p.RiskThreshold))
	}
	if p.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be positive, got %s", time.Duration(p.Window)))
	}
	if _, err := ParseFailMode(string(p.FailMode)); err != nil {
		errs = append(errs, fmt.Errorf("fail_mode: %w", err))
	}
	if p.MaxReasons <= 0 {
		p.MaxReasons = 10
	}
	return errors.Join(errs...)
}

// Duration is a time.Duration that reads and writes as "15m".
type Duration time.Duration

// UnmarshalYAML reads "90s", "15m", "1h".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 15m or 1h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as "1h0m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
