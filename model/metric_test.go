package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Reference values from scikit-learn 1.2.1 (Debian bookworm's python3-sklearn):
// sklearn.metrics.roc_auc_score(labels, scores) and
// sklearn.metrics.average_precision_score(labels, scores).
func TestMetrics(t *testing.T) {
	const tol = 1e-12
	for _, tc := range []struct {
		name    string
		scores  []float64
		labels  []bool
		auc, ap float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0, 0.41666666666666663},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5, 0.5},
		{"ties across classes", []float64{0.1, 0.4, 0.35, 0.8, 0.4, 0.4}, []bool{false, false, true, true, false, true}, 0.6666666666666667, 0.7},
		{"mixed", []float64{0.3, 0.1, 0.7, 0.6, 0.2, 0.9, 0.5}, []bool{false, false, true, false, true, true, false}, 0.75, 0.8333333333333333},
		{"one positive", []float64{1, 2, 3}, []bool{false, true, false}, 0.5, 0.5},
		{"no negative", []float64{1, 2}, []bool{true, true}, math.NaN(), 1},
		{"no positive", []float64{1, 2}, []bool{false, false}, math.NaN(), math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auc, ap := ROCAUC(tc.scores, tc.labels), AveragePrecision(tc.scores, tc.labels)
			if !close(auc, tc.auc, tol) || !close(ap, tc.ap, tol) {
				t.Errorf("AUC %.17g, AP %.17g; scikit-learn gives %.17g, %.17g", auc, ap, tc.auc, tc.ap)
			}
		})
	}
}

func close(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func BenchmarkMetrics(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		rng := rand.New(rand.NewPCG(1, 2))
		scores := make([]float64, n)
		labels := make([]bool, n)
		for i := range scores {
			scores[i] = math.Round(rng.Float64()*1000) / 1000 // with ties
			labels[i] = rng.IntN(20) == 0
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rankMetrics(sorted(scores, labels))
			}
		})
	}
}
