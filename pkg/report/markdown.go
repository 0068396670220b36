package report

import (
	"io"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Markdown writes a report for a pull-request comment or a workflow UI.
func Markdown(w io.Writer, d *policy.Decision) error {
	p := &printer{w: w}
	icon := "✅"
	if d.Verdict == policy.Block {
		icon = "⛔"
		if !d.Enforced {
			icon = "⚠️"
		}
	}
	p.f("### %s pulsegate: %s\n\n", icon, md(d.Summary))
	p.f("Decision `%s` at %s, mode **%s**, release: %s.\n\n", d.DecisionID, d.Time.Format("2006-01-02 15:04:05Z07:00"), d.Mode, md(strings.Join(d.Release.Workloads, ", ")))
	if len(d.Reasons) > 0 {
		p.f("| rule | reason |\n|---|---|\n")
		for _, r := range d.Reasons {
			p.f("| `%s` | %s |\n", r.Rule, md(r.Message))
		}
		p.f("\n")
	}
	for _, x := range d.Warnings {
		p.f("> **Warning:** %s\n\n", md(x))
	}
	p.f("**Risk %.0f/100** (blocks at %.0f)\n\n", d.Risk.Score, d.Risk.Threshold)
	if len(d.Risk.Contributions) > 0 {
		p.f("| points | what |\n|---:|---|\n")
		for _, c := range d.Risk.Contributions {
			p.f("| %.1f | %s |\n", c.Points, md(contribution(c.Factor, c.Rule, c.Severity, c.Target, c.Count)))
		}
		p.f("\n")
	}
	p.f("**Anomaly:** %s\n\n", md(anomaly(d.Anomaly)))
	p.f("<details><summary>Sources</summary>\n\n| source | type | status | records | rejected | matched | detail |\n|---|---|---|---:|---:|---:|---|\n")
	for _, s := range d.Sources {
		p.f("| %s | %s | %s | %d | %d | %d | %s |\n", md(s.Name), s.Type, s.Status, s.Records, s.Rejected, s.Matched, md(s.Detail))
	}
	p.f("\n</details>\n\n<details><summary>Targets (%s)</summary>\n\n| kind | name | namespace | relation | reason |\n|---|---|---|---|---|\n", targetCounts(d))
	for _, t := range d.Targets {
		p.f("| %s | %s | %s | %s | %s |\n", t.Kind, md(t.Name), md(t.Namespace), t.Relation, md(t.Reason))
	}
	p.f("\n</details>\n")
	return p.err
}

var mdEscaper = strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;")

func md(s string) string { return mdEscaper.Replace(s) }
