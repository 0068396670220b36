package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

func resultDecision(summary string, score float64) *policy.Decision {
	d := &policy.Decision{
		DecisionID: "eee488a5-f793-d0d0-1e7c-b9fd4a23d474",
		Time:       time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
		Verdict:    policy.Block, Mode: policy.Enforce, Enforced: true,
		Summary: summary,
		Reasons: []policy.Reason{{Rule: "severe-finding", Message: summary}},
	}
	d.Risk.Score = score
	return d
}

func TestResults(t *testing.T) {
	d := resultDecision(`BLOCK: Falco "Terminal shell in container" (critical) 12m ago on node ip-10-0-2-22`, 83.0749)
	got := Results(d)
	want := map[string]string{
		"verdict":     "block",
		"risk-score":  "83.07",
		"summary":     d.Summary,
		"decision-id": d.DecisionID,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("results %v", got)
	}
	for score, want := range map[float64]string{0: "0", 100: "100", 69.999: "70", 12.5: "12.5"} {
		if s := Results(resultDecision("x", score))[ResultRiskScore]; s != want {
			t.Errorf("score %v -> %q, want %q", score, s, want)
		}
	}
}

// TestResultsSize checks the 4 KB budget with the worst summaries: long,
// full of characters JSON escapes, multi-byte, with line breaks.
func TestResultsSize(t *testing.T) {
	for name, summary := range map[string]string{
		"long ascii":     "BLOCK: " + strings.Repeat("a reason ", 2000),
		"quotes":         strings.Repeat(`"\`, 3000),
		"control bytes":  strings.Repeat("\x01\t", 3000),
		"multi-byte":     strings.Repeat("ü€😀", 2000),
		"line breaks":    strings.Repeat("line\n", 1000),
		"html escapes":   strings.Repeat("<&>", 2000),
		"exactly at max": strings.Repeat("x", MaxSummaryBytes-2),
	} {
		t.Run(name, func(t *testing.T) {
			d := resultDecision(summary, 99.99)
			dir := t.TempDir()
			if err := WriteResults(dir, d); err != nil {
				t.Fatal(err)
			}
			total := 0
			var msg []map[string]any // Tekton's termination message shape
			for _, n := range []string{ResultVerdict, ResultRiskScore, ResultSummary, ResultDecisionID} {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				total += len(b)
				msg = append(msg, map[string]any{"key": n, "value": string(b), "type": 1})
			}
			s, _ := os.ReadFile(filepath.Join(dir, ResultSummary))
			if !utf8.Valid(s) || bytes.ContainsAny(s, "\r\n") {
				t.Fatalf("summary is not one line of UTF-8: %q", s)
			}
			if jsonLen(string(s)) > MaxSummaryBytes {
				t.Fatalf("summary JSON is %d bytes, more than %d", jsonLen(string(s)), MaxSummaryBytes)
			}
			if total > MaxResultsBytes {
				t.Fatalf("results total %d bytes, more than %d", total, MaxResultsBytes)
			}
			m, _ := json.Marshal(msg)
			if len(m) > MaxResultsBytes {
				t.Fatalf("termination message %d bytes, more than %d", len(m), MaxResultsBytes)
			}
			if name == "exactly at max" {
				if string(s) != summary {
					t.Fatal("a summary that fits was cut")
				}
			} else if !strings.HasSuffix(string(s), "…") || jsonLen(string(s)) < MaxSummaryBytes-8 {
				t.Fatalf("cut summary: %d bytes of JSON, ends %q", jsonLen(string(s)), s[len(s)-8:])
			}
		})
	}
}

func TestWriteReports(t *testing.T) {
	d := resultDecision("BLOCK: test", 10)
	dir := filepath.Join(t.TempDir(), "nested", "reports")
	if err := WriteReports(dir, d); err != nil {
		t.Fatal(err)
	}
	for file, w := range map[string]Writer{"decision.json": JSON, "report.md": Markdown, "report.txt": Text} {
		var want bytes.Buffer
		if err := w(&want, d); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s differs from the writer's output", file)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("%d files in the report folder, want 3 (no temporary files left)", len(entries))
	}
	// A file in the way is an error, not a panic or a silent skip.
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o644)
	if err := WriteResults(blocked, d); err == nil {
		t.Fatal("results into a file: want an error")
	}
}
