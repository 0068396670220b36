package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pulsegate/pulsegate/model/iforest"
)

// The promotion rule. A candidate model replaces the current one only when,
// on the same recent benign windows (a holdout neither was trained on), the
// two models' score distributions agree: at each of PromoteQuantiles, the
// candidate's score quantile is within DefaultMaxShift of the current
// model's.
//
// Why quantiles and not a two-sample Kolmogorov-Smirnov test: most windows
// of a quiet cluster are identical rows of zeros, so each model gives a
// large share of the holdout one and the same score, and two forests grown
// on the same data with different seeds put that score a hundredth apart.
// The KS statistic sees a step of the size of that share (0.6 and more),
// however small the gap; a quantile difference is measured in score units
// and stays small. Compare still reports the KS statistic, for a person.
//
// Why 0.05: two forests fitted on the same distribution (other seeds, other
// samples of it) differ by about 0.01 to 0.03 at these quantiles; a model
// fitted after a real change of what the cluster does (the tests shift
// every count by a few units) differs by 0.1 or more. Scores above 0.5 add
// risk at the gate (pkg/risk), and 0.05 is a tenth of the range in which
// they do.
var PromoteQuantiles = []float64{0.5, 0.95, 0.99}

// DefaultMaxShift is the largest accepted difference, in score units (the
// scores are in (0, 1]), between the two models' holdout quantiles.
const DefaultMaxShift = 0.05

// MinHoldout is the fewest benign holdout windows Compare accepts: fewer
// cannot estimate a 0.99 quantile at all.
const MinHoldout = 20

// Comparison is the result of Compare: what was measured and the verdict.
type Comparison struct {
	// Holdout is the number of benign windows both models scored.
	Holdout int `json:"holdout_windows"`
	// Quantiles are the two models' scores at PromoteQuantiles.
	Quantiles []QuantileShift `json:"quantiles"`
	// Shift is the largest absolute difference among Quantiles.
	Shift float64 `json:"max_shift"`
	// Bound is the largest Shift that promotes.
	Bound float64 `json:"bound"`
	// KS is the two-sample Kolmogorov-Smirnov statistic of the two score
	// samples (0..1), for information only.
	KS float64 `json:"ks"`
	// Promote is the verdict; Reason says why in one sentence.
	Promote bool   `json:"promote"`
	Reason  string `json:"reason"`
}

// QuantileShift is one quantile of both models' holdout scores.
type QuantileShift struct {
	Q         float64 `json:"q"`
	Current   float64 `json:"current"`
	Candidate float64 `json:"candidate"`
	Diff      float64 `json:"diff"` // Candidate - Current
}

// ErrSchema is returned by Compare when the two models have different
// feature schemas: their scores cannot be compared.
var ErrSchema = errors.New("the current model has another feature schema")

// Compare scores holdout (recent benign windows, in the schema of both
// models) with the current and the candidate model and applies the
// promotion rule with bound maxShift (0 means DefaultMaxShift).
func Compare(current, candidate *iforest.Forest, holdout [][]float64, maxShift float64) (Comparison, error) {
	if maxShift == 0 {
		maxShift = DefaultMaxShift
	}
	if !(maxShift > 0 && maxShift <= 1) {
		return Comparison{}, fmt.Errorf("maximum shift %v: must be in (0, 1]", maxShift)
	}
	if err := current.CheckFeatures(candidate.Features()); err != nil {
		return Comparison{}, fmt.Errorf("%w (%d features, the candidate has %d): %w", ErrSchema, current.NumFeatures(), candidate.NumFeatures(), err)
	}
	if len(holdout) < MinHoldout {
		return Comparison{}, fmt.Errorf("%d benign holdout windows: need at least %d to compare models (give a longer history or a larger --holdout)", len(holdout), MinHoldout)
	}
	cur, err := current.ScoreBatch(holdout, nil)
	if err != nil {
		return Comparison{}, fmt.Errorf("score the holdout with the current model: %w", err)
	}
	cand, err := candidate.ScoreBatch(holdout, nil)
	if err != nil {
		return Comparison{}, fmt.Errorf("score the holdout with the candidate: %w", err)
	}
	c := Comparison{Holdout: len(holdout), Bound: maxShift, KS: KS(cur, cand)}
	slices.Sort(cur)
	slices.Sort(cand)
	worst := 0
	for i, q := range PromoteQuantiles {
		s := QuantileShift{Q: q, Current: Quantile(cur, q), Candidate: Quantile(cand, q)}
		s.Diff = s.Candidate - s.Current
		c.Quantiles = append(c.Quantiles, s)
		if d := math.Abs(s.Diff); d > c.Shift {
			c.Shift, worst = d, i
		}
	}
	w := c.Quantiles[worst]
	if c.Shift <= maxShift {
		c.Promote = true
		c.Reason = fmt.Sprintf("on %d recent benign windows the score quantiles moved by at most %.4f (p%s: %.4f -> %.4f), within the bound %.4f",
			c.Holdout, c.Shift, pct(w.Q), w.Current, w.Candidate, maxShift)
	} else {
		c.Reason = fmt.Sprintf("on %d recent benign windows the p%s score moved by %.4f (%.4f -> %.4f), beyond the bound %.4f: what the cluster does has changed, or the new data is not benign; review the report before promoting by hand",
			c.Holdout, pct(w.Q), c.Shift, w.Current, w.Candidate, maxShift)
	}
	return c, nil
}

func pct(q float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", q*100), "0"), ".")
}

// Quantile is the q-quantile of sorted s with linear interpolation between
// order statistics (Hyndman and Fan's type 7, numpy's default). s must be
// sorted and not empty.
func Quantile(s []float64, q float64) float64 {
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// KS is the two-sample Kolmogorov-Smirnov statistic: the largest distance
// between the empirical distribution functions of a and b (0 when either
// is empty). It sorts copies of a and b.
func KS(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	var d float64
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		v := math.Min(x[i], y[j])
		for i < len(x) && x[i] == v {
			i++
		}
		for j < len(y) && y[j] == v {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/float64(len(x))-float64(j)/float64(len(y))))
	}
	return d
}
