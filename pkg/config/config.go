// Package config reads pulsegate's configuration file: strict YAML in which
// unknown keys are errors that name their line, and relative paths are
// resolved against the file's folder. Command-line flags override it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the file's content. Empty fields mean "not set".
type Config struct {
	Release   string      `yaml:"release"`
	Inventory string      `yaml:"inventory"`
	Policy    string      `yaml:"policy"`
	Model     string      `yaml:"model"`
	Namespace string      `yaml:"namespace"`
	Cluster   string      `yaml:"cluster"`
	Mode      string      `yaml:"mode"`
	Output    string      `yaml:"output"`
	Now       string      `yaml:"now"`
	Telemetry []Telemetry `yaml:"telemetry"`
	// Environment selects one of Environments (--environment).
	Environment  string                 `yaml:"environment"`
	Environments map[string]Environment `yaml:"environments"`
	// BreakGlass is a break-glass file (--break-glass-file).
	BreakGlass string `yaml:"break_glass"`
}

// Environment sets the fail mode of sources without their own, and the
// mode, for one environment ("prod": fail-closed, enforce).
type Environment struct {
	FailMode string `yaml:"fail_mode"` // fail-closed, fail-open or policy
	Mode     string `yaml:"mode"`      // enforce or shadow
}

// Telemetry configures one source.
type Telemetry struct {
	// Name identifies the source in reports; defaults to Type.
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	Path string `yaml:"path"`
	// MaxAge is how old the newest evidence of life may be ("15m").
	MaxAge string `yaml:"max_age"`
	// FailMode overrides the policy's for this source.
	FailMode string `yaml:"fail_mode"`
	// Cluster is given to signals that carry no cluster of their own.
	Cluster string `yaml:"cluster"`
	// Pull is set for sources polled over HTTP (url instead of path).
	Pull `yaml:",inline"`
}

// MaxAgeDuration parses MaxAge; zero when unset.
func (t Telemetry) MaxAgeDuration() (time.Duration, error) {
	if t.MaxAge == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(t.MaxAge)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("max_age: %q is not a positive duration like 15m", t.MaxAge)
	}
	return d, nil
}

// Load reads and checks path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.resolve(filepath.Dir(path))
	return c, nil
}

// Parse reads configuration YAML strictly.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, YAMLError(err)
	}
	// A second document would be ignored without a word: refuse it (an
	// empty one, as a trailing "---" leaves, is harmless).
	for {
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, YAMLError(err)
		}
		if len(more.Content) == 1 && more.Content[0].Tag == "!!null" {
			continue
		}
		return nil, fmt.Errorf("line %d: a second YAML document; the configuration is one document", more.Line)
	}
	var errs []error
	for name, e := range c.Environments {
		switch e.FailMode {
		case "", "fail-closed", "fail-open", "policy":
		default:
			errs = append(errs, fmt.Errorf("environments.%s.fail_mode: %q, want fail-closed, fail-open or policy", name, e.FailMode))
		}
		switch e.Mode {
		case "", "enforce", "shadow":
		default:
			errs = append(errs, fmt.Errorf("environments.%s.mode: %q, want enforce or shadow", name, e.Mode))
		}
	}
	if _, ok := c.Environments[c.Environment]; c.Environment != "" && !ok {
		errs = append(errs, fmt.Errorf("environment: %q is not one of environments", c.Environment))
	}
	for i, t := range c.Telemetry {
		if t.Type == "" {
			errs = append(errs, fmt.Errorf("telemetry[%d]: missing key \"type\"", i))
		}
		if t.Path == "" && !t.Pulled() {
			errs = append(errs, fmt.Errorf("telemetry[%d]: missing key \"path\" (a file) or \"url\" (a pull source)", i))
		}
		for _, err := range t.checkPull() {
			errs = append(errs, fmt.Errorf("telemetry[%d]: %w", i, err))
		}
		if _, err := t.MaxAgeDuration(); err != nil {
			errs = append(errs, fmt.Errorf("telemetry[%d]: %w", i, err))
		}
	}
	return &c, errors.Join(errs...)
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && *p != "-" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Release)
	abs(&c.Inventory)
	abs(&c.Policy)
	abs(&c.Model)
	abs(&c.BreakGlass)
	for i := range c.Telemetry {
		abs(&c.Telemetry[i].Path)
		c.Telemetry[i].resolvePull(abs)
	}
}

// YAMLError rewrites yaml.v3's strict-mode errors ("line 3: field x not
// found in type config.Config") as "line 3: unknown key \"x\"".
func YAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	var errs []error
	for _, e := range te.Errors {
		if i := strings.Index(e, ": field "); i >= 0 {
			if j := strings.Index(e[i:], " not found in type "); j >= 0 {
				errs = append(errs, fmt.Errorf("%s: unknown key %q", e[:i], e[i+len(": field "):i+j]))
				continue
			}
		}
		errs = append(errs, errors.New(e))
	}
	return errors.Join(errs...)
}
