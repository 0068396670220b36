// Package report writes a Decision for people and machines: text for a
// terminal, Markdown for pull-request comments and workflow UIs, and JSON.
// Each format is one Writer; an unknown format is an error, never a silent
// fallback.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Writer writes one format.
type Writer func(w io.Writer, d *policy.Decision) error

var writers = map[string]Writer{
	"text":     Text,
	"json":     JSON,
	"markdown": Markdown,
}

// Formats lists the known formats.
func Formats() []string {
	out := make([]string, 0, len(writers))
	for k := range writers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the writer for format or an error naming the known ones.
func Lookup(format string) (Writer, error) {
	w, ok := writers[format]
	if !ok {
		return nil, fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats(), ", "))
	}
	return w, nil
}

// JSON writes the decision as indented JSON.
func JSON(w io.Writer, d *policy.Decision) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// Text writes a short report: verdict, top reasons, the risk's largest
// parts, and every source's state.
func Text(w io.Writer, d *policy.Decision) error {
	p := &printer{w: w}
	p.f("%s\n", d.Summary)
	p.f("  decision %s at %s, mode %s\n", d.DecisionID, d.Time.Format("2006-01-02 15:04:05Z07:00"), d.Mode)
	p.f("  release: %s\n", strings.Join(d.Release.Workloads, ", "))
	if len(d.Reasons) > 0 {
		p.f("\nWhy:\n")
		for i, r := range d.Reasons {
			if i == 5 {
				p.f("  ... and %d more (see -o json)\n", len(d.Reasons)-i)
				break
			}
			p.f("  - [%s] %s\n", r.Rule, r.Message)
		}
	}
	for _, x := range d.Warnings {
		p.f("  ! %s\n", x)
	}
	p.f("\nRisk %.0f/100 (blocks at %.0f)", d.Risk.Score, d.Risk.Threshold)
	if len(d.Risk.Contributions) == 0 {
		p.f(": no finding concerns the release's targets\n")
	} else {
		p.f(":\n")
		for i, c := range d.Risk.Contributions {
			if i == 3 {
				p.f("  ... %d more parts\n", len(d.Risk.Contributions)-i)
				break
			}
			p.f("  %5.1f  %s\n", c.Points, contribution(c.Factor, c.Rule, c.Severity, c.Target, c.Count))
		}
	}
	p.f("Anomaly: %s\n", anomaly(d.Anomaly))
	p.f("Targets: %s\n", targetCounts(d))
	p.f("Sources:\n")
	for _, s := range d.Sources {
		p.f("  %-14s %-10s %-11s %d records, %d rejected, %d matched; %s\n", s.Name, s.Type, s.Status, s.Records, s.Rejected, s.Matched, s.Detail)
	}
	return p.err
}

func contribution(factor, rule, sev, target string, count int) string {
	if factor == "anomaly" {
		return "anomaly score"
	}
	s := fmt.Sprintf("%q (%s) on %s", rule, sev, target)
	if count > 1 {
		s += fmt.Sprintf(" x%d", count)
	}
	return s
}

func anomaly(a policy.Anomaly) string {
	if !a.Ran {
		return "not scored: " + a.Detail
	}
	return fmt.Sprintf("%.3f (model %s); %s", a.Score, short(a.ModelDigest), a.Detail)
}

func short(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func targetCounts(d *policy.Decision) string {
	counts := map[string]int{}
	var order []string
	for _, t := range d.Targets {
		k := string(t.Relation)
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	s := strings.Join(parts, ", ")
	if len(d.Excluded) > 0 {
		s += fmt.Sprintf("; %d node placements excluded", len(d.Excluded))
	}
	return s
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}
