package model

import (
	"cmp"
	"math"
	"slices"
)

// ROCAUC is the area under the ROC curve of scores against labels (true for
// an anomaly, which should score higher): the Mann-Whitney U statistic over
// positives times negatives, with tied scores given their average rank, so a
// tie between a positive and a negative counts one half. It equals
// scikit-learn's roc_auc_score. It returns NaN unless both classes occur.
// scores and labels must have the same length.
func ROCAUC(scores []float64, labels []bool) float64 {
	auc, _ := rankMetrics(sorted(scores, labels))
	return auc
}

// AveragePrecision is the area under the precision-recall curve as
// scikit-learn's average_precision_score defines it: the sum over distinct
// score thresholds, from the highest down, of (R_n - R_{n-1}) * P_n, where P_n
// and R_n are the precision and recall of calling every score >= the n-th
// threshold an anomaly (a step function, no interpolation). It returns NaN
// when there is no positive. scores and labels must have the same length.
func AveragePrecision(scores []float64, labels []bool) float64 {
	_, ap := rankMetrics(sorted(scores, labels))
	return ap
}

type scored struct {
	score float64
	label bool
}

// sorted pairs scores with labels in increasing order of score.
func sorted(scores []float64, labels []bool) []scored {
	s := make([]scored, len(scores))
	for i, v := range scores {
		s[i] = scored{v, labels[i]}
	}
	slices.SortFunc(s, func(a, b scored) int { return cmp.Compare(a.score, b.score) })
	return s
}

// rankMetrics computes ROC AUC and average precision from scores sorted
// increasingly, going through each group of tied scores once.
func rankMetrics(s []scored) (auc, ap float64) {
	pos := 0
	for _, x := range s {
		if x.label {
			pos++
		}
	}
	neg := len(s) - pos
	if pos == 0 {
		return math.NaN(), math.NaN()
	}
	rankSum := 0.0 // sum of the (1-based, tie-averaged) ranks of the positives
	var tp, fp int // above the current threshold, going down from the top
	prevRecall := 0.0
	for j := len(s); j > 0; {
		i := j - 1
		for i > 0 && s[i-1].score == s[j-1].score {
			i--
		}
		// s[i:j] is a group of ties, ranks i+1..j.
		avg := float64(i+1+j) / 2
		for _, x := range s[i:j] {
			if x.label {
				tp++
				rankSum += avg
			} else {
				fp++
			}
		}
		recall := float64(tp) / float64(pos)
		ap += (recall - prevRecall) * float64(tp) / float64(tp+fp)
		prevRecall = recall
		j = i
	}
	if neg == 0 {
		return math.NaN(), ap
	}
	p := float64(pos)
	return (rankSum - p*(p+1)/2) / (p * float64(neg)), ap
}
