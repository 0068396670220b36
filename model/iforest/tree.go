package iforest

import (
	"math/rand/v2"
)

// featureThreshold is scikit-learn's FEATURE_THRESHOLD (sklearn/tree/_splitter.pyx):
// a feature whose range within a node is at most this is treated as constant there.
const featureThreshold = 1e-7

// tree is one isolation tree in the form Save writes. Node 0 is the root, and
// children always come after their parent. Node i is a leaf when left[i] < 0;
// otherwise a point goes to left[i] when its split value is <= threshold[i] and
// to left[i]+1 otherwise. The split value is x[feature[i]] for an axis-parallel
// tree and the dot product of x with normal[i*d:(i+1)*d] for an extended tree
// (feature[i] is then -1).
type tree struct {
	feature   []int32
	threshold []float64
	left      []int32
	size      []int32   // training rows (of the subsample) that reach the node
	normal    []float64 // extended trees only: d weights per node, zeros for leaves
}

func (t *tree) len() int { return len(t.left) }

// addNode appends an empty node and returns its index.
func (t *tree) addNode(d int, extended bool) int {
	t.feature = append(t.feature, -1)
	t.threshold = append(t.threshold, 0)
	t.left = append(t.left, -1)
	t.size = append(t.size, 0)
	if extended {
		for range d {
			t.normal = append(t.normal, 0)
		}
	}
	return len(t.left) - 1
}

// data gives row-major access to the training matrix without copying it.
type data struct {
	raw        []float64 // row i is raw[i*stride : i*stride+cols], when rowsOf is nil
	rowsOf     [][]float64
	stride     int
	rows, cols int
}

func (d *data) row(i int) []float64 {
	if d.rowsOf != nil {
		return d.rowsOf[i]
	}
	return d.raw[i*d.stride : i*d.stride+d.cols]
}

// builder grows trees. Each goroutine of Fit owns one; the randomness of a
// tree comes only from that tree's own generator, so the result does not depend
// on which builder grows which tree.
type builder struct {
	p      params
	x      *data
	psi, d int

	rng    *rand.Rand
	sample []int32        // the subsample: row numbers in x
	picked map[int32]bool // Floyd's algorithm scratch
	cols   []float64      // the subsample, column-major: cols[f*psi+i]
	idx    []int32        // permutation of 0..psi-1, partitioned as the tree grows
	feats  []int          // feature order scratch
	lo, hi []float64      // extended: bounding box of a node
	nrm    []float64      // extended: a normal vector
	dots   []float64      // extended: split values of the node's rows
}

func newBuilder(p params, x *data) *builder {
	b := &builder{p: p, x: x, psi: p.maxSamples, d: x.cols}
	b.sample = make([]int32, 0, b.psi)
	b.picked = make(map[int32]bool, b.psi)
	b.cols = make([]float64, b.d*b.psi)
	b.idx = make([]int32, b.psi)
	b.feats = make([]int, b.d)
	if p.extended {
		b.lo = make([]float64, b.d)
		b.hi = make([]float64, b.d)
		b.nrm = make([]float64, b.d)
		b.dots = make([]float64, b.psi)
	}
	return b
}

// treeRNG is the generator of tree (or stream) number stream for a seed. The
// SplitMix64 finalizer is a bijection, so distinct (seed, stream) pairs get
// distinct PCG states.
func treeRNG(seed uint64, stream int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(seed), splitmix64(uint64(stream)+0x9e3779b97f4a7c15)))
}

func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// drawSample draws psi distinct row numbers of n uniformly: all rows when psi == n,
// otherwise Floyd's algorithm (Bentley and Floyd, CACM 1987), which takes O(psi)
// time and memory however many rows there are.
func drawSample(rng *rand.Rand, n, psi int, picked map[int32]bool, dst []int32) []int32 {
	dst = dst[:0]
	if psi >= n {
		for i := range n {
			dst = append(dst, int32(i))
		}
		return dst
	}
	clear(picked)
	for j := n - psi; j < n; j++ {
		t := int32(rng.IntN(j + 1))
		if picked[t] {
			t = int32(j)
		}
		picked[t] = true
		dst = append(dst, t)
	}
	return dst
}

// build grows tree number t.
func (b *builder) build(t int) tree {
	b.rng = treeRNG(b.p.seed, t)
	b.sample = drawSample(b.rng, b.x.rows, b.psi, b.picked, b.sample)
	for i, r := range b.sample {
		row := b.x.row(int(r))
		for f, v := range row {
			b.cols[f*b.psi+i] = v
		}
	}
	for i := range b.idx {
		b.idx[i] = int32(i)
	}
	for i := range b.feats {
		b.feats[i] = i
	}
	// Every split makes two non-empty children (extended: maybe one empty), so
	// a tree has at most 2*psi-1 nodes, and at most 2^(h+1)-1 for height h.
	c := min(2*b.psi-1, 1<<(b.p.height+1)-1)
	tr := tree{
		feature:   make([]int32, 0, c),
		threshold: make([]float64, 0, c),
		left:      make([]int32, 0, c),
		size:      make([]int32, 0, c),
	}
	if b.p.extended {
		tr.normal = make([]float64, 0, c*b.d)
	}
	root := tr.addNode(b.d, b.p.extended)
	b.grow(&tr, root, 0, b.psi, 0)
	return tr
}

// grow makes node ni (holding idx[lo:hi]) a leaf or splits it and grows its children.
func (b *builder) grow(tr *tree, ni, lo, hi, depth int) {
	tr.size[ni] = int32(hi - lo)
	if depth >= b.p.height || hi-lo <= 1 {
		return
	}
	var mid int
	if b.p.extended {
		thr, ok := b.splitHyperplane(lo, hi)
		if !ok {
			return
		}
		tr.threshold[ni] = thr
		copy(tr.normal[ni*b.d:(ni+1)*b.d], b.nrm)
		mid = partition(b.idx[lo:hi], func(i int32) bool { return b.dots[i] <= thr }) + lo
	} else {
		f, thr, ok := b.splitAxis(lo, hi)
		if !ok {
			return
		}
		tr.feature[ni] = int32(f)
		tr.threshold[ni] = thr
		col := b.cols[f*b.psi : (f+1)*b.psi]
		mid = partition(b.idx[lo:hi], func(i int32) bool { return col[i] <= thr }) + lo
	}
	l := tr.addNode(b.d, b.p.extended)
	tr.addNode(b.d, b.p.extended)
	tr.left[ni] = int32(l)
	b.grow(tr, l, lo, mid, depth+1)
	b.grow(tr, l+1, mid, hi, depth+1)
}

// splitAxis picks a feature uniformly among those not constant on idx[lo:hi]
// and a threshold uniformly in [min, max) of that feature, the way
// scikit-learn's RandomSplitter does with max_features=1: draw features without
// replacement until one is not constant; if the threshold draws max, use min.
func (b *builder) splitAxis(lo, hi int) (feat int, thr float64, ok bool) {
	rows := b.idx[lo:hi]
	for j := 0; j < b.d; j++ {
		k := j + b.rng.IntN(b.d-j)
		b.feats[j], b.feats[k] = b.feats[k], b.feats[j]
		f := b.feats[j]
		col := b.cols[f*b.psi : (f+1)*b.psi]
		mn, mx := col[rows[0]], col[rows[0]]
		for _, i := range rows[1:] {
			v := col[i]
			mn = min(mn, v)
			mx = max(mx, v)
		}
		if mx <= mn+featureThreshold {
			continue
		}
		thr = mn + (mx-mn)*b.rng.Float64()
		if thr == mx {
			thr = mn
		}
		return f, thr, true
	}
	return 0, 0, false
}

// splitHyperplane draws a random hyperplane through the bounding box of
// idx[lo:hi] (Hariri et al., algorithm 2, full extension level): a normal with
// standard normal components and an intercept point uniform in the box. It
// leaves the normal in b.nrm and each row's dot product in b.dots, and returns
// the threshold n·p. A node whose rows are all identical is not split.
func (b *builder) splitHyperplane(lo, hi int) (thr float64, ok bool) {
	rows := b.idx[lo:hi]
	spread := false
	for f := 0; f < b.d; f++ {
		col := b.cols[f*b.psi : (f+1)*b.psi]
		mn, mx := col[rows[0]], col[rows[0]]
		for _, i := range rows[1:] {
			v := col[i]
			mn = min(mn, v)
			mx = max(mx, v)
		}
		b.lo[f], b.hi[f] = mn, mx
		if mx > mn {
			spread = true
		}
	}
	if !spread {
		return 0, false
	}
	for f := 0; f < b.d; f++ {
		n := b.rng.NormFloat64()
		pt := b.lo[f] + (b.hi[f]-b.lo[f])*b.rng.Float64()
		b.nrm[f] = n
		thr += n * pt
	}
	for _, i := range rows {
		b.dots[i] = 0
	}
	for f := 0; f < b.d; f++ {
		col := b.cols[f*b.psi : (f+1)*b.psi]
		n := b.nrm[f]
		for _, i := range rows {
			b.dots[i] += n * col[i]
		}
	}
	return thr, true
}

// partition reorders s so that the elements for which left is true come
// first, and returns how many there are.
func partition(s []int32, left func(int32) bool) int {
	i, j := 0, len(s)-1
	for {
		for i <= j && left(s[i]) {
			i++
		}
		for i <= j && !left(s[j]) {
			j--
		}
		if i >= j {
			return i
		}
		s[i], s[j] = s[j], s[i]
		i++
		j--
	}
}
