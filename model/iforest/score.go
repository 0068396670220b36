package iforest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"gonum.org/v1/gonum/mat"
)

// Score returns the anomaly score of x, s = 2^(-E[h(x)]/c(MaxSamples)), in (0, 1]:
// near 1 for points that isolate quickly (anomalies), below 0.5 for ordinary
// ones. x must have NumFeatures finite values in the schema's order.
func (f *Forest) Score(x []float64) (float64, error) {
	if err := f.checkPoint(x); err != nil {
		return 0, fmt.Errorf("iforest: score: %w", err)
	}
	return f.score(f.pathSum(x)), nil
}

// ScoreNamed is Score for a point whose feature names are given: names must be
// the model's schema, the same names in the same order; anything else is an
// error naming the difference, never a silent mis-score.
func (f *Forest) ScoreNamed(names []string, x []float64) (float64, error) {
	if err := f.CheckFeatures(names); err != nil {
		return 0, err
	}
	return f.Score(x)
}

// CheckFeatures returns an error unless names is the model's schema: the same
// feature names in the same order.
func (f *Forest) CheckFeatures(names []string) error {
	if slices.Equal(names, f.p.features) {
		return nil
	}
	want := f.p.features
	var errs []error
	if len(names) != len(want) {
		errs = append(errs, fmt.Errorf("%d features, the model has %d", len(names), len(want)))
	}
	for i := range min(len(names), len(want)) {
		if names[i] != want[i] {
			errs = append(errs, fmt.Errorf("feature %d is %q, the model's is %q", i, names[i], want[i]))
			break
		}
	}
	return fmt.Errorf("iforest: feature schema mismatch: %w", errors.Join(errs...))
}

// ScoreBatch scores every row of X into dst, which it grows when shorter than
// len(X), and returns dst[:len(X)]. It checks every row before scoring any,
// and returns an error naming the first bad row. An empty X is an error.
// ScoreBatch does not start goroutines; callers that want several cores score
// disjoint parts of X at once. Scores equal Score's exactly.
func (f *Forest) ScoreBatch(X [][]float64, dst []float64) ([]float64, error) {
	if len(X) == 0 {
		return dst[:0], errors.New("iforest: score: empty input")
	}
	for i, x := range X {
		if err := f.checkPoint(x); err != nil {
			return dst[:0], fmt.Errorf("iforest: score: row %d: %w", i, err)
		}
	}
	dst = slices.Grow(dst[:0], len(X))[:len(X)]
	f.scoreRows(X, dst)
	return dst, nil
}

// ScoreMatrix is ScoreBatch for the rows of a gonum matrix.
func (f *Forest) ScoreMatrix(X mat.Matrix, dst []float64) ([]float64, error) {
	if d, ok := X.(*mat.Dense); X == nil || ok && (d == nil || d.IsEmpty()) {
		return dst[:0], errors.New("iforest: score: empty input")
	}
	r, c := X.Dims()
	if c != f.d {
		return dst[:0], fmt.Errorf("iforest: score: %d columns, the model has %d features", c, f.d)
	}
	rows := make([][]float64, r)
	if d, ok := X.(mat.RawMatrixer); ok {
		m := d.RawMatrix()
		for i := range rows {
			rows[i] = m.Data[i*m.Stride : i*m.Stride+m.Cols]
		}
	} else {
		for i := range rows {
			rows[i] = mat.Row(nil, i, X)
		}
	}
	return f.ScoreBatch(rows, dst)
}

func (f *Forest) checkPoint(x []float64) error {
	if len(x) != f.d {
		return fmt.Errorf("%d values, the model has %d features", len(x), f.d)
	}
	for j, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("feature %d (%q): %v is not a finite number", j, f.p.features[j], v)
		}
	}
	return nil
}

// score turns a sum of path lengths over all trees into the anomaly score.
func (f *Forest) score(sum float64) float64 {
	return math.Exp2(-sum / float64(len(f.roots)) / f.norm)
}

// Scoring walks block independent paths at a time, one tree level at a time,
// so that the CPU overlaps them: one path through a tree is a chain of
// dependent loads, many paths are not. Points are copied into a block laid out
// feature by feature: the value of feature j of the k-th point is at
// xs[j*block+k], at byte offset snode.foff + 8k.
const (
	block      = 64
	blockBytes = block * 8
)

// walk advances the n walks in ids (n a multiple of 4, 4..block) by steps
// levels. Walk k reads its point's values at byte offset 8k of xs.
//
// walk uses unsafe pointer arithmetic in the innermost loop of scoring, where
// bounds checks cost about a fifth of the time. It relies on the invariants
// that newForest establishes and checks for every forest, fitted or loaded:
// next of every node is an index into nodes, foff/blockBytes is a feature below
// d, and xs holds d*block values. It reads only the immutable forest and
// writes only the caller's ids, so it has no data race to find; it is exempt
// from the race detector and from checkptr, which would otherwise make
// scoring (and the model tests under -race) two hundred times slower.
// TestScoreMatchesReference checks it against a plain walk of the trees, and
// FuzzLoad checks that no loaded model can make it fail.
//
//go:norace
//go:nocheckptr
func walk(ids *[block]uint32, n int, nodes []snode, xs []float64, steps int) {
	np := unsafe.Pointer(unsafe.SliceData(nodes))
	for range steps {
		xk := unsafe.Pointer(unsafe.SliceData(xs))
		for k := 0; ; {
			w := (*[4]uint32)(ids[k : k+4])
			n0 := (*snode)(unsafe.Add(np, uintptr(w[0])*16))
			n1 := (*snode)(unsafe.Add(np, uintptr(w[1])*16))
			n2 := (*snode)(unsafe.Add(np, uintptr(w[2])*16))
			n3 := (*snode)(unsafe.Add(np, uintptr(w[3])*16))
			b0, b1, b2, b3 := n0.next, n1.next, n2.next, n3.next
			if *(*float64)(unsafe.Add(xk, uintptr(n0.foff))) > n0.thr {
				b0++
			}
			if *(*float64)(unsafe.Add(xk, uintptr(n1.foff)+8)) > n1.thr {
				b1++
			}
			if *(*float64)(unsafe.Add(xk, uintptr(n2.foff)+16)) > n2.thr {
				b2++
			}
			if *(*float64)(unsafe.Add(xk, uintptr(n3.foff)+24)) > n3.thr {
				b3++
			}
			w[0], w[1], w[2], w[3] = b0, b1, b2, b3
			if k += 4; k >= n {
				break // before xk would point past the end of xs
			}
			xk = unsafe.Add(xk, 32)
		}
	}
}

// walkTree walks n points (the first len(sums) of them real) through the tree
// at root and adds their path lengths to sums. It is walk's caller in the
// innermost loop of ScoreBatch, exempt from the race detector for the same
// reason.
//
//go:norace
func walkTree(ids *[block]uint32, root uint32, sums []float64, n int, nodes []snode, value, xs []float64, steps int) {
	for k := range n {
		ids[k] = root
	}
	walk(ids, n, nodes, xs, steps)
	for k := range sums {
		sums[k] += value[ids[k]]
	}
}

// pathSum is the sum over trees of the path length of x (checked). It walks
// block trees at a time, each on its own copy of x, so that it runs the same
// kernels as scoreRows and gives the same sums.
func (f *Forest) pathSum(x []float64) float64 {
	bp := f.blocks.Get().(*[]float64)
	xs := *bp
	for j, v := range x {
		row := xs[j*block : (j+1)*block]
		for k := range row {
			row[k] = v
		}
	}
	var ids [block]uint32
	sum := 0.0
	for t0 := 0; t0 < len(f.roots); t0 += block {
		roots := f.roots[t0:min(t0+block, len(f.roots))]
		for k, r := range roots {
			ids[k] = uint32(r)
		}
		n := (len(roots) + 3) &^ 3
		for k := len(roots); k < n; k++ {
			ids[k] = uint32(roots[0])
		}
		if f.p.extended {
			xwalk(&ids, n, f.xnodes, f.normals, xs, f.d, f.steps)
		} else {
			walk(&ids, n, f.nodes, xs, f.steps)
		}
		for _, i := range ids[:len(roots)] {
			sum += f.value[i]
		}
	}
	f.blocks.Put(bp)
	return sum
}

// scoreRows scores checked rows into dst (len(dst) == len(X)): for each block
// of points, every tree in turn, so the tree's nodes stay in the L1 cache.
func (f *Forest) scoreRows(X [][]float64, dst []float64) {
	bp := f.blocks.Get().(*[]float64)
	xs := *bp
	var ids [block]uint32
	for p0 := 0; p0 < len(X); p0 += block {
		pts := X[p0:min(p0+block, len(X))]
		for k, x := range pts {
			for j, v := range x {
				xs[j*block+k] = v
			}
		}
		n := (len(pts) + 3) &^ 3
		for k := len(pts); k < n; k++ { // pad with copies of the first point
			for j := range f.d {
				xs[j*block+k] = xs[j*block]
			}
		}
		sums := dst[p0 : p0+len(pts)]
		clear(sums)
		for _, r := range f.roots {
			if f.p.extended {
				for k := range n {
					ids[k] = uint32(r)
				}
				xwalk(&ids, n, f.xnodes, f.normals, xs, f.d, f.steps)
				for k := range sums {
					sums[k] += f.value[ids[k]]
				}
				continue
			}
			walkTree(&ids, uint32(r), sums, n, f.nodes, f.value, xs, f.steps)
		}
		for k := range sums {
			sums[k] = f.score(sums[k])
		}
	}
	f.blocks.Put(bp)
}

// xwalk is walk for extended forests: it advances the n walks in ids by steps
// levels, each step a dot product of the node's normal with the point. It is
// plain Go with bounds checks: the dot product, not the indexing, is its cost.
func xwalk(ids *[block]uint32, n int, nodes []xnode, normals, xs []float64, d, steps int) {
	for range steps {
		for k := range ids[:n] {
			nd := nodes[ids[k]]
			w := normals[nd.norm : int(nd.norm)+d]
			dot := 0.0
			for j, wj := range w {
				dot += wj * xs[j*block+k]
			}
			next := nd.next
			if dot > nd.thr {
				next++
			}
			ids[k] = next
		}
	}
}
