package iforest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
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

func BenchmarkFit(b *testing.B) {
	for _, tc := range []struct{ n, d int }{{256, 3}, {256, 10}, {10000, 6}, {100000, 3}} {
		rows := gaussian(1, tc.n, tc.d)
		X := mat.NewDense(tc.n, tc.d, nil)
		for i, r := range rows {
			X.SetRow(i, r)
		}
		for _, ext := range []bool{false, true} {
			b.Run(fmt.Sprintf("n=%d/d=%d/extended=%v", tc.n, tc.d, ext), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Fit(X, Options{Seed: 1, Extended: ext}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkScoreBatch(b *testing.B) {
	for _, d := range []int{3, 6, 10} {
		for _, ext := range []bool{false, true} {
			train := gaussian(1, 10000, d)
			f, err := FitRows(train, Options{Seed: 1, Extended: ext})
			if err != nil {
				b.Fatal(err)
			}
			pts := gaussian(2, 4096, d)
			dst := make([]float64, len(pts))
			b.Run(fmt.Sprintf("d=%d/extended=%v", d, ext), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.ScoreBatch(pts, dst); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(len(pts))/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

func BenchmarkScore(b *testing.B) {
	for _, d := range []int{3, 10} {
		f, err := FitRows(gaussian(1, 10000, d), Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		pts := gaussian(2, 4096, d)
		b.Run(fmt.Sprintf("d=%d", d), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := f.Score(pts[i%len(pts)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
