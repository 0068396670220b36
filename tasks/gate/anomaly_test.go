package gate

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/pkg/feature"
	"github.com/pulsegate/pulsegate/tasks"
)

// saveModel fits a forest on quiet benign windows and saves it: half the
// targets see nothing, the rest a few low findings and routine processes.
func saveModel(t *testing.T, names []string) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([][]float64, 600)
	for i := range rows {
		r := make([]float64, len(names))
		if rng.IntN(2) == 0 && len(r) == len(feature.Names) {
			n := float64(1 + rng.IntN(4))
			r[0], r[1], r[4], r[5], r[6] = n, float64(1+rng.IntN(2)), 1, float64(rng.IntN(2)), n-1
		} else if len(r) != len(feature.Names) {
			for j := range r {
				r[j] = float64(rng.IntN(3))
			}
		}
		rows[i] = r
	}
	f, err := iforest.FitRows(rows, iforest.Options{Seed: 1, Features: names})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.json")
	out, _ := os.Create(path)
	defer out.Close()
	if err := f.Save(out); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGateWithModel(t *testing.T) {
	p := demoParams("payments-api.yaml")
	p.Model = saveModel(t, feature.Names)
	e := env()
	e.ScoreAnomaly = ScoreModel
	d, err := Run(p, e)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Anomaly.Ran || d.Anomaly.ModelDigest == "" || d.Anomaly.Score <= 0 || d.Anomaly.Score > 1 {
		t.Fatalf("anomaly %+v", d.Anomaly)
	}
	// The release's busiest targets are outside the quiet training data:
	// the score passes 0.5, and so the risk gains an anomaly part.
	if d.Anomaly.Score <= 0.5 {
		t.Errorf("anomaly %+v, want above 0.5", d.Anomaly)
	}
	found := false
	for _, c := range d.Risk.Contributions {
		found = found || c.Factor == "anomaly" && c.Points > 0
	}
	if !found {
		t.Errorf("no anomaly contribution in %+v", d.Risk.Contributions)
	}
	if d.Inputs["model"] != d.Anomaly.ModelDigest {
		t.Errorf("inputs %v do not record the model", d.Inputs)
	}
}

func TestGateModelSchemaMismatch(t *testing.T) {
	p := demoParams("payments-api.yaml")
	p.Model = saveModel(t, []string{"a", "b", "c"})
	e := env()
	e.ScoreAnomaly = ScoreModel
	_, err := Run(p, e)
	if !tasks.IsUsage(err) || !strings.Contains(err.Error(), "feature schema mismatch") {
		t.Errorf("err = %v, want a usage error naming the schema mismatch", err)
	}
}
