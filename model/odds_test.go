package model

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sharedDir finds the project's shared data folder: $PULSEGATE_SHARED when
// set, else the first folder named shared with data/odds in it found walking
// up from the working directory (CI lays shared/ beside the repository, so it
// is ../shared from the repository's root).
func sharedDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("PULSEGATE_SHARED"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "data", "odds")); err != nil {
			t.Skipf("shared data set not installed: PULSEGATE_SHARED=%s: %v", d, err)
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		d := filepath.Join(dir, "shared")
		if _, err := os.Stat(filepath.Join(d, "data", "odds")); err == nil {
			return d
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if filepath.Dir(dir) == dir {
			t.Skipf("shared data set not installed: no shared/data/odds in %s or any folder above it, and PULSEGATE_SHARED is not set", wd)
		}
	}
}

// TestODDS checks the forest against scikit-learn on the ODDS data sets:
// over k seeds the mean ROC AUC must be within max(0.01, 3 sd sqrt(2/k)) of
// scikit-learn's mean, where the means and per-seed standard deviations are
// the figures of shared/data/odds/README.md (scikit-learn 1.2.1,
// IsolationForest defaults, seeds 0..9). The bound is three standard errors of
// a difference of two means of k seeds each: seed noise alone.
func TestODDS(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "data", "odds")
	const k = 10
	for _, tc := range []struct {
		name       string
		rows, cols int
		auc, sd    float64
		large      bool
	}{
		{"breastw", 683, 9, 0.9873, 0.0014, false},
		{"annthyroid", 7200, 6, 0.8184, 0.0169, false},
		{"mammography", 11183, 6, 0.8615, 0.0075, false},
		{"shuttle", 49097, 9, 0.9970, 0.0005, false},
		{"smtp", 95156, 3, 0.9043, 0.0063, false},
		{"cover", 286048, 10, 0.8774, 0.0366, true},
		{"http", 567498, 3, 0.9996, 0.0004, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.large && testing.Short() {
				t.Skip("one of the two largest sets: skipped in -short mode")
			}
			f, err := os.Open(filepath.Join(dir, tc.name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			start := time.Now()
			res, err := Evaluate(f, EvalOptions{Seeds: k})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != tc.rows || res.Columns != tc.cols {
				t.Fatalf("%d rows x %d columns, the README says %d x %d", res.Rows, res.Columns, tc.rows, tc.cols)
			}
			tol := max(0.01, 3*tc.sd*math.Sqrt(2.0/k))
			t.Logf("AUC %.4f (sd %.4f), scikit-learn %.4f, tolerance %.4f; AP %.4f; fit %.1f ms, score %.0f points/s; %v in all",
				res.AUCMean, res.AUCSD, tc.auc, tol, res.APMean, res.FitSeconds*1e3, res.ScorePointsPerSecond, time.Since(start).Round(time.Millisecond))
			if d := math.Abs(res.AUCMean - tc.auc); d > tol {
				t.Errorf("mean AUC %.4f differs from scikit-learn's %.4f by %.4f, more than %.4f", res.AUCMean, tc.auc, d, tol)
			}
		})
	}
}
