package remediate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Action types.
const (
	// TypeArgoWorkflow creates an Argo Workflow from a WorkflowTemplate or
	// a ClusterWorkflowTemplate (spec.workflowTemplateRef + arguments).
	TypeArgoWorkflow = "argo-workflow"
	// TypeTektonPipeline creates a Tekton PipelineRun from a Pipeline
	// (spec.pipelineRef + params).
	TypeTektonPipeline = "tekton-pipeline"
	// TypeCordon marks every node among the block's targets unschedulable.
	TypeCordon = "cordon"
	// TypeIsolatePod labels every pod among the block's targets and
	// creates a deny-all NetworkPolicy that selects that label.
	TypeIsolatePod = "isolate-pod"
	// TypeDeletePod deletes every pod among the block's targets, so that
	// its controller replaces it.
	TypeDeletePod = "delete-pod"
	// TypeScaleToZero scales the Deployment or StatefulSet that owns every
	// pod among the block's targets to zero replicas.
	TypeScaleToZero = "scale-to-zero"
)

// Types lists the action types, sorted.
var Types = []string{TypeArgoWorkflow, TypeCordon, TypeDeletePod, TypeIsolatePod, TypeScaleToZero, TypeTektonPipeline}

// Defaults of the budget, chosen so that a remediation workflow that
// replaces a node (minutes) fits twice in the deadline.
const (
	DefaultAttempts      = 3
	DefaultBackoff       = 30 * time.Second
	DefaultDeadline      = 30 * time.Minute
	DefaultActionTimeout = 15 * time.Minute
	DefaultFreshTimeout  = 10 * time.Minute
)

// Duration is a time.Duration written as "30s", "15m" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string; it must be positive.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 30s or 15m", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: %q is not a positive duration like 30s or 15m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// String is the Go form, "15m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// Config is a remediation configuration file: the actions that exist, which
// of them each environment allows and runs, and the retry budget.
type Config struct {
	Actions      []Action               `yaml:"actions"`
	Environments map[string]Environment `yaml:"environments"`
	Budget       Budget                 `yaml:"budget"`
}

// Action is one configured remediation.
type Action struct {
	// Name is how environments, --action and records refer to it: a
	// lower-case DNS label, unique in the file.
	Name string `yaml:"name"`
	// Type is one of Types.
	Type string `yaml:"type"`
	// Namespace is where the Workflow or PipelineRun is created
	// (workflow types only; required there).
	Namespace string `yaml:"namespace"`
	// WorkflowTemplate or ClusterWorkflowTemplate names the Argo template
	// (argo-workflow: exactly one of them).
	WorkflowTemplate        string `yaml:"workflow_template"`
	ClusterWorkflowTemplate string `yaml:"cluster_workflow_template"`
	// Pipeline names the Tekton Pipeline (tekton-pipeline).
	Pipeline string `yaml:"pipeline"`
	// ServiceAccount is the ServiceAccount the Workflow or PipelineRun runs
	// as ("": the namespace's default, as Argo and Tekton choose).
	ServiceAccount string `yaml:"service_account"`
	// Params are extra parameters passed to the workflow, beside the ones
	// pulsegate always passes (see Params); they cannot override those.
	Params map[string]string `yaml:"params"`
	// Timeout bounds the wait for the workflow's outcome (0: the budget's
	// action_timeout).
	Timeout Duration `yaml:"timeout"`

	line int
}

// Environment is what one environment allows and runs.
type Environment struct {
	// Allow lists the actions that may run in this environment; anything
	// else is refused.
	Allow []string `yaml:"allow"`
	// Run lists the actions `pulsegate gate --remediate` runs on a block,
	// in order (empty: all of Allow, in order). Each must be allowed.
	Run []string `yaml:"run"`
}

// Budget bounds the loop.
type Budget struct {
	// Attempts is how many remediation attempts at most (default 3).
	Attempts int `yaml:"attempts"`
	// Backoff is the wait before the second attempt; it doubles for each
	// later one (default 30s).
	Backoff Duration `yaml:"backoff"`
	// Deadline bounds the whole loop, from the first block (default 30m).
	Deadline Duration `yaml:"deadline"`
	// ActionTimeout bounds the wait for one workflow (default 15m).
	ActionTimeout Duration `yaml:"action_timeout"`
	// FreshTimeout bounds the wait for fresh data after a remediation
	// (default 10m).
	FreshTimeout Duration `yaml:"fresh_timeout"`
}

// WithDefaults returns b with every zero field set to its default.
func (b Budget) WithDefaults() Budget {
	if b.Attempts == 0 {
		b.Attempts = DefaultAttempts
	}
	if b.Backoff == 0 {
		b.Backoff = Duration(DefaultBackoff)
	}
	if b.Deadline == 0 {
		b.Deadline = Duration(DefaultDeadline)
	}
	if b.ActionTimeout == 0 {
		b.ActionTimeout = Duration(DefaultActionTimeout)
	}
	if b.FreshTimeout == 0 {
		b.FreshTimeout = Duration(DefaultFreshTimeout)
	}
	return b
}

// DefaultEnvironment is the environment that applies when none is named.
const DefaultEnvironment = "default"

// LoadConfig reads and checks the configuration at path. Errors name the
// file, the line and the key.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read remediation config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("remediation config %s: %w", path, err)
	}
	return c, nil
}

// maxConfigBytes bounds a configuration file: it lists actions, not data.
const maxConfigBytes = 1 << 20

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ParseConfig reads configuration YAML strictly: unknown keys, a second
// document, unknown types, missing or conflicting keys are errors.
func ParseConfig(b []byte) (*Config, error) {
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%d bytes: a remediation configuration is at most %d", len(b), maxConfigBytes)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil && !(len(more.Content) == 1 && more.Content[0].Tag == "!!null") {
		line := more.Line
		if len(more.Content) > 0 {
			line = more.Content[0].Line
		}
		return nil, fmt.Errorf("line %d: a second YAML document; the configuration is one document", line)
	}
	// Lines of the actions, for the errors below.
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err == nil && len(doc.Content) == 1 {
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "actions" {
				for j, n := range root.Content[i+1].Content {
					if j < len(c.Actions) {
						c.Actions[j].line = n.Line
					}
				}
			}
		}
	}
	return &c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	names := map[string]bool{}
	for i := range c.Actions {
		a := &c.Actions[i]
		at := fmt.Sprintf("actions[%d]", i)
		if a.line > 0 {
			at = fmt.Sprintf("line %d: actions[%d]", a.line, i)
		}
		if a.Name != "" {
			at += " (" + a.Name + ")"
		}
		for _, err := range a.check() {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
		if names[a.Name] && a.Name != "" {
			errs = append(errs, fmt.Errorf("%s: name %q is used twice", at, a.Name))
		}
		names[a.Name] = true
	}
	envs := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		envs = append(envs, n)
	}
	sort.Strings(envs)
	for _, n := range envs {
		e := c.Environments[n]
		allowed := map[string]bool{}
		for i, a := range e.Allow {
			if !names[a] {
				errs = append(errs, fmt.Errorf("environments.%s.allow[%d]: %q is not one of the actions (%s)", n, i, a, strings.Join(c.ActionNames(), ", ")))
			}
			allowed[a] = true
		}
		for i, a := range e.Run {
			if !allowed[a] {
				errs = append(errs, fmt.Errorf("environments.%s.run[%d]: %q is not in environments.%s.allow", n, i, a, n))
			}
		}
	}
	b := c.Budget
	if b.Attempts < 0 || b.Attempts > 100 {
		errs = append(errs, fmt.Errorf("budget.attempts: %d, want 1 to 100", b.Attempts))
	}
	return errors.Join(errs...)
}

func (a *Action) check() []error {
	var errs []error
	if a.Name == "" {
		errs = append(errs, errors.New(`missing key "name"`))
	} else if len(a.Name) > 40 || !dnsLabel.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("name %q: want lower-case letters, digits and '-', at most 40 characters", a.Name))
	}
	workflow := a.Type == TypeArgoWorkflow || a.Type == TypeTektonPipeline
	switch a.Type {
	case "":
		errs = append(errs, fmt.Errorf(`missing key "type" (one of %s)`, strings.Join(Types, ", ")))
	case TypeArgoWorkflow:
		if (a.WorkflowTemplate == "") == (a.ClusterWorkflowTemplate == "") {
			errs = append(errs, errors.New(`give exactly one of "workflow_template" and "cluster_workflow_template"`))
		}
	case TypeTektonPipeline:
		if a.Pipeline == "" {
			errs = append(errs, errors.New(`missing key "pipeline"`))
		}
	case TypeCordon, TypeIsolatePod, TypeDeletePod, TypeScaleToZero:
	default:
		errs = append(errs, fmt.Errorf("type %q: want one of %s", a.Type, strings.Join(Types, ", ")))
	}
	if a.Type != TypeArgoWorkflow && (a.WorkflowTemplate != "" || a.ClusterWorkflowTemplate != "") {
		errs = append(errs, fmt.Errorf("workflow_template and cluster_workflow_template belong to type %s", TypeArgoWorkflow))
	}
	if a.Type != TypeTektonPipeline && a.Pipeline != "" {
		errs = append(errs, fmt.Errorf("pipeline belongs to type %s", TypeTektonPipeline))
	}
	if workflow && a.Namespace == "" {
		errs = append(errs, errors.New(`missing key "namespace" (where the workflow is created)`))
	}
	if !workflow && (a.Namespace != "" || a.ServiceAccount != "" || len(a.Params) > 0 || a.Timeout != 0) {
		errs = append(errs, fmt.Errorf("namespace, service_account, params and timeout belong to types %s and %s: a built-in acts on the block's targets", TypeArgoWorkflow, TypeTektonPipeline))
	}
	for k := range a.Params {
		if reservedParams[k] {
			errs = append(errs, fmt.Errorf("params.%s: pulsegate sets this parameter itself", k))
		}
	}
	return errs
}

// ActionNames lists the configured actions' names, in file order.
func (c *Config) ActionNames() []string {
	out := make([]string, len(c.Actions))
	for i, a := range c.Actions {
		out[i] = a.Name
	}
	return out
}

// Action returns the action named name.
func (c *Config) Action(name string) (Action, bool) {
	for _, a := range c.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// RefusedError is an action that the environment does not allow, or that
// does not exist.
type RefusedError struct {
	Action, Environment string
	Allowed             []string
	Unknown             bool
}

func (e *RefusedError) Error() string {
	allowed := "none"
	if len(e.Allowed) > 0 {
		allowed = strings.Join(e.Allowed, ", ")
	}
	if e.Unknown {
		return fmt.Sprintf("remediation %q refused: no such action in the remediation config (environment %q allows: %s)", e.Action, e.Environment, allowed)
	}
	return fmt.Sprintf("remediation %q refused: not on environment %q's allow list (allowed: %s)", e.Action, e.Environment, allowed)
}

// Resolve returns the actions to run in environment env ("": "default"):
// names, or the environment's run list when names is empty. An unknown
// environment, an unknown action and an action not on the environment's
// allow list are refused with a *RefusedError (or an error naming the
// environments).
func (c *Config) Resolve(env string, names []string) ([]Action, error) {
	if env == "" {
		env = DefaultEnvironment
	}
	e, ok := c.Environments[env]
	if !ok {
		known := make([]string, 0, len(c.Environments))
		for n := range c.Environments {
			known = append(known, n)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("remediation refused: environment %q is not configured (environments: %s); nothing is allowed", env, strings.Join(known, ", "))
	}
	if len(names) == 0 {
		names = e.Run
		if len(names) == 0 {
			names = e.Allow
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("remediation: environment %q allows no action", env)
	}
	var out []Action
	var errs []error
	for _, n := range names {
		a, known := c.Action(n)
		allowed := false
		for _, x := range e.Allow {
			allowed = allowed || x == n
		}
		if !known || !allowed {
			errs = append(errs, &RefusedError{Action: n, Environment: env, Allowed: e.Allow, Unknown: !known})
			continue
		}
		out = append(out, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func yamlError(err error) error {
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
