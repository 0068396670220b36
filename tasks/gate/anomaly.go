package gate

import (
	"fmt"
	"os"

	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/pkg/feature"
)

// ScoreModel scores every target's feature vector with the isolation
// forest saved at path and returns the highest score (0..1), the model's
// checksum, and a sentence naming the target that scored it. A model whose
// feature schema differs from pkg/feature's is an error, never a silent
// mis-score.
func ScoreModel(path string, in AnomalyInput) (float64, string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", "", err
	}
	defer f.Close()
	forest, err := iforest.Load(f)
	if err != nil {
		return 0, "", "", err
	}
	if err := forest.CheckFeatures(feature.Names); err != nil {
		return 0, "", "", fmt.Errorf("the model was trained on other features than this build computes: %w", err)
	}
	if len(in.Targets) == 0 {
		return 0, forest.Checksum(), "no targets to score", nil
	}
	vecs := feature.Vectors(in.Targets, in.Signals, in.Matches, in.Now, in.Window)
	scores, err := forest.ScoreBatch(vecs, nil)
	if err != nil {
		return 0, "", "", err
	}
	best := 0
	for i, s := range scores {
		if s > scores[best] {
			best = i
		}
	}
	detail := fmt.Sprintf("highest on %s among %d targets (0.5 or less is ordinary)", in.Targets[best].String(), len(scores))
	return scores[best], forest.Checksum(), detail, nil
}
