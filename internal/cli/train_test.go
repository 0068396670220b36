package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/model/synth"
	"github.com/pulsegate/pulsegate/pkg/store"
)

func writeSynth(t *testing.T, seed uint64, shift float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signals.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, s := range synth.History(synth.Options{Seed: seed, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Hours: 12, Pods: 12, Nodes: 3, Shift: shift}) {
		enc.Encode(s)
	}
	w.Flush()
	f.Close()
	return path
}

// TestTrainExitCodes: 0 for a first or promoted model, 1 for a rejected
// one, 2 for usage errors and too little history; then show and rollback.
func TestTrainExitCodes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "model.json")
	results := filepath.Join(dir, "results")
	steps := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"first", []string{"train", "--signals", writeSynth(t, 1, 0), "--out", out, "--results-dir", results}, 0, "FIRST MODEL: model sha256:"},
		{"same cluster", []string{"train", "--signals", writeSynth(t, 2, 0), "--out", out, "--seed", "2", "--report", filepath.Join(dir, "report")}, 0, "PROMOTED: model sha256:"},
		{"changed cluster", []string{"train", "--signals", writeSynth(t, 3, 0.5), "--out", out, "--seed", "3", "--results-dir", results}, 1, "REJECTED: the current model"},
		{"no window", []string{"train", "--signals", writeSynth(t, 1, 0), "--out", out, "--window", "0s"}, 2, "--window 0s: must be positive"},
		{"bad time", []string{"train", "--signals", "x", "--out", out, "--since", "yesterday"}, 2, `--since: "yesterday" is not an RFC 3339 time`},
		{"bad output", []string{"train", "--signals", "x", "--out", out, "-o", "yaml"}, 2, `-o "yaml": want text or json`},
		{"too little history", []string{"train", "--config", demo + "/pulsegate.yaml", "--out", filepath.Join(dir, "demo.json")}, 2, "too few windows to train"},
		{"show", []string{"model", "show", "--model", out}, 0, `"schema_matches_this_build": true`},
		{"rollback", []string{"model", "rollback", "--model", out}, 0, "ROLLED BACK: " + out + " is now model sha256:"},
		{"rollback without prev", []string{"model", "rollback", "--model", filepath.Join(dir, "none.json")}, 2, "no previous model to roll back to"},
	}
	for _, s := range steps {
		code, got := run(t, s.args...)
		if code != s.code || !strings.Contains(got, s.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", s.name, code, s.code, s.want, got)
		}
		if s.name == "first" {
			for f, want := range map[string]string{"promoted": "true", "outcome": "first model"} {
				if b, _ := os.ReadFile(filepath.Join(results, f)); string(b) != want {
					t.Errorf("result %s = %q, want %q", f, b, want)
				}
			}
		}
		if s.name == "changed cluster" {
			if b, _ := os.ReadFile(filepath.Join(results, "promoted")); string(b) != "false" {
				t.Errorf("result promoted = %q after a rejection", b)
			}
		}
	}
	for _, f := range []string{"model.json", "model.json.prev", "model.json.candidate", "report/report.md", "report/scores.png", "report/features.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestTrainFromStore trains on a history kept in a real bbolt store, the
// same history as a file, and gets the same model.
func TestTrainFromStore(t *testing.T) {
	dir := t.TempDir()
	sigs := synth.History(synth.Options{Seed: 1, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Hours: 12, Pods: 12, Nodes: 3})
	db := filepath.Join(dir, "history.db")
	s, err := store.Open(db, store.NoSync())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(sigs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, out := run(t, "train", "--store", db, "--out", filepath.Join(dir, "a.json"), "-o", "json")
	if code != 0 || !strings.Contains(out, `"outcome": "first model"`) || !strings.Contains(out, `"signals": 6716`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out2 := run(t, "train", "--signals", writeSynth(t, 1, 0), "--out", filepath.Join(dir, "b.json"), "-o", "json")
	sum := func(s string) string {
		var r struct{ Checksum string }
		json.Unmarshal([]byte(s), &r)
		return r.Checksum
	}
	if code != 0 || sum(out) == "" || sum(out) != sum(out2) {
		t.Errorf("store and file give %q and %q", sum(out), sum(out2))
	}
	if code, out := run(t, "train", "--store", filepath.Join(dir, "none.db"), "--out", filepath.Join(dir, "c.json")); code != 2 || !strings.Contains(out, "--store") {
		t.Errorf("a missing store: exit %d: %s", code, out)
	}
}
