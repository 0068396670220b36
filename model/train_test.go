package model

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/model/synth"
	"github.com/pulsegate/pulsegate/pkg/feature"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// windows builds 10-minute windows of a synthetic history: 12 pods on 3
// nodes for 12 hours make about 1,300 windows.
func windows(t testing.TB, seed uint64, shift float64) []feature.Window {
	t.Helper()
	sigs := synth.History(synth.Options{Seed: seed, Start: t0, Hours: 12, Pods: 12, Nodes: 3, Shift: shift})
	ws, err := feature.Windows(sigs, feature.WindowOptions{Size: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func train(t testing.TB, ws []feature.Window, seed uint64) *Trained {
	t.Helper()
	tr, err := Train(ws, TrainOptions{Seed: seed, Holdout: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTrainDeterministic(t *testing.T) {
	ws := windows(t, 1, 0)
	a, b := train(t, ws, 7), train(t, ws, 7)
	if a.Forest.Checksum() != b.Forest.Checksum() {
		t.Errorf("seed 7 twice: checksums %s and %s", a.Forest.Checksum(), b.Forest.Checksum())
	}
	if c := train(t, ws, 8); c.Forest.Checksum() == a.Forest.Checksum() {
		t.Errorf("seeds 7 and 8 give the same model")
	}
	md := a.Forest.Metadata()
	if md.Window.Start != "2026-11-01T00:00:00Z" || md.Window.End == "" || md.Rows != len(a.Train) {
		t.Errorf("metadata %+v", md)
	}
	if err := a.Forest.CheckFeatures(feature.Names); err != nil {
		t.Error(err)
	}
	// The holdout is the most recent fifth, after every training window.
	if a.HeldOut < len(ws)/5 || len(a.Holdout) == 0 || len(a.Holdout) > a.HeldOut {
		t.Errorf("held out %d (%d benign) of %d", a.HeldOut, len(a.Holdout), len(ws))
	}
	last := a.Train[len(a.Train)-1].End
	for _, w := range a.Holdout {
		if !w.End.After(last) {
			t.Fatalf("holdout window %s %v is not after the training data (%v)", w.Asset, w.End, last)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	ws := windows(t, 1, 0)
	if _, err := Train(ws[:40], TrainOptions{}); err == nil || !strings.Contains(err.Error(), "too few windows to train: 40 in the history") {
		t.Errorf("40 windows: %v", err)
	}
	if _, err := Train(ws[:60], TrainOptions{Holdout: 0.5}); err == nil || !strings.Contains(err.Error(), "after holding out") {
		t.Errorf("60 windows, half held out: %v", err)
	}
	if _, err := Train(ws, TrainOptions{Holdout: 0.9}); err == nil || !strings.Contains(err.Error(), "holdout 0.9") {
		t.Errorf("holdout 0.9: %v", err)
	}
	rev := append([]feature.Window{ws[len(ws)-1]}, ws...)
	if _, err := Train(rev, TrainOptions{}); err == nil || !strings.Contains(err.Error(), "not sorted") {
		t.Errorf("unsorted: %v", err)
	}
	zeros := make([]feature.Window, 60)
	for i := range zeros {
		zeros[i] = feature.Window{Asset: feature.Asset{Kind: "Node", Name: "n"}, End: t0, Vector: make([]float64, len(feature.Names))}
	}
	if _, err := Train(zeros, TrainOptions{}); err == nil || !strings.Contains(err.Error(), "every feature is constant") {
		t.Errorf("all zeros: %v", err)
	}
}

func TestTrainWarnsConstant(t *testing.T) {
	tr := train(t, windows(t, 1, 0), 1)
	// The synthetic cluster has no audit log, RBAC or metrics.
	var names []string
	for _, c := range tr.Constant {
		names = append(names, c.Name)
	}
	for _, want := range []string{"api_events", "rbac_changes", "metric_breaches"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("constant features %v lack %s", names, want)
		}
	}
	if len(tr.Warnings) < len(tr.Constant) || !strings.Contains(strings.Join(tr.Warnings, "\n"), "feature rbac_changes has no variance in the training windows (always 0)") {
		t.Errorf("warnings %q", tr.Warnings)
	}
}

// TestCompare trains the current model on one sample of an ordinary
// cluster, then candidates on other samples of the same cluster (promoted)
// and on samples of a cluster whose pods got busier and started talking to
// the world (rejected). The measured shifts: 0.018 to 0.028 for the same
// distribution over three seeds, 0.10 and more for the shifted ones (see
// the bound's comment in promote.go).
func TestCompare(t *testing.T) {
	cur := train(t, windows(t, 1, 0), 1)
	tests := []struct {
		name    string
		seed    uint64
		shift   float64
		promote bool
	}{
		{"same cluster, another sample", 2, 0, true},
		{"same cluster, a third sample", 3, 0, true},
		{"busier pods", 2, 0.3, false},
		{"much busier pods", 4, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := train(t, windows(t, tt.seed, tt.shift), tt.seed)
			c, err := Compare(cur.Forest, cand.Forest, vectors(cand.Holdout), 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.Promote != tt.promote {
				t.Errorf("promote = %v, want %v: %s", c.Promote, tt.promote, c.Reason)
			}
			if c.Bound != DefaultMaxShift || c.Holdout != len(cand.Holdout) || len(c.Quantiles) != len(PromoteQuantiles) {
				t.Errorf("comparison %+v", c)
			}
			want := "within the bound"
			if !tt.promote {
				want = "beyond the bound 0.0500"
			}
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q lacks %q", c.Reason, want)
			}
		})
	}
}

func TestCompareErrors(t *testing.T) {
	a := train(t, windows(t, 1, 0), 1)
	rows := vectors(a.Holdout)
	other, err := iforestFit(rows)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compare(other, a.Forest, rows, 0); !errors.Is(err, ErrSchema) {
		t.Errorf("other schema: %v", err)
	}
	if _, err := Compare(a.Forest, a.Forest, rows[:MinHoldout-1], 0); err == nil || !strings.Contains(err.Error(), "need at least 20") {
		t.Errorf("small holdout: %v", err)
	}
	if _, err := Compare(a.Forest, a.Forest, rows, 2); err == nil {
		t.Error("bound 2 accepted")
	}
	c, err := Compare(a.Forest, a.Forest, rows, 0)
	if err != nil || !c.Promote || c.Shift != 0 || c.KS != 0 {
		t.Errorf("a model against itself: %+v, %v", c, err)
	}
}

func TestKS(t *testing.T) {
	// Reference values worked out by hand from the step functions
	// (scipy.stats.ks_2samp gives the same statistics).
	tests := []struct {
		a, b []float64
		want float64
	}{
		{[]float64{1, 2, 3}, []float64{1, 2, 3}, 0},
		{[]float64{1, 2, 3}, []float64{4, 5, 6}, 1},
		{[]float64{1, 2, 3, 4}, []float64{3, 4, 5, 6}, 0.5},
		{[]float64{0.4, 0.4, 0.4, 0.6}, []float64{0.41, 0.41, 0.41, 0.6}, 0.75},
		{nil, []float64{1}, 0},
	}
	for _, tt := range tests {
		if got := KS(tt.a, tt.b); got != tt.want {
			t.Errorf("KS(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	cur := train(t, windows(t, 1, 0), 1)
	cand := train(t, windows(t, 2, 0), 2)
	c, err := Compare(cur.Forest, cand.Forest, vectors(cand.Holdout), 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	files, err := WriteReport(dir, Report{Model: "model.json", Outcome: "promoted", Reason: c.Reason, Trained: cand,
		Window: 10 * time.Minute, Comparison: &c, Inputs: []string{"synthetic | history"}, Elapsed: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files[1:] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 200 {
			t.Errorf("%s is %v", f, r)
		}
	}
	md, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**Promoted**: on ", "](scores.png)", "](features.png)", cand.Forest.Checksum(),
		"| holdout | ", "## Promotion check", "| p99 | ", "## Most anomalous training windows",
		"| `new_binaries` | ", "feature rbac_changes has no variance", `synthetic \| history`,
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := WriteReport(dir, Report{}); err == nil {
		t.Error("a report without a model")
	}
}

func TestInstallRollback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	a := train(t, windows(t, 1, 0), 1).Forest
	b := train(t, windows(t, 2, 0), 2).Forest
	if err := Rollback(path); err == nil || !strings.Contains(err.Error(), "no previous model") {
		t.Errorf("rollback with nothing: %v", err)
	}
	if prev, err := Install(a, path); err != nil || prev != "" {
		t.Fatalf("first install: %q, %v", prev, err)
	}
	if prev, err := Install(b, path); err != nil || prev != path+PrevSuffix {
		t.Fatalf("second install: %q, %v", prev, err)
	}
	sum := func(p string) string {
		m, err := LoadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return m.Checksum()
	}
	if sum(path) != b.Checksum() || sum(path+PrevSuffix) != a.Checksum() {
		t.Fatal("install did not keep the previous model")
	}
	if err := Rollback(path); err != nil {
		t.Fatal(err)
	}
	if sum(path) != a.Checksum() || sum(path+PrevSuffix) != b.Checksum() {
		t.Error("rollback did not swap the models")
	}
	if err := Rollback(path); err != nil || sum(path) != b.Checksum() {
		t.Errorf("a second rollback does not undo the first: %v", err)
	}
	os.WriteFile(path+PrevSuffix, []byte("{}"), 0o644)
	if err := Rollback(path); err == nil || !strings.Contains(err.Error(), "cannot be used") || sum(path) != b.Checksum() {
		t.Errorf("rollback to a broken file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
}

func BenchmarkTrain(b *testing.B) {
	ws := windows(b, 1, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(ws, TrainOptions{Seed: 1, Holdout: 0.2}); err != nil {
			b.Fatal(err)
		}
	}
}

func iforestFit(rows [][]float64) (*iforest.Forest, error) {
	return iforest.FitRows(rows, iforest.Options{Seed: 1})
}
