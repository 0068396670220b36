package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sjwhitworth/golearn/trees"

	"github.com/pulsegate/pulsegate/model/iforest"
)

// gaussian returns n rows of d standard normal values from a seeded generator.
func gaussian(seed uint64, n, d int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, d)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64()
		}
	}
	return rows
}

// The same forest for both: 100 trees of 256 rows, height limit 8.
const (
	trees_     = 100
	psi        = 256
	height     = 8
	scoreBatch = 4096
)

// BenchmarkScore scores 4096 points with a forest fitted on 10,000 rows, for
// pulsegate and golearn in the same run; points/s is the figure to compare.
func BenchmarkScore(b *testing.B) {
	for _, d := range []int{3, 6, 10} {
		train := gaussian(1, 10000, d)
		pts := gaussian(2, scoreBatch, d)
		b.Run(fmt.Sprintf("impl=pulsegate/d=%d", d), func(b *testing.B) {
			f, err := iforest.FitRows(train, iforest.Options{Trees: trees_, MaxSamples: psi, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float64, len(pts))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := CPUTime()
			for b.Loop() {
				if _, err := f.ScoreBatch(pts, dst); err != nil {
					b.Fatal(err)
				}
			}
			report(b, len(pts), CPUTime()-cpu)
		})
		b.Run(fmt.Sprintf("impl=golearn/d=%d", d), func(b *testing.B) {
			f := trees.NewIsolationForest(trees_, height, psi)
			f.Fit(GolearnGrid(train))
			grid := GolearnGrid(pts)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := CPUTime()
			for b.Loop() {
				if s := f.Predict(grid); len(s) != len(pts) || math.IsNaN(s[0]) {
					b.Fatal("bad scores")
				}
			}
			report(b, len(pts), CPUTime()-cpu)
		})
	}
}

// report adds points/s by the wall clock and by the process's CPU time (run
// with -cpu 1: with more Ps, the CPU time includes other goroutines' work).
func report(b *testing.B, points int, cpu time.Duration) {
	n := float64(b.N * points)
	b.ReportMetric(n/b.Elapsed().Seconds(), "points/s")
	if cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), "cpu-points/s")
	}
}

// reportFit adds the CPU milliseconds of one fit (run with -cpu 1).
func reportFit(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkFit fits 100 trees of 256 rows on n rows of 6 columns.
func BenchmarkFit(b *testing.B) {
	for _, n := range []int{256, 10000, 100000} {
		train := gaussian(1, n, 6)
		b.Run(fmt.Sprintf("impl=pulsegate/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := CPUTime()
			for b.Loop() {
				if _, err := iforest.FitRows(train, iforest.Options{Trees: trees_, MaxSamples: psi, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			reportFit(b, CPUTime()-cpu)
		})
		b.Run(fmt.Sprintf("impl=golearn/n=%d", n), func(b *testing.B) {
			grid := GolearnGrid(train)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := CPUTime()
			for b.Loop() {
				f := trees.NewIsolationForest(trees_, height, min(psi, n))
				f.Fit(grid)
			}
			reportFit(b, CPUTime()-cpu)
		})
	}
}

// TestSameParameters checks that both implementations find the planted
// outliers with the parameters the benchmarks use.
func TestSameParameters(t *testing.T) {
	rows := gaussian(3, 2000, 4)
	for i := 0; i < len(rows); i += 100 {
		for j := range rows[i] {
			rows[i][j] = 8
		}
	}
	f, err := iforest.FitRows(rows, iforest.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := f.ScoreBatch(rows, nil)
	g := trees.NewIsolationForest(trees_, height, psi)
	grid := GolearnGrid(rows)
	g.Fit(grid)
	theirs := g.Predict(grid)
	for name, s := range map[string][]float64{"pulsegate": ours, "golearn": theirs} {
		if s[0] <= s[1] || s[100] <= s[101] {
			t.Errorf("%s: outliers %.3f, %.3f do not outscore inliers %.3f, %.3f", name, s[0], s[100], s[1], s[101])
		}
	}
}
