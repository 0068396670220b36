package correlate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sensitivity levels, from the most to the least sensitive.
const (
	High   = "high"
	Medium = "medium"
	Low    = "low"
)

// SensitivityRule gives a level to objects whose label or annotation Key
// has one of Values.
type SensitivityRule struct {
	// Key is a label or annotation key, e.g. "data-classification".
	Key string `yaml:"key" json:"key"`
	// Values are compared without regard to case; empty means any value.
	Values []string `yaml:"values,omitempty" json:"values,omitempty"`
	// Level is high, medium or low.
	Level string `yaml:"level" json:"level"`
}

// Sensitivity maps labels and annotations to a sensitivity level: the
// highest level of every rule that matches. The zero value matches nothing.
type Sensitivity struct {
	Rules []SensitivityRule `yaml:"rules" json:"rules"`
}

// DefaultSensitivity is the built-in mapping: data-classification pii,
// confidential, restricted or secret is high; tier, env or environment prod
// or production is high, staging medium.
func DefaultSensitivity() *Sensitivity {
	s := &Sensitivity{Rules: []SensitivityRule{
		{Key: "data-classification", Values: []string{"pii", "confidential", "restricted", "secret"}, Level: High},
	}}
	for _, k := range []string{"tier", "env", "environment"} {
		s.Rules = append(s.Rules,
			SensitivityRule{Key: k, Values: []string{"prod", "production"}, Level: High},
			SensitivityRule{Key: k, Values: []string{"staging"}, Level: Medium})
	}
	return s
}

// Of returns the highest level of the rules that match labels or
// annotations, or "" when none does.
func (s *Sensitivity) Of(labels, annotations map[string]string) string {
	if s == nil {
		return ""
	}
	best := ""
	for _, r := range s.Rules {
		if rankLevel(r.Level) <= rankLevel(best) {
			continue
		}
		for _, m := range [2]map[string]string{labels, annotations} {
			v, ok := m[r.Key]
			if ok && r.matches(v) {
				best = r.Level
				break
			}
		}
	}
	return best
}

// sensIndex answers what Sensitivity.Of answers with one lookup per
// distinct key rather than one per rule: the rules grouped by key, those
// with a level that is not high, medium or low (which never match) left
// out.
type sensIndex struct {
	keys []sensKey
}

type sensKey struct {
	key   string
	rules []sensRule
}

type sensRule struct {
	rank int
	rule SensitivityRule
}

func newSensIndex(s *Sensitivity) sensIndex {
	var x sensIndex
	if s == nil {
		return x
	}
	for _, r := range s.Rules {
		rk := rankLevel(r.Level)
		if rk == 0 {
			continue
		}
		i := slices.IndexFunc(x.keys, func(k sensKey) bool { return k.key == r.Key })
		if i < 0 {
			i = len(x.keys)
			x.keys = append(x.keys, sensKey{key: r.Key})
		}
		x.keys[i].rules = append(x.keys[i].rules, sensRule{rk, r})
	}
	return x
}

// of is Sensitivity.Of: the level of the highest-ranked rule that matches
// a label or an annotation.
func (x *sensIndex) of(labels, annotations map[string]string) string {
	best, level := 0, ""
	for i := range x.keys {
		k := &x.keys[i]
		for _, m := range [2]map[string]string{labels, annotations} {
			v, ok := m[k.key]
			if !ok {
				continue
			}
			for _, r := range k.rules {
				if r.rank > best && r.rule.matches(v) {
					best, level = r.rank, r.rule.Level
				}
			}
		}
	}
	return level
}

func (r SensitivityRule) matches(v string) bool {
	if len(r.Values) == 0 {
		return true
	}
	for _, want := range r.Values {
		if strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

func rankLevel(l string) int {
	switch l {
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	}
	return 0
}

// LoadSensitivity reads a mapping file (strict YAML: unknown keys are errors
// that name their line):
//
//	rules:
//	  - key: data-classification
//	    values: [pii]
//	    level: high
func LoadSensitivity(path string) (*Sensitivity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sensitivity mapping: %w", err)
	}
	s, err := ParseSensitivity(b)
	if err != nil {
		return nil, fmt.Errorf("sensitivity mapping %s: %w", path, err)
	}
	return s, nil
}

// ParseSensitivity reads a mapping from YAML bytes; see LoadSensitivity.
func ParseSensitivity(b []byte) (*Sensitivity, error) {
	var s Sensitivity
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var errs []error
	for i, r := range s.Rules {
		if r.Key == "" {
			errs = append(errs, fmt.Errorf("rules[%d]: missing key \"key\"", i))
		}
		if rankLevel(r.Level) == 0 {
			errs = append(errs, fmt.Errorf("rules[%d]: level %q: want high, medium or low", i, r.Level))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &s, nil
}
