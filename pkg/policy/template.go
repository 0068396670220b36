package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/risk"
)

// template is message text with {{ CEL }} placeholders. The CEL inside a
// placeholder reads the same variables as the rule, plus item and more. It
// cannot contain "}}".
type template struct {
	text  []string // len(text) == len(progs)+1
	progs []cel.Program
}

func (p *Policy) parseTemplate(s string, where func(line, col int) string) (*template, error) {
	t := &template{}
	rest := s
	line := 1
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if j := strings.Index(rest, "}}"); j >= 0 {
				return nil, fmt.Errorf("%s a }} without its {{", where(line+strings.Count(rest[:j], "\n"), 1))
			}
			t.text = append(t.text, rest)
			return t, nil
		}
		t.text = append(t.text, rest[:i])
		line += strings.Count(rest[:i], "\n")
		rest = rest[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return nil, fmt.Errorf("%s a {{ without its }}", where(line, 1))
		}
		expr := rest[:j]
		if strings.TrimSpace(expr) == "" {
			return nil, fmt.Errorf("%s an empty {{ }}", where(line, 1))
		}
		base := line
		prg, a, err := p.program(expr, func(l, c int) string { return where(base+l-1, c) })
		if err != nil {
			return nil, err
		}
		p.noteParams(a)
		t.progs = append(t.progs, prg)
		line += strings.Count(expr, "\n")
		rest = rest[j+2:]
	}
}

func (t *template) render(act *activation) (string, error) {
	var b strings.Builder
	for i, prg := range t.progs {
		b.WriteString(t.text[i])
		v, _, err := prg.Eval(act)
		if err != nil {
			return "", err
		}
		b.WriteString(format(v))
	}
	b.WriteString(t.text[len(t.text)-1])
	return b.String(), nil
}

// format writes a CEL value into a message: strings as they are, numbers in
// their shortest form, timestamps in RFC 3339, durations as "1h0m0s", lists
// joined with ", ", null as nothing.
func format(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Int:
		return strconv.FormatInt(int64(x), 10)
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10)
	case types.Double:
		return strconv.FormatFloat(float64(x), 'f', -1, 64)
	case types.Bool:
		return strconv.FormatBool(bool(x))
	case types.Null:
		return ""
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano)
	case types.Duration:
		return x.Duration.String()
	case *object:
		switch o := x.x.(type) {
		case *sigItem:
			return fmt.Sprintf("%q on %s", title(o.sig), o.target.String())
		case *SourceStatus:
			return o.Name
		}
		return x.kind.name
	case traits.Lister:
		var parts []string
		it := x.Iterator()
		for it.HasNext() == types.True {
			parts = append(parts, format(it.Next()))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v.Value())
}

// evidenceOf turns what an evidence expression (or a list rule's item)
// gives into Evidence.
func evidenceOf(v ref.Val, out []Evidence) ([]Evidence, error) {
	switch x := v.(type) {
	case types.Null:
		return out, nil
	case *object:
		switch o := x.x.(type) {
		case *sigItem:
			s := o.sig
			return append(out, Evidence{SignalID: s.ID, Source: s.Source.Name, Rule: s.Rule, Severity: s.Severity.String(),
				Time: s.Time.UTC().Format(time.RFC3339Nano), Target: o.target.String(), Raw: rawRef(s)}), nil
		case *SourceStatus:
			return append(out, Evidence{Source: o.Name}), nil
		case *correlate.Target:
			return append(out, Evidence{Target: o.String()}), nil
		case *risk.Contribution:
			if o.Factor != "signal" {
				return out, nil
			}
			return append(out, Evidence{SignalID: o.SignalID, Source: o.Source, Rule: o.Rule, Severity: o.Severity, Target: o.Target}), nil
		}
	case traits.Mapper:
		var e Evidence
		get := func(keys ...string) string {
			for _, k := range keys {
				if val, ok := x.Find(types.String(k)); ok {
					return format(val)
				}
			}
			return ""
		}
		e.SignalID = get("signal_id", "id")
		e.Source, e.Rule, e.Severity, e.Time, e.Target, e.Raw = get("source"), get("rule"), get("severity"), get("time"), get("target"), get("raw")
		return append(out, e), nil
	case traits.Lister:
		it := x.Iterator()
		for it.HasNext() == types.True {
			var err error
			if out, err = evidenceOf(it.Next(), out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, errors.New("evidence must be signals, sources, targets, contributions, maps or lists of them, got " + v.Type().TypeName())
}
