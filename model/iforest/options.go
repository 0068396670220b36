package iforest

import (
	"errors"
	"fmt"
	"math"
)

// Defaults from scikit-learn's IsolationForest (n_estimators=100, max_samples="auto"),
// which in turn takes them from Liu, Ting and Zhou (ICDM 2008), section 4.
const (
	// DefaultTrees is the number of trees when Options.Trees is 0.
	DefaultTrees = 100
	// DefaultMaxSamples is the subsample size when Options.MaxSamples is 0 and the
	// data has at least that many rows; smaller data uses every row.
	DefaultMaxSamples = 256

	// MaxTrees bounds Options.Trees (and the tree count of a loaded model) so that
	// a typo or a hostile file cannot ask for unbounded memory.
	MaxTrees = 100_000
	// MaxHeight bounds the height limit ceil(log2(MaxSamples)) and so MaxSamples
	// (at most 2^30 rows per tree).
	MaxHeight = 30
)

// Options configures Fit. The zero value is scikit-learn's default forest:
// 100 trees, subsamples of min(256, rows), axis-parallel splits, seed 0.
type Options struct {
	// Trees is the number of isolation trees, 1..MaxTrees; 0 means DefaultTrees.
	Trees int
	// MaxSamples is the number of rows drawn without replacement for each tree,
	// at least 2; 0 means min(DefaultMaxSamples, rows). A value larger than the
	// number of rows is lowered to the number of rows, as scikit-learn does.
	MaxSamples int
	// Seed makes Fit deterministic: the same data, options and seed give the
	// same forest on any machine and for any GOMAXPROCS. 0 is a valid seed.
	Seed uint64
	// Extended selects the extended isolation forest of Hariri, Carrasco Kind
	// and Brunner (2021): random hyperplane splits instead of axis-parallel ones.
	Extended bool
	// Features names the columns, in order; they become the model's schema.
	// Names must be unique and non-empty. Nil means "x0", "x1", ...
	Features []string
	// Window records the time span of the training data. It is metadata only:
	// Fit stores it in the model and Save writes it; nothing interprets it.
	Window Window
}

// Window is the time span the training data covers, as the caller wrote it
// (RFC 3339 timestamps are suggested, not enforced).
type Window struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// params are the resolved options for a data set of a given shape.
type params struct {
	trees, maxSamples, height int
	seed                      uint64
	extended                  bool
	features                  []string
}

// resolve checks opts against a data set of rows x cols and fills in defaults.
// It returns every problem it finds, joined.
func (o Options) resolve(rows, cols int) (params, error) {
	var errs []error
	p := params{trees: o.Trees, maxSamples: o.MaxSamples, seed: o.Seed, extended: o.Extended}
	switch {
	case o.Trees == 0:
		p.trees = DefaultTrees
	case o.Trees < 0 || o.Trees > MaxTrees:
		errs = append(errs, fmt.Errorf("trees %d out of range 1..%d", o.Trees, MaxTrees))
	}
	switch {
	case o.MaxSamples == 0:
		p.maxSamples = min(DefaultMaxSamples, rows)
	case o.MaxSamples < 2:
		errs = append(errs, fmt.Errorf("max samples %d: need at least 2", o.MaxSamples))
	default:
		p.maxSamples = min(o.MaxSamples, rows)
	}
	if rows < 2 {
		errs = append(errs, fmt.Errorf("%d rows: need at least 2", rows))
	}
	if cols < 1 {
		errs = append(errs, errors.New("no columns"))
	}
	p.height = heightLimit(p.maxSamples)
	if p.height > MaxHeight {
		errs = append(errs, fmt.Errorf("max samples %d: height limit %d exceeds %d", p.maxSamples, p.height, MaxHeight))
	}
	if o.Features == nil {
		p.features = defaultNames(cols)
	} else {
		if len(o.Features) != cols {
			errs = append(errs, fmt.Errorf("%d feature names for %d columns", len(o.Features), cols))
		}
		if err := checkNames(o.Features); err != nil {
			errs = append(errs, err)
		}
		p.features = append([]string(nil), o.Features...)
	}
	if err := errors.Join(errs...); err != nil {
		return params{}, fmt.Errorf("iforest: options: %w", err)
	}
	return p, nil
}

func defaultNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("x%d", i)
	}
	return names
}

func checkNames(names []string) error {
	seen := make(map[string]int, len(names))
	var errs []error
	for i, n := range names {
		if n == "" {
			errs = append(errs, fmt.Errorf("feature %d has an empty name", i))
			continue
		}
		if j, ok := seen[n]; ok {
			errs = append(errs, fmt.Errorf("feature name %q used for columns %d and %d", n, j, i))
			continue
		}
		seen[n] = i
	}
	return errors.Join(errs...)
}

// heightLimit is scikit-learn's max_depth: ceil(log2(max(psi, 2))).
func heightLimit(psi int) int {
	h := 0
	for v := 1; v < max(psi, 2); v <<= 1 {
		h++
	}
	return h
}

// eulerGamma is the Euler-Mascheroni constant as numpy.euler_gamma holds it,
// which scikit-learn uses in _average_path_length.
const eulerGamma = 0.5772156649015329

// AveragePathLength is c(n), the average path length of an unsuccessful search
// in a binary search tree of n points (Liu, Ting and Zhou, 2008, equation 1):
// c(n) = 2H(n-1) - 2(n-1)/n with H(i) = ln(i) + Euler's constant. As in
// scikit-learn, c(n) = 0 for n <= 1 and c(2) = 1 (the exact value; the
// approximation of H would give 0.154).
func AveragePathLength(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	return 2*(math.Log(float64(n-1))+eulerGamma) - 2*float64(n-1)/float64(n)
}
