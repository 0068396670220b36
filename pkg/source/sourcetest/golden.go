package sourcetest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// goldenOutput is what a golden file holds: the batch one input file gives.
type goldenOutput struct {
	Records  int             `json:"records"`
	Rejected int             `json:"rejected"`
	Rejects  []goldenReject  `json:"rejects,omitempty"`
	Signals  []signal.Signal `json:"signals"`
}

type goldenReject struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Golden reads input with spec and compares the batch (signals, counts and
// reject reasons, as indented JSON) with the file golden; with update it
// rewrites golden instead. Raw.File is reduced to the input's base name so
// the output does not depend on where the test runs.
func Golden(t *testing.T, spec source.Spec, input, golden string, update bool) {
	t.Helper()
	b, err := source.ReadFile(input, spec, signal.SourceRef{Name: spec.Type, Type: spec.Type}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := goldenOutput{Records: b.Records, Rejected: b.Rejected, Signals: b.Signals}
	if out.Signals == nil {
		out.Signals = []signal.Signal{}
	}
	for i := range out.Signals {
		out.Signals[i].Raw.File = filepath.Base(out.Signals[i].Raw.File)
	}
	for _, r := range b.Rejects {
		out.Rejects = append(out.Rejects, goldenReject{r.Line, r.Reason})
	}
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run with -update to accept):\n%s", input, golden, firstDiff(want, got))
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte{'\n'}), bytes.Split(got, []byte{'\n'})
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g)
		}
	}
	return "(no line differs)"
}
