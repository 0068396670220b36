package iforest

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Forest is a fitted isolation forest. It is immutable: Score, ScoreBatch and
// the other methods are safe to call from many goroutines at once.
type Forest struct {
	p     params
	d     int
	meta  training
	trees []tree
	norm  float64 // c(maxSamples), the score's normaliser

	// Scoring layout of axis-parallel forests: every tree's nodes in one slice.
	nodes []snode
	// Scoring layout of extended forests.
	xnodes  []xnode
	normals []float64

	value []float64 // per node of nodes or xnodes: for a leaf, depth + c(size)
	roots []int32   // per tree, its root in nodes or xnodes
	steps int       // the greatest leaf depth in the forest

	blocks sync.Pool // of *[]float64 holding d*block values, for scoring

	sumOnce  sync.Once
	checksum string
}

// training is the metadata Fit records about the data.
type training struct {
	rows      int
	window    Window
	quantiles []Quantile
}

// snode is an axis-parallel node laid out for scoring: a point at the node goes
// to next when its value of the node's feature is <= thr and to next+1
// otherwise. A leaf has thr = +Inf and next = itself, so that every walk can
// take the same number of steps through every tree with no branch on the node
// kind. foff is the feature's byte offset in a block of points laid out feature
// by feature (feature * block * 8; see walk).
type snode struct {
	thr  float64
	foff uint32
	next uint32
}

// xnode is an extended (hyperplane) node laid out for scoring: a point goes to
// next when the dot product of x and normals[norm:norm+d] is <= thr, and to
// next+1 otherwise. As with snode, a leaf has thr = +Inf and next = itself; its
// normal is the zero vector at the start of normals.
type xnode struct {
	thr  float64
	next uint32
	norm uint32
}

// Quantile is one point of the training score distribution: the q-quantile
// (0 <= Q <= 1) of the anomaly scores of the training rows.
type Quantile struct {
	Q     float64 `json:"q"`
	Score float64 `json:"score"`
}

// quantileLevels are the levels Fit records in the score distribution.
var quantileLevels = []float64{0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// quantileRows is how many training rows at most Fit scores to estimate the
// training score distribution (a seeded sample without replacement when there
// are more rows), so that the cost of Fit stays bounded on large data.
const quantileRows = 2048

// Fit grows an isolation forest on the rows of X (one row per observation,
// one column per feature). X must have at least 2 rows and 1 column, and only
// finite values. Options are described on Options; the zero value gives
// scikit-learn's defaults.
func Fit(X mat.Matrix, opts Options) (*Forest, error) {
	if d, ok := X.(*mat.Dense); X == nil || ok && d == nil {
		return nil, errors.New("iforest: fit: nil matrix")
	}
	r, c := X.Dims()
	var raw mat.RawMatrixer
	if d, ok := X.(*mat.Dense); ok && !d.IsEmpty() {
		raw = d
	} else if r > 0 && c > 0 {
		raw = mat.DenseCopyOf(X)
	}
	if raw == nil {
		return nil, fmt.Errorf("iforest: fit: empty matrix (%d x %d)", r, c)
	}
	m := raw.RawMatrix()
	x := &data{raw: m.Data, stride: m.Stride, rows: m.Rows, cols: m.Cols}
	return fit(x, opts)
}

// FitRows is Fit for a slice of rows, which must all have the same length.
func FitRows(rows [][]float64, opts Options) (*Forest, error) {
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, errors.New("iforest: fit: empty input")
	}
	c := len(rows[0])
	for i, row := range rows {
		if len(row) != c {
			return nil, fmt.Errorf("iforest: fit: row %d has %d values, row 0 has %d", i, len(row), c)
		}
	}
	return fit(&data{rowsOf: rows, rows: len(rows), cols: c}, opts)
}

func fit(x *data, opts Options) (*Forest, error) {
	p, err := opts.resolve(x.rows, x.cols)
	if err != nil {
		return nil, err
	}
	for i := range x.rows {
		for j, v := range x.row(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("iforest: fit: row %d, column %d (%q): %v is not a finite number", i, j, p.features[j], v)
			}
		}
	}
	trees := make([]tree, p.trees)
	workers := min(runtime.GOMAXPROCS(0), p.trees)
	if workers <= 1 {
		b := newBuilder(p, x)
		for t := range trees {
			trees[t] = b.build(t)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				b := newBuilder(p, x)
				for t := w; t < len(trees); t += workers {
					trees[t] = b.build(t)
				}
			})
		}
		wg.Wait()
	}
	f, err := newForest(p, x.cols, trees, training{rows: x.rows, window: opts.Window})
	if err != nil {
		return nil, err // a bug: Fit made trees its own loader rejects
	}
	f.meta.quantiles = f.trainingQuantiles(x)
	return f, nil
}

// newForest checks trees and lays them out for scoring.
func newForest(p params, d int, trees []tree, meta training) (*Forest, error) {
	f := &Forest{p: p, d: d, meta: meta, trees: trees, norm: AveragePathLength(p.maxSamples)}
	f.blocks.New = func() any { b := make([]float64, d*block); return &b }
	f.roots = make([]int32, len(trees))
	total := 0
	for t := range trees {
		if err := trees[t].check(d, p.height, p.extended); err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
		total += trees[t].len()
	}
	if total > math.MaxInt32 || d > math.MaxUint32/blockBytes || p.extended && (total+1)*d > math.MaxUint32 {
		return nil, fmt.Errorf("%d nodes: too many", total)
	}
	f.value = make([]float64, total)
	if p.extended {
		f.xnodes = make([]xnode, total)
		f.normals = make([]float64, d, d*(total+1)) // starts with the leaves' zero vector
	} else {
		f.nodes = make([]snode, total)
	}
	base := 0
	depth := make([]int, 0, 1024)
	for t := range trees {
		tr := &trees[t]
		f.roots[t] = int32(base)
		depth = slices.Grow(depth[:0], tr.len())[:tr.len()]
		depth[0] = 0
		for i := range tr.len() {
			g := base + i
			l := tr.left[i]
			if l < 0 {
				f.value[g] = float64(depth[i]) + AveragePathLength(int(tr.size[i]))
				f.steps = max(f.steps, depth[i])
				if p.extended {
					f.xnodes[g] = xnode{thr: math.Inf(1), next: uint32(g)}
				} else {
					f.nodes[g] = snode{thr: math.Inf(1), next: uint32(g)}
				}
				continue
			}
			depth[l], depth[l+1] = depth[i]+1, depth[i]+1
			if p.extended {
				f.xnodes[g] = xnode{thr: tr.threshold[i], next: uint32(base) + uint32(l), norm: uint32(len(f.normals))}
				f.normals = append(f.normals, tr.normal[i*d:(i+1)*d]...)
			} else {
				f.nodes[g] = snode{thr: tr.threshold[i], foff: uint32(tr.feature[i]) * blockBytes, next: uint32(base) + uint32(l)}
			}
		}
		base += tr.len()
	}
	return f, nil
}

// check reports whether t is a well-formed tree of height at most height over
// d features: every non-root node has exactly one parent that comes before it,
// indices and features are in range, numbers are finite.
func (t *tree) check(d, height int, extended bool) error {
	n := t.len()
	switch {
	case n == 0:
		return errors.New("no nodes")
	case len(t.feature) != n || len(t.threshold) != n || len(t.size) != n:
		return errors.New("node arrays differ in length")
	case extended && len(t.normal) != n*d:
		return fmt.Errorf("%d normal weights for %d nodes of %d features", len(t.normal), n, d)
	case !extended && len(t.normal) != 0:
		return errors.New("normal weights in an axis-parallel tree")
	}
	parent := make([]bool, n)
	depth := make([]int, n)
	for i := range n {
		if i > 0 && !parent[i] {
			return fmt.Errorf("node %d has no parent", i)
		}
		if t.size[i] < 0 {
			return fmt.Errorf("node %d: negative size %d", i, t.size[i])
		}
		th := t.threshold[i]
		if math.IsNaN(th) || math.IsInf(th, 0) {
			return fmt.Errorf("node %d: threshold %v is not finite", i, th)
		}
		l := int(t.left[i])
		if l < 0 {
			if l != -1 {
				return fmt.Errorf("node %d: child %d", i, l)
			}
			continue
		}
		if l <= i || l+1 >= n {
			return fmt.Errorf("node %d: children %d and %d out of order or range", i, l, l+1)
		}
		if parent[l] || parent[l+1] {
			return fmt.Errorf("node %d: children %d and %d have another parent", i, l, l+1)
		}
		parent[l], parent[l+1] = true, true
		depth[l], depth[l+1] = depth[i]+1, depth[i]+1
		if depth[l] > height {
			return fmt.Errorf("node %d: deeper than the height limit %d", l, height)
		}
		if extended {
			if t.feature[i] != -1 {
				return fmt.Errorf("node %d: feature %d in an extended tree", i, t.feature[i])
			}
			for _, w := range t.normal[i*d : (i+1)*d] {
				if math.IsNaN(w) || math.IsInf(w, 0) {
					return fmt.Errorf("node %d: normal weight %v is not finite", i, w)
				}
			}
		} else if f := t.feature[i]; f < 0 || int(f) >= d {
			return fmt.Errorf("node %d: feature %d out of range 0..%d", i, f, d-1)
		}
	}
	return nil
}

// trainingQuantiles scores up to quantileRows rows of x (all of them, or a
// sample drawn with the forest's seed) and returns the quantiles of the scores
// at quantileLevels.
func (f *Forest) trainingQuantiles(x *data) []Quantile {
	n := min(x.rows, quantileRows)
	sample := drawSample(treeRNG(f.p.seed, f.p.trees), x.rows, n, make(map[int32]bool, n), make([]int32, 0, n))
	rows := make([][]float64, n)
	for i, r := range sample {
		rows[i] = x.row(int(r))
	}
	scores := make([]float64, n)
	f.scoreRows(rows, scores)
	slices.Sort(scores)
	q := make([]Quantile, len(quantileLevels))
	for i, p := range quantileLevels {
		q[i] = Quantile{Q: p, Score: quantileSorted(scores, p)}
	}
	return q
}

// quantileSorted is the p-quantile of sorted s with linear interpolation
// between order statistics (Hyndman and Fan's type 7, numpy's default).
func quantileSorted(s []float64, p float64) float64 {
	h := p * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// Metadata describes a fitted forest: its parameters, schema and training data.
type Metadata struct {
	// Features are the feature names in column order: the model's schema.
	Features []string
	// Trees, MaxSamples and HeightLimit are the resolved parameters.
	Trees, MaxSamples, HeightLimit int
	// Seed is the seed Fit used.
	Seed uint64
	// Extended is true for a forest of hyperplane splits.
	Extended bool
	// Rows is the number of training rows.
	Rows int
	// Window is the training data window given to Fit.
	Window Window
	// ScoreQuantiles is the distribution of the anomaly scores of (up to 2048
	// sampled) training rows, at increasing Q from 0 to 1.
	ScoreQuantiles []Quantile
}

// Metadata returns a copy of the forest's metadata.
func (f *Forest) Metadata() Metadata {
	return Metadata{
		Features:       slices.Clone(f.p.features),
		Trees:          f.p.trees,
		MaxSamples:     f.p.maxSamples,
		HeightLimit:    f.p.height,
		Seed:           f.p.seed,
		Extended:       f.p.extended,
		Rows:           f.meta.rows,
		Window:         f.meta.window,
		ScoreQuantiles: slices.Clone(f.meta.quantiles),
	}
}

// Features returns the feature names in column order (a copy).
func (f *Forest) Features() []string { return slices.Clone(f.p.features) }

// NumFeatures is the number of columns a point must have.
func (f *Forest) NumFeatures() int { return f.d }

// NumNodes is the total number of nodes over all trees.
func (f *Forest) NumNodes() int { return len(f.value) }
