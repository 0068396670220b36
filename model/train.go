package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pulsegate/pulsegate/model/iforest"
	"github.com/pulsegate/pulsegate/pkg/feature"
)

// TrainOptions configures Train. The zero value trains scikit-learn's
// default forest (100 trees, subsamples of 256) with seed 0 on every
// window, holding none out.
type TrainOptions struct {
	// Trees, MaxSamples, Seed and Extended are the forest's options (see
	// iforest.Options; 0 means its default).
	Trees, MaxSamples int
	Seed              uint64
	Extended          bool
	// Holdout is the fraction of the most recent windows, 0..0.5, kept
	// out of training to compare models on (see Compare). Windows that end
	// at the same time stay together, so slightly more may be held out.
	Holdout float64
	// MinWindows is the fewest training windows Train accepts; 0 means
	// DefaultMinWindows.
	MinWindows int
}

// DefaultMinWindows is the fewest training windows Train accepts by
// default: below it, the score distribution (and so any threshold or
// promotion check) rests on too few points to mean anything.
const DefaultMinWindows = 50

// Trained is a fitted model with what it was fitted on.
type Trained struct {
	Forest *iforest.Forest
	// Train are the windows the forest was fitted on, oldest first.
	Train []feature.Window
	// Holdout are the held-out recent windows that are benign (see
	// feature.Benign); HeldOut counts all held-out windows.
	Holdout []feature.Window
	HeldOut int
	// TrainScores and HoldoutScores are the forest's scores of Train and
	// Holdout, in their order.
	TrainScores, HoldoutScores []float64
	// Constant lists the features with no variance over Train, with their
	// only value: the forest cannot split on them.
	Constant []ConstantFeature
	// Warnings are sentences for the person running the training.
	Warnings []string
}

// ConstantFeature is a feature with one value over every training window.
type ConstantFeature struct {
	Name  string
	Value float64
}

// Train splits windows (sorted by End, as feature.Windows returns them)
// into training windows and a recent holdout, fits an isolation forest on
// the training windows with feature.Names as its schema and their time span
// as its data window, and scores both parts. Too few windows, or features
// that are all constant, are errors; a constant feature is a warning.
func Train(windows []feature.Window, opts TrainOptions) (*Trained, error) {
	if !(opts.Holdout >= 0 && opts.Holdout <= 0.5) {
		return nil, fmt.Errorf("holdout %v: must be between 0 and 0.5", opts.Holdout)
	}
	minW := opts.MinWindows
	if minW <= 0 {
		minW = DefaultMinWindows
	}
	if !slices.IsSortedFunc(windows, func(a, b feature.Window) int { return a.End.Compare(b.End) }) {
		return nil, errors.New("windows are not sorted by end time")
	}
	cut := len(windows)
	if opts.Holdout > 0 && len(windows) > 0 {
		cut = len(windows) - int(math.Ceil(opts.Holdout*float64(len(windows))))
		for cut > 0 && windows[cut-1].End.Equal(windows[cut].End) {
			cut--
		}
	}
	t := &Trained{Train: windows[:cut], HeldOut: len(windows) - cut}
	if len(t.Train) < minW {
		return nil, fmt.Errorf("too few windows to train: %d in the history, %d left for training after holding out the %d most recent; need at least %d (give a longer history, a shorter --window or a smaller --holdout)",
			len(windows), len(t.Train), t.HeldOut, minW)
	}
	for _, w := range windows[cut:] {
		if feature.Benign(w.Vector) {
			t.Holdout = append(t.Holdout, w)
		}
	}
	rows := vectors(t.Train)
	t.Constant = constantFeatures(rows)
	if len(t.Constant) == len(feature.Names) {
		return nil, fmt.Errorf("every feature is constant over the %d training windows: nothing to learn from (is the telemetry empty apart from heartbeats?)", len(rows))
	}
	for _, c := range t.Constant {
		t.Warnings = append(t.Warnings, fmt.Sprintf("feature %s has no variance in the training windows (always %v): the model cannot use it", c.Name, c.Value))
	}
	if t.HeldOut > 0 && len(t.Holdout) == 0 {
		t.Warnings = append(t.Warnings, fmt.Sprintf("none of the %d held-out recent windows is benign: no promotion check is possible", t.HeldOut))
	}
	f, err := iforest.FitRows(rows, iforest.Options{
		Trees: opts.Trees, MaxSamples: opts.MaxSamples, Seed: opts.Seed, Extended: opts.Extended,
		Features: feature.Names,
		Window: iforest.Window{
			Start: t.Train[0].Start.UTC().Format(time.RFC3339),
			End:   t.Train[len(t.Train)-1].End.UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		return nil, err
	}
	t.Forest = f
	if t.TrainScores, err = f.ScoreBatch(rows, nil); err != nil {
		return nil, err
	}
	if len(t.Holdout) > 0 {
		if t.HoldoutScores, err = f.ScoreBatch(vectors(t.Holdout), nil); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func vectors(ws []feature.Window) [][]float64 {
	rows := make([][]float64, len(ws))
	for i := range ws {
		rows[i] = ws[i].Vector
	}
	return rows
}

func constantFeatures(rows [][]float64) []ConstantFeature {
	var out []ConstantFeature
	for j, name := range feature.Names {
		v := rows[0][j]
		same := true
		for _, r := range rows[1:] {
			if r[j] != v {
				same = false
				break
			}
		}
		if same {
			out = append(out, ConstantFeature{Name: name, Value: v})
		}
	}
	return out
}
