package model

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/pulsegate/pulsegate/model/iforest"
)

// DefaultLabelColumn is the label column's name when EvalOptions.LabelColumn is empty.
const DefaultLabelColumn = "label"

// DefaultSeeds is the number of seeds Evaluate fits when EvalOptions.Seeds is
// 0: ten, as in the scikit-learn reference figures of the ODDS data sets.
const DefaultSeeds = 10

// EvalOptions configures Evaluate. The zero value evaluates the default
// forest (iforest.Options{}) over seeds 0..9 with the label in column "label".
type EvalOptions struct {
	// LabelColumn names the CSV column that holds the label, 1 for an anomaly
	// and 0 otherwise; "" means "label". Every other column is a feature.
	LabelColumn string
	// Seeds is how many forests to fit, with seeds 0, 1, ..., Seeds-1; 0 means
	// DefaultSeeds.
	Seeds int
	// Trees, MaxSamples and Extended are passed to iforest.Options; 0 and false
	// mean iforest's defaults (100 trees, min(256, rows) samples, axis-parallel).
	Trees, MaxSamples int
	Extended          bool
}

// EvalResult is what Evaluate measured. Its JSON form is the output of
// `pulsegate model evaluate`.
type EvalResult struct {
	// AUCMean is the mean ROC AUC over the seeds, and AUCSD its sample
	// standard deviation (n-1 in the denominator; 0 for one seed).
	AUCMean float64 `json:"auc_mean"`
	AUCSD   float64 `json:"auc_sd"`
	// APMean is the mean average precision over the seeds.
	APMean float64 `json:"ap_mean"`
	// FitSeconds and ScoreSeconds are the mean wall time of one fit and of
	// scoring every row once, per seed. Fit uses GOMAXPROCS goroutines;
	// scoring uses one.
	FitSeconds   float64 `json:"fit_seconds"`
	ScoreSeconds float64 `json:"score_seconds"`
	// ScorePointsPerSecond is rows / ScoreSeconds.
	ScorePointsPerSecond float64 `json:"score_points_per_second"`
	// Rows and Columns are the shape of the data without the header and the
	// label column; Anomalies is how many rows have label 1.
	Rows      int `json:"rows"`
	Columns   int `json:"columns"`
	Anomalies int `json:"anomalies"`
	// Seeds is the number of seeds evaluated.
	Seeds int `json:"seeds"`
}

// Dataset is a labelled data set read by ReadCSV.
type Dataset struct {
	// Features names the feature columns in order (the label column removed).
	Features []string
	// X holds one row per record and one column per feature.
	X *mat.Dense
	// Labels is true for the rows labelled 1 (anomalies).
	Labels []bool
}

// rows returns the rows of X as slices that share its memory.
func (d *Dataset) rows() [][]float64 {
	m := d.X.RawMatrix()
	rows := make([][]float64, m.Rows)
	for i := range rows {
		rows[i] = m.Data[i*m.Stride : i*m.Stride+m.Cols]
	}
	return rows
}

// Evaluate reads a CSV data set from r (see ReadCSV) and, for each of
// opts.Seeds seeds, fits an isolation forest on all rows and scores all rows,
// measuring ROC AUC, average precision and time. The data needs at least two
// rows, one feature column, and both labels.
func Evaluate(r io.Reader, opts EvalOptions) (EvalResult, error) {
	label := opts.LabelColumn
	if label == "" {
		label = DefaultLabelColumn
	}
	ds, err := ReadCSV(r, label)
	if err != nil {
		return EvalResult{}, err
	}
	return EvaluateDataset(ds, opts)
}

// EvaluateDataset is Evaluate on a data set already read; opts.LabelColumn is
// not used.
func EvaluateDataset(ds *Dataset, opts EvalOptions) (EvalResult, error) {
	k := opts.Seeds
	switch {
	case k == 0:
		k = DefaultSeeds
	case k < 0:
		return EvalResult{}, fmt.Errorf("evaluate: %d seeds: need at least 1", k)
	}
	n, d := ds.X.Dims()
	res := EvalResult{Rows: n, Columns: d, Seeds: k}
	for _, l := range ds.Labels {
		if l {
			res.Anomalies++
		}
	}
	if res.Anomalies == 0 || res.Anomalies == n {
		return EvalResult{}, fmt.Errorf("evaluate: %d anomalies in %d rows: need both labels for ROC AUC", res.Anomalies, n)
	}
	rows := ds.rows()
	scores := make([]float64, n)
	aucs, aps := make([]float64, k), make([]float64, k)
	var fitTime, scoreTime time.Duration
	for s := range k {
		start := time.Now()
		f, err := iforest.Fit(ds.X, iforest.Options{
			Trees: opts.Trees, MaxSamples: opts.MaxSamples, Extended: opts.Extended,
			Seed: uint64(s), Features: ds.Features,
		})
		if err != nil {
			return EvalResult{}, fmt.Errorf("evaluate: seed %d: %w", s, err)
		}
		fitted := time.Now()
		if scores, err = f.ScoreBatch(rows, scores); err != nil {
			return EvalResult{}, fmt.Errorf("evaluate: seed %d: %w", s, err)
		}
		scoreTime += time.Since(fitted)
		fitTime += fitted.Sub(start)
		aucs[s], aps[s] = rankMetrics(sorted(scores, ds.Labels))
	}
	res.AUCMean = stat.Mean(aucs, nil)
	if k > 1 {
		res.AUCSD = stat.StdDev(aucs, nil)
	}
	res.APMean = stat.Mean(aps, nil)
	res.FitSeconds = fitTime.Seconds() / float64(k)
	res.ScoreSeconds = scoreTime.Seconds() / float64(k)
	if res.ScoreSeconds > 0 {
		res.ScorePointsPerSecond = float64(n) / res.ScoreSeconds
	}
	return res, nil
}

// ReadCSV reads a labelled data set: a CSV file whose first record is a
// header of unique column names, one of which is labelColumn; the label is 1
// (anomaly) or 0 (written as any number equal to those), every other column is
// a feature and must hold finite numbers. Errors name the line and the column.
func ReadCSV(r io.Reader, labelColumn string) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("csv: empty input: no header")
	}
	if err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	label := -1
	seen := make(map[string]int, len(header))
	var features []string
	var errs []error
	for i, h := range header {
		h = strings.TrimSpace(h)
		switch j, dup := seen[h]; {
		case h == "":
			errs = append(errs, fmt.Errorf("csv: line 1, column %d: empty name", i+1))
		case dup:
			errs = append(errs, fmt.Errorf("csv: line 1, column %d: name %q already used by column %d", i+1, h, j+1))
		case h == labelColumn:
			label = i
		default:
			features = append(features, h)
		}
		seen[h] = i
	}
	if label < 0 {
		errs = append(errs, fmt.Errorf("csv: line 1: no label column %q among %q", labelColumn, header))
	}
	if len(header) < 2 {
		errs = append(errs, fmt.Errorf("csv: line 1: %d columns, need a label and at least one feature", len(header)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	names := append([]string(nil), header...) // header is reused by the reader
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	var data []float64
	var labels []bool
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err) // a *csv.ParseError names the line
		}
		for i, field := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
			if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = errors.New("not a finite number")
			}
			if err == nil && i == label && v != 0 && v != 1 {
				err = errors.New("a label must be 0 or 1")
			}
			if err != nil {
				line, col := cr.FieldPos(i)
				if ne, ok := err.(*strconv.NumError); ok {
					err = ne.Err
				}
				return nil, fmt.Errorf("csv: line %d, column %d (%q), position %d: %q: %w", line, i+1, names[i], col, field, err)
			}
			if i == label {
				labels = append(labels, v == 1)
			} else {
				data = append(data, v)
			}
		}
	}
	if len(labels) == 0 {
		return nil, errors.New("csv: no data rows after the header")
	}
	return &Dataset{Features: features, X: mat.NewDense(len(labels), len(features), data), Labels: labels}, nil
}
