package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/model"
	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/model/synth"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// WriteHistory writes a synthetic history as Signal JSON lines, as
// `pulsegate fetch` writes them.
func writeHistory(t testing.TB, dir string, seed uint64, shift float64) string {
	t.Helper()
	path := filepath.Join(dir, "signals.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, s := range synth.History(synth.Options{Seed: seed, Start: t0, Hours: 12, Pods: 12, Nodes: 3, Shift: shift}) {
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func params(signals, out string, seed uint64) Params {
	return Params{Signals: []string{signals}, Window: 10 * time.Minute, Out: out, Seed: seed, Holdout: 0.2}
}

func env() Env { return Env{Sources: builtin.Registry()} }

// fromStore trains on a synthetic history handed over through the store
// hook, without the JSON round trip (slow under -race): the files path is
// tested in TestDeterministic and TestReportAndCurrent.
func fromStore(seed uint64, shift float64, out string) (Params, Env) {
	e := env()
	e.ReadStore = func(string, time.Time, time.Time) ([]signal.Signal, error) {
		return synth.History(synth.Options{Seed: seed, Start: t0, Hours: 12, Pods: 12, Nodes: 3, Shift: shift}), nil
	}
	return Params{Store: "synth", Window: 10 * time.Minute, Out: out, Seed: seed, Holdout: 0.2}, e
}

func checksum(t *testing.T, path string) string {
	t.Helper()
	m, err := model.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m.Checksum()
}

// TestRetrain runs the scheduled retraining's life: a first model, a
// retrain on another day of the same cluster (promoted, the first kept for
// rollback), a retrain on a cluster that changed (rejected, kept aside,
// the installed model untouched), and the same forced.
func TestRetrain(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "model.json")

	first, err := Run(fromStore(1, 0, out))
	if err != nil {
		t.Fatal(err)
	}
	if first.Outcome != FirstModel || first.Model != out || first.Previous != "" || checksum(t, out) != first.Checksum {
		t.Fatalf("first run: %+v", first)
	}

	same, err := Run(fromStore(2, 0, out))
	if err != nil {
		t.Fatal(err)
	}
	if same.Outcome != Promoted || same.Comparison == nil || !same.Comparison.Promote || same.Current != out {
		t.Fatalf("same cluster: %+v", same)
	}
	if checksum(t, out) != same.Checksum || checksum(t, out+model.PrevSuffix) != first.Checksum {
		t.Error("promotion did not install the new model and keep the first")
	}
	if s := same.Summary(); !strings.HasPrefix(s, "PROMOTED: model sha256:") || !strings.Contains(s, "previous model is kept at "+out+".prev") {
		t.Errorf("summary:\n%s", s)
	}

	rej, err := Run(fromStore(3, 0.5, out))
	if err != nil {
		t.Fatal(err)
	}
	if rej.Outcome != Rejected || rej.Model != out+model.CandidateSuffix || rej.Comparison.Promote {
		t.Fatalf("shifted cluster: %+v", rej)
	}
	if checksum(t, out) != same.Checksum || checksum(t, rej.Model) != rej.Checksum || checksum(t, out+model.PrevSuffix) != first.Checksum {
		t.Error("a rejection changed the installed models")
	}
	if s := rej.Summary(); !strings.HasPrefix(s, "REJECTED: the current model "+out+" stays") || !strings.Contains(s, "beyond the bound") {
		t.Errorf("summary:\n%s", s)
	}

	p, e := fromStore(3, 0.5, out)
	p.Force = true
	forced, err := Run(p, e)
	if err != nil {
		t.Fatal(err)
	}
	if forced.Outcome != Forced || !strings.Contains(forced.Reason, "installed anyway (--force)") || checksum(t, out) != rej.Checksum {
		t.Errorf("forced: %+v", forced)
	}
}

func TestDeterministic(t *testing.T) {
	h := writeHistory(t, t.TempDir(), 1, 0)
	dir := t.TempDir()
	a, err := Run(params(h, filepath.Join(dir, "a.json"), 42), env())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(params(h, filepath.Join(dir, "b.json"), 42), env())
	if err != nil {
		t.Fatal(err)
	}
	if a.Checksum != b.Checksum || checksum(t, filepath.Join(dir, "b.json")) != a.Checksum {
		t.Errorf("seed 42 twice: %s and %s", a.Checksum, b.Checksum)
	}
	ba, _ := os.ReadFile(filepath.Join(dir, "a.json"))
	bb, _ := os.ReadFile(filepath.Join(dir, "b.json"))
	if !bytes.Equal(ba, bb) {
		t.Error("the two model files differ")
	}
}

func TestReportAndCurrent(t *testing.T) {
	dir := t.TempDir()
	cur := filepath.Join(dir, "current.json")
	if _, err := Run(fromStore(1, 0, cur)); err != nil {
		t.Fatal(err)
	}
	p := params(writeHistory(t, t.TempDir(), 2, 0), filepath.Join(dir, "new.json"), 2)
	p.Current = cur
	p.Report = filepath.Join(dir, "report")
	res, err := Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Promoted || res.Current != cur || res.Previous != "" || len(res.Report) != 3 {
		t.Fatalf("%+v", res)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report", model.ReportFile))
	if !strings.Contains(string(md), "**Promoted**") || !strings.Contains(string(md), "signals signals.jsonl (") {
		t.Errorf("report:\n%s", md)
	}
}

func TestCurrentUnusable(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "model.json")
	os.WriteFile(out, []byte(`{"format":"something else"}`), 0o644)
	if _, err := Run(fromStore(1, 0, out)); err == nil || !strings.Contains(err.Error(), "give --force") {
		t.Errorf("a broken current model: %v", err)
	}
	// A current model of another schema (an older build's) cannot be
	// compared: rejected, with the reason.
	rows := [][]float64{{1, 2}, {2, 3}, {3, 1}, {0, 0}}
	old, err := iforest.FitRows(rows, iforest.Options{Features: []string{"signals", "severity_max"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := model.WriteFile(old, out); err != nil {
		t.Fatal(err)
	}
	res, err := Run(fromStore(1, 0, out))
	if err != nil || res.Outcome != Rejected || !strings.Contains(res.Reason, "the check could not run: the current model has another feature schema (2 features, the candidate has 21)") {
		t.Errorf("another schema: %+v, %v", res, err)
	}
	p, e := fromStore(1, 0, out)
	p.Current = filepath.Join(dir, "missing.json")
	if _, err := Run(p, e); !tasks.IsUsage(err) {
		t.Errorf("a missing --current: %v", err)
	}
}

func TestUsage(t *testing.T) {
	h := writeHistory(t, t.TempDir(), 1, 0)
	tests := []struct {
		name string
		p    Params
		want string
	}{
		{"no history", Params{Window: time.Minute, Out: "m.json"}, "no history"},
		{"no window", Params{Signals: []string{h}, Out: "m.json"}, "--window 0s: must be positive"},
		{"no out", Params{Signals: []string{h}, Window: time.Minute}, "no --out"},
		{"holdout", Params{Signals: []string{h}, Window: time.Minute, Out: "m.json", Holdout: 0.7}, "--holdout 0.7"},
		{"until before since", Params{Signals: []string{h}, Window: time.Minute, Out: "m.json", Since: t0, Until: t0}, "--until must be after --since"},
		{"unknown type", Params{Telemetry: []gate.Telemetry{{Type: "nope", Path: h}}, Window: time.Minute, Out: "m.json"}, `unknown telemetry type "nope"`},
		{"missing file", Params{Signals: []string{"/nonexistent.jsonl"}, Window: time.Minute, Out: "m.json"}, "--signals /nonexistent.jsonl"},
		{"store without a reader", Params{Store: "s.db", Window: time.Minute, Out: "m.json"}, "this build cannot read a store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(tt.p, env())
			if !tasks.IsUsage(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a usage error with %q", err, tt.want)
			}
		})
	}
}

// TestRealTelemetry reads the demo's real Falco, audit and Tetragon files:
// an hour and a quarter of history is too little to train on by default,
// and the error says what to do; with a lower floor it trains.
func TestRealTelemetry(t *testing.T) {
	demo := "../../examples/demo/telemetry/"
	p := Params{Window: 10 * time.Minute, Out: filepath.Join(t.TempDir(), "m.json"), Holdout: 0.2,
		Telemetry: []gate.Telemetry{{Type: "falco", Path: demo + "falco.jsonl"}, {Type: "k8s-audit", Path: demo + "k8s-audit.jsonl"}, {Type: "tetragon", Path: demo + "tetragon.jsonl", Cluster: "prod-eu-1"}}}
	_, err := Run(p, env())
	if err == nil || !strings.Contains(err.Error(), "too few windows to train") || !strings.Contains(err.Error(), "a shorter --window") {
		t.Fatalf("demo history: %v", err)
	}
	p.MinWindows, p.Holdout = 10, 0
	res, err := Run(p, env())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != FirstModel || res.Signals < 100 || res.Windows < 20 {
		t.Errorf("%+v", res)
	}
}

func TestStoreReader(t *testing.T) {
	sigs := synth.History(synth.Options{Seed: 1, Start: t0, Hours: 12, Pods: 12, Nodes: 3})
	var gotSince time.Time
	e := env()
	e.ReadStore = func(path string, since, until time.Time) ([]signal.Signal, error) {
		gotSince = since
		return sigs, nil
	}
	p := Params{Store: "history.db", Window: 10 * time.Minute, Out: filepath.Join(t.TempDir(), "m.json"), Since: t0.Add(time.Hour)}
	res, err := Run(p, e)
	if err != nil {
		t.Fatal(err)
	}
	if !gotSince.Equal(p.Since) || res.DataWindow.Start != "2026-11-01T01:00:00Z" {
		t.Errorf("since %v, data window %+v", gotSince, res.DataWindow)
	}
}

func TestProgress(t *testing.T) {
	clock := t0
	var buf bytes.Buffer
	p := &Progress{W: &buf, Now: func() time.Time { return clock }}
	p.Update(0, 1000)
	clock = clock.Add(500 * time.Millisecond)
	p.Update(400, 1000) // rate-limited: under a second since the last line
	clock = clock.Add(500 * time.Millisecond)
	p.Update(500, 1000)
	clock = clock.Add(time.Second)
	p.Update(1000, 1000)
	want := "train: 500/1000 windows (50.0%), 500 windows/s, ETA 1s\n" +
		"train: 1000/1000 windows (100.0%), 500 windows/s, ETA 0s\n"
	if buf.String() != want {
		t.Errorf("progress:\n%q\nwant\n%q", buf.String(), want)
	}

	buf.Reset()
	q := &Progress{W: &buf, TTY: true, Now: func() time.Time { return clock }}
	q.Update(0, 10)
	q.Update(10, 10) // done before the first line was due: a short run stays quiet
	if buf.Len() != 0 {
		t.Errorf("short run printed %q", buf.String())
	}
	r := &Progress{W: &buf, TTY: true, Now: func() time.Time { return clock }}
	r.Update(0, 10)
	clock = clock.Add(2 * time.Second)
	r.Update(5, 10)
	clock = clock.Add(2 * time.Second)
	r.Update(10, 10)
	if got := buf.String(); !strings.HasPrefix(got, "\rtrain: 5/10") || !strings.HasSuffix(got, "\033[K\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("terminal progress %q", got)
	}
}

// TestCatalogResults: the result files stay within their declared sizes.
func TestCatalogResults(t *testing.T) {
	for _, o := range []string{FirstModel, Promoted, Forced, Rejected, "false", "true"} {
		if len(o) > 16 {
			t.Errorf("%q longer than the outcome result allows", o)
		}
	}
	if n := len("sha256:") + 64; n != CatalogResults[2].MaxBytes {
		t.Errorf("model-digest is %d bytes, declared %d", n, CatalogResults[2].MaxBytes)
	}
}
