// Package policy decides proceed or block from the release's targets, the
// signals that concern them, the risk score and every source's state, and
// explains the verdict with reasons and evidence.
//
// A policy is a list of rules written in CEL (https://cel.dev), evaluated in
// file order over the values described in docs/policy.md. The built-in
// default policy is itself such a file (default.yaml, printed by `pulsegate
// policy show`). Evaluation is deterministic: the same input gives the same
// Decision, byte for byte, and every rule runs under a cost limit counted in
// CEL cost units, not wall-clock time, so the limit too is deterministic.
//
// Fail-closed is enforced by the engine, not only by the rules: a stale or
// unavailable source whose fail mode is fail-closed blocks even when a custom
// policy has no rule for it.
package policy

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pulsegate/pulsegate/pkg/config"
)

// FailMode says what a stale or unavailable source does to the verdict.
type FailMode string

// Fail modes.
const (
	// FailClosed blocks, with the source's state as the reason.
	FailClosed FailMode = "fail-closed"
	// FailOpen proceeds, with a warning in the report.
	FailOpen FailMode = "fail-open"
	// FailPolicy leaves it to the rules: the source's status and fail mode
	// are visible to them, and nothing blocks unless a rule does (a warning
	// says so when no rule mentioned the source).
	FailPolicy FailMode = "policy"
)

// ParseFailMode checks s.
func ParseFailMode(s string) (FailMode, error) {
	switch FailMode(s) {
	case FailClosed, FailOpen, FailPolicy:
		return FailMode(s), nil
	}
	return "", fmt.Errorf("unknown fail mode %q (want fail-closed, fail-open or policy)", s)
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

// Rule verdicts.
const (
	VerdictBlock = "block"
	VerdictWarn  = "warn"
)

// DefaultCostLimit is a rule's cost limit unless the policy sets one: the
// number of input list elements (signals, targets, sources, risk
// contributions) the rule may visit. Filtering 10,000 signals visits 10,000;
// a rule that compares every signal with every other one visits 10^8.
const DefaultCostLimit = 1_000_000

// Rule is one CEL rule. See docs/policy.md.
type Rule struct {
	// Name identifies the rule in reasons ("severe-finding"): lower case
	// letters, digits and dashes.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Verdict is "block" (the rule's reasons block) or "warn" (they are
	// reported as warnings).
	Verdict string `yaml:"verdict" json:"verdict"`
	// Expression is CEL. A bool fires once when true; a list fires once per
	// element, bound to `item` in Message and Evidence.
	Expression string `yaml:"expression" json:"expression"`
	// Message is a template: text with {{ CEL }} placeholders.
	Message string `yaml:"message" json:"message"`
	// Evidence is an optional CEL expression giving the reason's evidence
	// (signals, sources, contributions, targets, maps, or lists of them).
	// Without it a list rule's evidence is the item itself.
	Evidence string `yaml:"evidence,omitempty" json:"evidence,omitempty"`
	// MaxReasons bounds a list rule's reasons (0: no bound); the rest are
	// counted in one more reason whose message is More, with `more` the
	// count.
	MaxReasons int    `yaml:"max_reasons,omitempty" json:"max_reasons,omitempty"`
	More       string `yaml:"more,omitempty" json:"more,omitempty"`
}

// Policy is a parsed and compiled policy. It is immutable and safe for
// concurrent use once Parse returns it.
type Policy struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Window is how far back a signal counts; older ones never reach the
	// rules.
	Window Duration `yaml:"window" json:"window"`
	// FailMode applies to stale and unavailable sources that set none of
	// their own (directly or through the environment).
	FailMode FailMode `yaml:"fail_mode" json:"fail_mode"`
	// CostLimit bounds each rule's evaluation: the input list elements it
	// may visit (see DefaultCostLimit).
	CostLimit uint64 `yaml:"cost_limit" json:"cost_limit"`
	// Params are free-form values the rules read as `params`.
	Params map[string]any `yaml:"params" json:"params"`
	Rules  []Rule         `yaml:"rules" json:"rules"`

	// Digest is the sha256 of the file the policy was read from.
	Digest string `yaml:"-" json:"-"`

	compiled  []*compiledRule
	paramRefs map[string]int
}

// PolicyInfo is what a Decision records about its policy.
type PolicyInfo struct {
	Name     string         `json:"name"`
	Digest   string         `json:"digest,omitempty"`
	Window   Duration       `json:"window"`
	FailMode FailMode       `json:"fail_mode"`
	Params   map[string]any `json:"params,omitempty"`
	Rules    []string       `json:"rules"`
}

// Info summarizes p for a Decision.
func (p *Policy) Info() PolicyInfo {
	pi := PolicyInfo{Name: p.Name, Digest: p.Digest, Window: p.Window, FailMode: p.FailMode, Params: p.Params, Rules: []string{}}
	for _, r := range p.Rules {
		pi.Rules = append(pi.Rules, r.Name)
	}
	return pi
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the built-in policy as a file, for `pulsegate policy show`.
var DefaultYAML = string(defaultYAML)

var (
	defaultOnce   sync.Once
	defaultPolicy *Policy
)

// Default is the built-in policy. It is shared: do not modify it.
func Default() *Policy {
	defaultOnce.Do(func() {
		p, err := parse("builtin:default.yaml", defaultYAML, nil)
		if err != nil {
			panic("policy: the built-in policy does not compile: " + err.Error())
		}
		defaultPolicy = p
	})
	return defaultPolicy
}

// Load reads and compiles a policy file. Keys missing from the file keep the
// built-in policy's values (params key by key; rules as a whole); unknown
// keys are errors that name the line.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return ParseFile(path, b)
}

// Parse reads and compiles policy YAML; errors name lines as "line N".
func Parse(b []byte) (*Policy, error) { return ParseFile("", b) }

// ParseFile is Parse for the file named name; errors name "name:LINE".
func ParseFile(name string, b []byte) (*Policy, error) {
	return parse(name, b, Default())
}

type policyFile struct {
	Name        *string        `yaml:"name"`
	Description *string        `yaml:"description"`
	Window      *Duration      `yaml:"window"`
	FailMode    *FailMode      `yaml:"fail_mode"`
	CostLimit   *uint64        `yaml:"cost_limit"`
	Params      map[string]any `yaml:"params"`
	Rules       *[]Rule        `yaml:"rules"`
}

var ruleName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func parse(name string, b []byte, base *Policy) (*Policy, error) {
	loc := locator{file: name}
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, loc.wrap(config.YAMLError(err))
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root) // it decoded above, so it parses
	nodes := ruleNodes(&root)

	p := &Policy{Name: "custom", Window: Duration(time.Hour), FailMode: FailClosed, CostLimit: DefaultCostLimit, Params: map[string]any{}}
	if base != nil {
		p.Name, p.Description, p.Window, p.FailMode, p.CostLimit = base.Name, base.Description, base.Window, base.FailMode, base.CostLimit
		for k, v := range base.Params {
			p.Params[k] = v
		}
		p.Rules = append(p.Rules, base.Rules...)
		nodes = nil
	}
	if f.Name != nil {
		p.Name = *f.Name
	}
	if f.Description != nil {
		p.Description = *f.Description
	}
	if f.Window != nil {
		p.Window = *f.Window
	}
	if f.FailMode != nil {
		p.FailMode = *f.FailMode
	}
	if f.CostLimit != nil {
		p.CostLimit = *f.CostLimit
	}
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Params[k] = f.Params[k]
	}
	if f.Rules != nil {
		p.Rules = *f.Rules
		nodes = ruleNodes(&root)
	}
	var errs []error
	if p.Window <= 0 {
		errs = append(errs, loc.at(keyLine(&root, "window"), fmt.Errorf("window: must be positive, got %s", time.Duration(p.Window))))
	}
	if _, err := ParseFailMode(string(p.FailMode)); err != nil {
		errs = append(errs, loc.at(keyLine(&root, "fail_mode"), fmt.Errorf("fail_mode: %w", err)))
	}
	if p.CostLimit == 0 {
		errs = append(errs, loc.at(keyLine(&root, "cost_limit"), errors.New("cost_limit: must be positive")))
	}
	seen := map[string]bool{}
	for i := range p.Rules {
		r := &p.Rules[i]
		var n *ruleNode
		if i < len(nodes) {
			n = &nodes[i]
		}
		line := 0
		if n != nil {
			line = n.line
		}
		what := fmt.Sprintf("rule %d %q", i+1, r.Name)
		switch {
		case r.Name == "":
			errs = append(errs, loc.at(line, fmt.Errorf("rule %d: missing key \"name\"", i+1)))
		case !ruleName.MatchString(r.Name):
			errs = append(errs, loc.at(line, fmt.Errorf("%s: name: use lower case letters, digits and dashes", what)))
		case seen[r.Name]:
			errs = append(errs, loc.at(line, fmt.Errorf("%s: name: used twice", what)))
		}
		seen[r.Name] = true
		if r.Verdict != VerdictBlock && r.Verdict != VerdictWarn {
			errs = append(errs, loc.at(line, fmt.Errorf("%s: verdict: %q, want block or warn", what, r.Verdict)))
		}
		if r.Expression == "" {
			errs = append(errs, loc.at(line, fmt.Errorf("%s: missing key \"expression\"", what)))
		}
		if r.Message == "" {
			errs = append(errs, loc.at(line, fmt.Errorf("%s: missing key \"message\"", what)))
		}
		if r.MaxReasons < 0 {
			errs = append(errs, loc.at(line, fmt.Errorf("%s: max_reasons: must not be negative", what)))
		}
		if r.MaxReasons > 0 && r.More == "" {
			r.More = "and {{more}} more"
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := p.compile(loc, nodes); err != nil {
		return nil, err
	}
	if err := p.checkParams(); err != nil {
		return nil, loc.wrap(err)
	}
	p.Digest = digestBytes(b)
	return p, nil
}

// locator formats "file:line: " prefixes.
type locator struct{ file string }

func (l locator) at(line int, err error) error {
	switch {
	case line > 0 && l.file != "":
		return fmt.Errorf("%s:%d: %w", l.file, line, err)
	case line > 0:
		return fmt.Errorf("line %d: %w", line, err)
	case l.file != "":
		return fmt.Errorf("%s: %w", l.file, err)
	}
	return err
}

// wrap names the file in errors that carry "line N: ...", as "FILE:N: ...".
func (l locator) wrap(err error) error {
	if l.file == "" || err == nil {
		return err
	}
	lines := strings.Split(err.Error(), "\n")
	for i, s := range lines {
		if m := lineRE.FindStringSubmatch(s); m != nil {
			lines[i] = l.file + ":" + m[1] + ": " + s[len(m[0]):]
		} else {
			lines[i] = l.file + ": " + s
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

var lineRE = regexp.MustCompile(`^line (\d+): `)

// ruleNode remembers where a rule and its CEL fields are in the file.
type ruleNode struct {
	line   int
	fields map[string]*yaml.Node
}

func ruleNodes(root *yaml.Node) []ruleNode {
	seq := mapValue(root, "rules")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]ruleNode, len(seq.Content))
	for i, r := range seq.Content {
		out[i] = ruleNode{line: r.Line, fields: map[string]*yaml.Node{}}
		if r.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(r.Content); j += 2 {
				out[i].fields[r.Content[j].Value] = r.Content[j+1]
			}
		}
	}
	return out
}

func mapValue(root *yaml.Node, key string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			return n.Content[j+1]
		}
	}
	return nil
}

func keyLine(root *yaml.Node, key string) int {
	if n := mapValue(root, key); n != nil {
		return n.Line
	}
	return 0
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

// UnmarshalText reads what MarshalText writes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 15m or 1h", b)
	}
	*d = Duration(v)
	return nil
}

func digestBytes(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
