package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Result file names, as the Tekton tasks declare their results and the Argo
// templates their output parameters (valueFrom.path).
const (
	ResultVerdict    = "verdict"     // proceed or block
	ResultRiskScore  = "risk-score"  // 0..100, two decimals at most
	ResultSummary    = "summary"     // one line, at most MaxSummaryBytes
	ResultDecisionID = "decision-id" // the decision's id, as in the audit log
)

// Size limits. Tekton passes all of a step's results through the container's
// termination message, which Kubernetes caps at 4096 bytes for the whole
// message, JSON-encoded with keys ("Results",
// https://tekton.dev/docs/pipelines/tasks/#emitting-results). The summary
// is cut so that its JSON-escaped form stays under MaxSummaryBytes; with the
// other results the whole stays under MaxResultsBytes, leaving room for the
// message's framing and other steps' results.
const (
	MaxSummaryBytes = 2048
	MaxResultsBytes = 3072
)

// Results returns the result files' contents: no trailing newline, so a
// pipeline can compare them as they are.
func Results(d *policy.Decision) map[string]string {
	return map[string]string{
		ResultVerdict:    string(d.Verdict),
		ResultRiskScore:  strconv.FormatFloat(roundScore(d.Risk.Score), 'f', -1, 64),
		ResultSummary:    truncateJSON(d.Summary, MaxSummaryBytes),
		ResultDecisionID: d.DecisionID,
	}
}

func roundScore(s float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(s, 'f', 2, 64), 64)
	return v
}

// truncateJSON cuts s at a rune boundary, adding "…", so that its JSON
// string encoding (quotes and escapes included) is at most max bytes. Line
// breaks become spaces: a result is one line.
func truncateJSON(s string, max int) string {
	s = string(bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, []byte(s)))
	if jsonLen(s) <= max {
		return s
	}
	const ell = "…"
	// Binary search on the byte length of the kept prefix.
	lo, hi := 0, len(s)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if jsonLen(cut(s, mid)+ell) <= max {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return cut(s, lo) + ell
}

// cut returns the longest prefix of s of at most n bytes that ends at a rune
// boundary.
func cut(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}

// WriteResults writes the result files into dir (created if needed): one
// file per entry of Results.
func WriteResults(dir string, d *policy.Decision) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	res := Results(d)
	for _, name := range []string{ResultVerdict, ResultRiskScore, ResultSummary, ResultDecisionID} {
		if err := writeFile(filepath.Join(dir, name), []byte(res[name])); err != nil {
			return fmt.Errorf("results: %w", err)
		}
	}
	return nil
}

// Report file names written by WriteReports, by format.
var reportFiles = map[string]string{
	"json":     "decision.json",
	"markdown": "report.md",
	"text":     "report.txt",
}

// WriteReports writes the full report in every format (decision.json,
// report.md, report.txt) into dir, for a workspace or an artifact path.
func WriteReports(dir string, d *policy.Decision) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	for _, format := range Formats() {
		name, ok := reportFiles[format]
		if !ok {
			name = "report." + format
		}
		w, _ := Lookup(format)
		var b bytes.Buffer
		if err := w(&b, d); err != nil {
			return fmt.Errorf("report %s: %w", format, err)
		}
		if err := writeFile(filepath.Join(dir, name), b.Bytes()); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
	}
	return nil
}

// writeFile writes through a temporary file and a rename, so that a reader
// never sees half a file.
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
