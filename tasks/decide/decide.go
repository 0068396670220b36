// Package decide is the decision step on its own. Run evaluates a policy
// over a recorded policy input (`pulsegate decide`); Record saves what a gate
// run read (`pulsegate gate --record DIR`); Replay runs the gate again on a
// record and says whether it decides the same, or which input differs
// (`pulsegate replay`).
package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/tasks"
)

// Params are `pulsegate decide`'s inputs.
type Params struct {
	// Input is a policy input: DIR/input.json of a record, or one written
	// by hand (docs/policy.md).
	Input string
	// Policy is a policy file; "": the built-in default.
	Policy string
	// Mode, Environment and BreakGlass override the input's when set.
	Mode        string
	Environment string
	BreakGlass  string
}

// Run evaluates the policy over the input.
func Run(p Params) (*policy.Decision, error) {
	if p.Input == "" {
		return nil, tasks.Usage(errors.New("no input: give --input FILE (DIR/input.json from `pulsegate gate --record DIR`)"))
	}
	in, err := LoadInput(p.Input)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	pol := policy.Default()
	if p.Policy != "" {
		if pol, err = policy.Load(p.Policy); err != nil {
			return nil, tasks.Usage(err)
		}
	}
	if in.Inputs == nil {
		in.Inputs = map[string]string{}
	}
	in.Inputs["policy"] = pol.Digest
	if p.Mode != "" {
		m, err := policy.ParseMode(p.Mode)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		in.Mode = m
	}
	if p.Environment != "" {
		in.Environment = p.Environment
	}
	if p.BreakGlass != "" {
		bg, raw, err := policy.LoadBreakGlass(p.BreakGlass)
		if err != nil {
			return nil, tasks.Usage(err)
		}
		in.BreakGlass = bg
		in.Inputs["break_glass"] = digest(raw)
	}
	d, err := policy.Evaluate(pol, in)
	if err != nil {
		return nil, tasks.Usage(fmt.Errorf("%s: %w", p.Input, err))
	}
	return &d, nil
}

// LoadInput reads a policy input in JSON. Unknown keys are errors.
func LoadInput(path string) (policy.Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return policy.Input{}, fmt.Errorf("read input: %w", err)
	}
	in, err := policy.ParseInput(b)
	if err != nil {
		return policy.Input{}, fmt.Errorf("input %s: %w", path, err)
	}
	return in, nil
}

// jsonError names the line of a JSON syntax or type error.
func jsonError(b []byte, err error) error {
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

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// timeOrZero formats t for the manifest.
func timeOrZero(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
