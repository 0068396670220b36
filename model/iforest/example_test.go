package iforest_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/pulsegate/pulsegate/model/iforest"
)

// Fit a forest on seeded Gaussian data and score an ordinary point and an
// outlier.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float64, 1000)
	for i := range rows {
		rows[i] = []float64{rng.NormFloat64(), rng.NormFloat64()}
	}
	f, err := iforest.FitRows(rows, iforest.Options{Seed: 7, Features: []string{"cpu", "mem"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	inlier, _ := f.Score([]float64{0.1, -0.2})
	outlier, _ := f.Score([]float64{4, 4})
	fmt.Printf("inlier %.2f, outlier %.2f\n", inlier, outlier)

	_, err = f.ScoreNamed([]string{"mem", "cpu"}, []float64{0, 0})
	fmt.Println(err)
	// Output:
	// inlier 0.40, outlier 0.75
	// iforest: feature schema mismatch: feature 0 is "mem", the model's is "cpu"
}

// Save a forest and load it back: the checksum and the scores carry over.
func ExampleLoad() {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([][]float64, 300)
	for i := range rows {
		rows[i] = []float64{rng.Float64(), rng.Float64(), rng.Float64()}
	}
	f, _ := iforest.FitRows(rows, iforest.Options{Seed: 1, Trees: 10})
	var buf bytes.Buffer
	if err := f.Save(&buf); err != nil {
		fmt.Println(err)
		return
	}
	g, err := iforest.Load(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := f.Score(rows[0])
	b, _ := g.Score(rows[0])
	fmt.Println(f.Checksum() == g.Checksum(), a == b)
	// Output: true true
}
