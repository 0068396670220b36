package model_test

import (
	"fmt"
	"time"

	"github.com/pulsegate/pulsegate/model"
	"github.com/pulsegate/pulsegate/model/synth"
	"github.com/pulsegate/pulsegate/pkg/feature"
)

// Train a model on twelve hours of a small synthetic cluster, then check a
// candidate from another twelve hours of the same cluster against it.
func ExampleTrain() {
	history := func(seed uint64) []feature.Window {
		sigs := synth.History(synth.Options{Seed: seed, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Hours: 12, Pods: 12, Nodes: 3})
		ws, err := feature.Windows(sigs, feature.WindowOptions{Size: 10 * time.Minute})
		if err != nil {
			panic(err)
		}
		return ws
	}
	current, err := model.Train(history(1), model.TrainOptions{Seed: 1, Holdout: 0.2})
	if err != nil {
		panic(err)
	}
	md := current.Forest.Metadata()
	fmt.Printf("trained on %d windows from %s to %s, %d benign held out\n", md.Rows, md.Window.Start, md.Window.End, len(current.Holdout))
	fmt.Println(current.Forest.Checksum())

	cand, err := model.Train(history(2), model.TrainOptions{Seed: 2, Holdout: 0.2})
	if err != nil {
		panic(err)
	}
	holdout := make([][]float64, len(cand.Holdout))
	for i, w := range cand.Holdout {
		holdout[i] = w.Vector
	}
	c, err := model.Compare(current.Forest, cand.Forest, holdout, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Promote, c.Reason)
	// Output:
	// trained on 855 windows from 2026-11-01T00:00:00Z to 2026-11-01T09:30:00Z, 225 benign held out
	// sha256:3230981d3f540392bdc4b8b9a3392cac89d801b9ec10917636927dca56b8ee07
	// true on 225 recent benign windows the score quantiles moved by at most 0.0278 (p99: 0.6637 -> 0.6358), within the bound 0.0500
}

func ExampleKS() {
	fmt.Println(model.KS([]float64{1, 2, 3, 4}, []float64{3, 4, 5, 6}))
	// Output: 0.5
}
