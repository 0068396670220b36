package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pulsegate/pulsegate/pkg/config"
)

// Suite is a policy test file (`pulsegate policy test`): a policy and cases,
// each an input and the decision expected from it.
//
//	policy: policy.yaml            # relative to this file; omitted: the built-in policy
//	cases:
//	  - name: a reverse shell on a payments node blocks
//	    input: recorded/input.json # a recorded input (pulsegate gate --record DIR)
//	    want:
//	      verdict: block
//	      reasons: [severe-finding, {rule: risk-threshold, contains: "risk score 83"}]
//	  - name: quiet
//	    input: {now: "2026-11-30T10:00:00Z", targets: [], signals: [], sources: []}
//	    want: {verdict: proceed, reasons: []}
type Suite struct {
	Policy string `yaml:"policy"`
	Cases  []Case `yaml:"cases"`
}

// Case is one test case.
type Case struct {
	Name string `yaml:"name"`
	// Input is a path (relative to the suite file) to a JSON or YAML policy
	// input, or the input itself as a mapping.
	Input yaml.Node `yaml:"input"`
	// Mode and Environment override the input's.
	Mode        string `yaml:"mode"`
	Environment string `yaml:"environment"`
	Want        Want   `yaml:"want"`
}

// Want is what a case expects. Verdict is required; Reasons, when given,
// must match the decision's reasons one for one, in order (an empty list:
// no reasons); every Warnings entry must be part of some warning.
type Want struct {
	Verdict  Verdict      `yaml:"verdict"`
	Reasons  []WantReason `yaml:"reasons"`
	Warnings []string     `yaml:"warnings"`
}

// WantReason is a rule name, or a mapping with rule and optionally message
// (exact) or contains (a part of the message).
type WantReason struct {
	Rule     string
	Message  string
	Contains string
}

// UnmarshalYAML reads "rule" or {rule, message, contains}.
func (w *WantReason) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		w.Rule = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a reason is a rule name or {rule, message, contains}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "rule":
			w.Rule = v.Value
		case "message":
			w.Message = v.Value
		case "contains":
			w.Contains = v.Value
		default:
			return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
		}
	}
	if w.Rule == "" {
		return fmt.Errorf("line %d: a reason needs its rule", n.Line)
	}
	return nil
}

// CaseResult is one case's outcome.
type CaseResult struct {
	File, Name string
	// Diff says what differs; empty when the case passed.
	Diff string
}

// SuiteResult is the outcome of every case in every file.
type SuiteResult struct {
	Cases []CaseResult
}

// Failed counts the failed cases.
func (r *SuiteResult) Failed() int {
	n := 0
	for _, c := range r.Cases {
		if c.Diff != "" {
			n++
		}
	}
	return n
}

// RunTests runs the suite at path, or every *_test.yaml under path when it
// is a folder. An error means the suite could not run (a missing file, bad
// YAML, a policy that does not compile): not a failed case.
func RunTests(path string) (*SuiteResult, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && (strings.HasSuffix(p, "_test.yaml") || strings.HasSuffix(p, "_test.yml")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("policy tests: %w", err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("policy tests: no *_test.yaml under %s", path)
		}
		sort.Strings(files)
	}
	res := &SuiteResult{}
	for _, f := range files {
		if err := runFile(f, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func runFile(file string, res *SuiteResult) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	loc := locator{file: file}
	var s Suite
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return loc.wrap(config.YAMLError(err))
	}
	if len(s.Cases) == 0 {
		return loc.wrap(errors.New("no cases"))
	}
	dir := filepath.Dir(file)
	pol := Default()
	if s.Policy != "" {
		if pol, err = Load(filepath.Join(dir, s.Policy)); err != nil {
			return err
		}
	}
	for i, c := range s.Cases {
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if c.Want.Verdict != Proceed && c.Want.Verdict != Block {
			return loc.wrap(fmt.Errorf("case %q: want.verdict: %q, want proceed or block", c.Name, c.Want.Verdict))
		}
		in, err := caseInput(dir, &c.Input)
		if err != nil {
			return loc.wrap(fmt.Errorf("case %q: input: %w", c.Name, err))
		}
		if c.Mode != "" {
			if in.Mode, err = ParseMode(c.Mode); err != nil {
				return loc.wrap(fmt.Errorf("case %q: mode: %w", c.Name, err))
			}
		}
		if c.Environment != "" {
			in.Environment = c.Environment
		}
		d, err := Evaluate(pol, in)
		if err != nil {
			return loc.wrap(fmt.Errorf("case %q: %w", c.Name, err))
		}
		res.Cases = append(res.Cases, CaseResult{File: file, Name: c.Name, Diff: c.Want.diff(d)})
	}
	return nil
}

// caseInput reads an inline input or the file it names.
func caseInput(dir string, n *yaml.Node) (Input, error) {
	switch n.Kind {
	case 0:
		return Input{}, errors.New("missing")
	case yaml.ScalarNode:
		path := filepath.Join(dir, n.Value)
		b, err := os.ReadFile(path)
		if err != nil {
			return Input{}, err
		}
		if strings.HasSuffix(path, ".json") {
			in, err := ParseInput(b)
			if err != nil {
				return Input{}, fmt.Errorf("%s: %w", path, err)
			}
			return in, nil
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return Input{}, fmt.Errorf("%s: %w", path, err)
		}
		in, err := yamlInput(&doc)
		if err != nil {
			return Input{}, fmt.Errorf("%s: %w", path, err)
		}
		return in, nil
	case yaml.MappingNode:
		return yamlInput(n)
	}
	return Input{}, fmt.Errorf("line %d: give a file name or the input itself", n.Line)
}

func yamlInput(n *yaml.Node) (Input, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return Input{}, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return Input{}, err
	}
	in, err := ParseInput(b)
	if err != nil {
		return Input{}, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return in, nil
}

// jsonable turns YAML's map[any]any-free values into JSON's (yaml.v3
// decodes mappings into map[string]any already; this handles the rest).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}

// ParseInput reads a policy input in JSON strictly: unknown keys are
// errors, and "now" is required.
func ParseInput(b []byte) (Input, error) {
	var in Input
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Input{}, jsonLine(b, err)
	}
	if in.Now.IsZero() {
		return Input{}, errors.New(`missing key "now" (the decision time, RFC 3339)`)
	}
	return in, nil
}

// jsonLine names the line of a JSON syntax or type error.
func jsonLine(b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return err
	}
	return fmt.Errorf("line %d: %w", 1+bytes.Count(b[:off], []byte("\n")), err)
}

// diff says how d differs from w; "" when it does not.
func (w Want) diff(d Decision) string {
	var sb strings.Builder
	if d.Verdict != w.Verdict {
		fmt.Fprintf(&sb, "  verdict: want %s, got %s (%s)\n", w.Verdict, d.Verdict, d.Summary)
	}
	if w.Reasons != nil {
		ok := len(w.Reasons) == len(d.Reasons)
		for i := 0; ok && i < len(w.Reasons); i++ {
			ok = w.Reasons[i].matches(d.Reasons[i])
		}
		if !ok {
			sb.WriteString("  reasons (- want, + got):\n")
			for i := 0; i < len(w.Reasons) || i < len(d.Reasons); i++ {
				switch {
				case i < len(w.Reasons) && i < len(d.Reasons) && w.Reasons[i].matches(d.Reasons[i]):
					fmt.Fprintf(&sb, "      [%s] %s\n", d.Reasons[i].Rule, d.Reasons[i].Message)
					continue
				case i < len(w.Reasons):
					fmt.Fprintf(&sb, "    - %s\n", w.Reasons[i])
				}
				if i < len(d.Reasons) {
					fmt.Fprintf(&sb, "    + [%s] %s\n", d.Reasons[i].Rule, d.Reasons[i].Message)
				}
			}
		}
	}
	for _, want := range w.Warnings {
		found := false
		for _, got := range d.Warnings {
			found = found || strings.Contains(got, want)
		}
		if !found {
			fmt.Fprintf(&sb, "  warnings: none contains %q; got %q\n", want, d.Warnings)
		}
	}
	return sb.String()
}

func (w WantReason) matches(r Reason) bool {
	return w.Rule == r.Rule && (w.Message == "" || w.Message == r.Message) && strings.Contains(r.Message, w.Contains)
}

func (w WantReason) String() string {
	s := "[" + w.Rule + "]"
	if w.Message != "" {
		s += " " + w.Message
	}
	if w.Contains != "" {
		s += fmt.Sprintf(" ...%s...", w.Contains)
	}
	return s
}
