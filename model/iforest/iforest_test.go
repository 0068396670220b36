package iforest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// Reference values of c(n) computed with scikit-learn 1.2.1 (Debian bookworm's
// python3-sklearn): sklearn.ensemble._iforest._average_path_length(np.array([n])).
func TestAveragePathLength(t *testing.T) {
	const tol = 1e-12
	for _, tc := range []struct {
		n    int
		want float64
	}{
		{-1, 0},
		{0, 0},
		{1, 0},
		{2, 1},
		{3, 1.207392357589623},
		{4, 1.8516559071392846},
		{5, 2.327020052042847},
		{10, 3.748880484475504},
		{100, 8.364671030072245},
		{256, 10.244770920119917},
		{1000, 12.969940887100172},
		{4096, 15.789963603627406},
	} {
		if got := AveragePathLength(tc.n); math.Abs(got-tc.want) > tol {
			t.Errorf("c(%d) = %.17g, scikit-learn gives %.17g", tc.n, got, tc.want)
		}
	}
}

func TestHeightLimit(t *testing.T) {
	// scikit-learn: max_depth = int(np.ceil(np.log2(max(max_samples, 2)))).
	for psi, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 255: 8, 256: 8, 257: 9, 1 << 20: 20} {
		if got := heightLimit(psi); got != want {
			t.Errorf("heightLimit(%d) = %d, want %d", psi, got, want)
		}
	}
}

func TestFitErrors(t *testing.T) {
	good := gaussian(1, 10, 2)
	for _, tc := range []struct {
		name string
		rows [][]float64
		opts Options
		want string
	}{
		{"no rows", nil, Options{}, "empty input"},
		{"no columns", [][]float64{{}, {}}, Options{}, "empty input"},
		{"one row", [][]float64{{1, 2}}, Options{}, "need at least 2"},
		{"ragged", [][]float64{{1, 2}, {3}}, Options{}, "row 1 has 1 values"},
		{"NaN", [][]float64{{1, 2}, {3, math.NaN()}}, Options{}, `row 1, column 1 ("x1"): NaN`},
		{"Inf", [][]float64{{math.Inf(-1), 2}, {3, 4}}, Options{Features: []string{"a", "b"}}, `row 0, column 0 ("a"): -Inf`},
		{"negative trees", good, Options{Trees: -1}, "trees -1 out of range"},
		{"too many trees", good, Options{Trees: MaxTrees + 1}, "out of range"},
		{"max samples 1", good, Options{MaxSamples: 1}, "need at least 2"},
		{"negative max samples", good, Options{MaxSamples: -5}, "need at least 2"},
		{"names count", good, Options{Features: []string{"a"}}, "1 feature names for 2 columns"},
		{"empty name", good, Options{Features: []string{"a", ""}}, "feature 1 has an empty name"},
		{"duplicate name", good, Options{Features: []string{"a", "a"}}, `"a" used for columns 0 and 1`},
		{"all joined", good, Options{Trees: -1, MaxSamples: 1}, "trees -1 out of range 1..100000\nmax samples 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := FitRows(tc.rows, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FitRows: %v, want an error containing %q", err, tc.want)
			}
			if f != nil {
				t.Error("a forest with the error")
			}
		})
	}
}

func TestFitMatrixErrors(t *testing.T) {
	var nilDense *mat.Dense
	for _, tc := range []struct {
		name string
		X    mat.Matrix
		want string
	}{
		{"nil", nil, "nil matrix"},
		{"nil dense", nilDense, "nil matrix"},
		{"empty dense", &mat.Dense{}, "empty matrix"},
		{"NaN", mat.NewDense(2, 2, []float64{1, 2, 3, math.NaN()}), "row 1, column 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Fit(tc.X, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fit: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		rows, maxSamples             int
		wantPsi, wantHeight, wantTrs int
	}{
		{1000, 0, 256, 8, 100},
		{100, 0, 100, 7, 100},
		{100, 500, 100, 7, 100}, // larger than the data: lowered, as scikit-learn does
		{1000, 64, 64, 6, 100},
		{2, 0, 2, 1, 100},
	} {
		f, err := FitRows(gaussian(3, tc.rows, 2), Options{MaxSamples: tc.maxSamples})
		if err != nil {
			t.Fatal(err)
		}
		m := f.Metadata()
		if m.MaxSamples != tc.wantPsi || m.HeightLimit != tc.wantHeight || m.Trees != tc.wantTrs || m.Rows != tc.rows {
			t.Errorf("rows %d, max samples %d: got %+v", tc.rows, tc.maxSamples, m)
		}
		if !slices.Equal(m.Features, []string{"x0", "x1"}) {
			t.Errorf("features %q", m.Features)
		}
	}
}

// refScore walks the saved form of the trees one node at a time, without the
// scoring layout: the reference the fast kernels must agree with exactly.
func refScore(f *Forest, x []float64) float64 {
	sum := 0.0
	for _, tr := range f.trees {
		i, depth := 0, 0
		for tr.left[i] >= 0 {
			v := 0.0
			if f.p.extended {
				for j := range x {
					v += tr.normal[i*f.d+j] * x[j]
				}
			} else {
				v = x[tr.feature[i]]
			}
			next := int(tr.left[i])
			if v > tr.threshold[i] {
				next++
			}
			i = next
			depth++
		}
		sum += float64(depth) + AveragePathLength(int(tr.size[i]))
	}
	return math.Exp2(-sum / float64(len(f.trees)) / AveragePathLength(f.p.maxSamples))
}

func TestScoreMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		n, d int
		opts Options
	}{
		{"default", 2000, 3, Options{Seed: 1}},
		{"one feature", 500, 1, Options{Seed: 2}},
		{"wide", 300, 17, Options{Seed: 3, Trees: 7}},
		{"tiny", 5, 2, Options{Seed: 4, Trees: 130}},
		{"big subsample", 5000, 4, Options{Seed: 5, MaxSamples: 3000, Trees: 10}},
		{"extended", 1000, 5, Options{Seed: 6, Extended: true, Trees: 30}},
		{"extended one feature", 300, 1, Options{Seed: 7, Extended: true, Trees: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := FitRows(gaussian(10, tc.n, tc.d), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			pts := gaussian(11, 301, tc.d)
			pts = append(pts, slices.Repeat([]float64{1e6}, tc.d), slices.Repeat([]float64{-1e6}, tc.d))
			batch, err := f.ScoreBatch(pts, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range pts {
				want := refScore(f, x)
				one, err := f.Score(x)
				if err != nil {
					t.Fatal(err)
				}
				if one != want || batch[i] != want {
					t.Fatalf("point %d: Score %v, ScoreBatch %v, reference %v", i, one, batch[i], want)
				}
				if !(want > 0 && want <= 1) {
					t.Fatalf("point %d: score %v out of (0, 1]", i, want)
				}
			}
		})
	}
}

// TestTreeSemantics checks each tree against the rules scikit-learn follows:
// children partition their parent's rows, splits fall in [min, max) of the
// split feature, leaves stop at the height limit or one row or constant data.
func TestTreeSemantics(t *testing.T) {
	rows := gaussian(20, 1000, 3)
	for _, r := range rows {
		r[2] = 7 // a constant feature: never split on
	}
	f, err := FitRows(rows, Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for ti, tr := range f.trees {
		if tr.size[0] != 256 {
			t.Fatalf("tree %d: root holds %d rows, want 256", ti, tr.size[0])
		}
		depth := make([]int, tr.len())
		for i := range tr.len() {
			l := tr.left[i]
			if l < 0 {
				if depth[i] < f.p.height && tr.size[i] > 1 {
					t.Fatalf("tree %d node %d: leaf at depth %d with %d rows", ti, i, depth[i], tr.size[i])
				}
				continue
			}
			if tr.feature[i] == 2 {
				t.Fatalf("tree %d node %d: split on the constant feature", ti, i)
			}
			if tr.size[l] == 0 || tr.size[l+1] == 0 || tr.size[l]+tr.size[l+1] != tr.size[i] {
				t.Fatalf("tree %d node %d: %d rows split into %d and %d", ti, i, tr.size[i], tr.size[l], tr.size[l+1])
			}
			depth[l], depth[l+1] = depth[i]+1, depth[i]+1
		}
	}
}

func TestPlantedOutliers(t *testing.T) {
	for _, ext := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(5, 5))
		rows := gaussian(30, 2000, 4)
		outliers := make([]int, 0, 20)
		for range 20 {
			i := rng.IntN(len(rows))
			for j := range rows[i] {
				rows[i][j] = 6 + rng.Float64() // far from the standard normal bulk
			}
			outliers = append(outliers, i)
		}
		f, err := FitRows(rows, Options{Seed: 1, Extended: ext})
		if err != nil {
			t.Fatal(err)
		}
		scores, err := f.ScoreBatch(rows, nil)
		if err != nil {
			t.Fatal(err)
		}
		isOut := make(map[int]bool)
		minOut := 1.0
		for _, i := range outliers {
			isOut[i] = true
			minOut = min(minOut, scores[i])
		}
		above := 0
		for i, s := range scores {
			if !isOut[i] && s >= minOut {
				above++
			}
		}
		// Every planted outlier outranks at least 99% of the inliers.
		if above > len(rows)/100 {
			t.Errorf("extended=%v: %d inliers score at or above the lowest outlier (%.3f)", ext, above, minOut)
		}
		if minOut < 0.6 {
			t.Errorf("extended=%v: lowest outlier score %.3f, want well above 0.5", ext, minOut)
		}
	}
}

func TestDeterministic(t *testing.T) {
	rows := gaussian(40, 1000, 5)
	for _, ext := range []bool{false, true} {
		var sums []string
		for _, procs := range []int{1, 2, 7} {
			prev := runtime.GOMAXPROCS(procs)
			f, err := FitRows(rows, Options{Seed: 42, Extended: ext, Trees: 30})
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			sums = append(sums, f.Checksum())
		}
		if sums[0] != sums[1] || sums[1] != sums[2] {
			t.Errorf("extended=%v: checksums differ with GOMAXPROCS: %q", ext, sums)
		}
		other, _ := FitRows(rows, Options{Seed: 43, Extended: ext, Trees: 30})
		if other.Checksum() == sums[0] {
			t.Errorf("extended=%v: seeds 42 and 43 give the same forest", ext)
		}
	}
}

func TestScoreErrors(t *testing.T) {
	f, err := FitRows(gaussian(1, 100, 3), Options{Features: []string{"cpu", "mem", "net"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		x    []float64
		want string
	}{
		{"nil", nil, "0 values, the model has 3 features"},
		{"short", []float64{1, 2}, "2 values"},
		{"long", []float64{1, 2, 3, 4}, "4 values"},
		{"NaN", []float64{1, math.NaN(), 3}, `feature 1 ("mem"): NaN is not a finite number`},
		{"Inf", []float64{1, 2, math.Inf(1)}, `feature 2 ("net"): +Inf`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Score(tc.x); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Score: %v, want %q", err, tc.want)
			}
			rows := [][]float64{{0, 0, 0}, tc.x}
			if _, err := f.ScoreBatch(rows, nil); err == nil || !strings.Contains(err.Error(), "row 1: ") {
				t.Errorf("ScoreBatch: %v, want an error naming row 1", err)
			}
		})
	}
	if _, err := f.ScoreBatch(nil, nil); err == nil {
		t.Error("ScoreBatch(nil): no error")
	}
	if _, err := f.ScoreMatrix(mat.NewDense(2, 2, nil), nil); err == nil || !strings.Contains(err.Error(), "2 columns") {
		t.Errorf("ScoreMatrix with 2 columns: %v", err)
	}
	if _, err := f.ScoreMatrix(&mat.Dense{}, nil); err == nil {
		t.Error("ScoreMatrix(empty): no error")
	}
}

func TestSchema(t *testing.T) {
	f, err := FitRows(gaussian(1, 100, 3), Options{Features: []string{"cpu", "mem", "net"}})
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.1, 0.2, 0.3}
	want, _ := f.Score(x)
	if got, err := f.ScoreNamed([]string{"cpu", "mem", "net"}, x); err != nil || got != want {
		t.Errorf("ScoreNamed with the schema: %v, %v; want %v", got, err, want)
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"cpu", "net", "mem"}, `feature 1 is "net", the model's is "mem"`},
		{[]string{"cpu", "mem"}, "2 features, the model has 3"},
		{[]string{"cpu", "mem", "net", "disk"}, "4 features, the model has 3"},
		{nil, "0 features"},
	} {
		_, err := f.ScoreNamed(tc.names, x)
		if err == nil || !strings.Contains(err.Error(), "feature schema mismatch") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ScoreNamed(%q): %v, want %q", tc.names, err, tc.want)
		}
	}
}

func TestConcurrentScoring(t *testing.T) {
	f, err := FitRows(gaussian(1, 1000, 4), Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	pts := gaussian(2, 500, 4)
	want, _ := f.ScoreBatch(pts, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(pts); i += 8 {
				if s, err := f.Score(pts[i]); err != nil || s != want[i] {
					errs <- "Score differs under concurrency"
					return
				}
			}
			got, err := f.ScoreBatch(pts, nil)
			if err != nil || !slices.Equal(got, want) {
				errs <- "ScoreBatch differs under concurrency"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestQuantiles(t *testing.T) {
	f, err := FitRows(gaussian(1, 5000, 3), Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	q := f.Metadata().ScoreQuantiles
	if len(q) != len(quantileLevels) || q[0].Q != 0 || q[len(q)-1].Q != 1 {
		t.Fatalf("quantiles %v", q)
	}
	for i := 1; i < len(q); i++ {
		if q[i].Score < q[i-1].Score {
			t.Fatalf("quantiles not increasing: %v", q)
		}
	}
	// Typical isolation forest scores of Gaussian training data: median near 0.45.
	if med := q[5]; med.Q != 0.5 || med.Score < 0.35 || med.Score > 0.55 {
		t.Errorf("median %v", med)
	}
	if got := quantileSorted([]float64{1, 2, 3, 4}, 0.5); got != 2.5 {
		t.Errorf("median of 1..4 = %v, numpy gives 2.5", got)
	}
}

func TestSaveLoad(t *testing.T) {
	for _, ext := range []bool{false, true} {
		f, err := FitRows(gaussian(1, 600, 3), Options{
			Seed: math.MaxUint64, Extended: ext, Trees: 20,
			Features: []string{"a", "b<&>", "ç"},
			Window:   Window{Start: "2026-01-01T00:00:00Z", End: "2026-01-02T00:00:00Z"},
		})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := f.Save(&buf); err != nil {
			t.Fatal(err)
		}
		saved := buf.String()
		g, err := Load(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if g.Checksum() != f.Checksum() || !strings.Contains(saved, f.Checksum()) {
			t.Errorf("checksums: saved %s, loaded %s", f.Checksum(), g.Checksum())
		}
		fm, gm := f.Metadata(), g.Metadata()
		if !slices.Equal(fm.Features, gm.Features) || fm.Seed != gm.Seed || fm.Window != gm.Window ||
			!slices.Equal(fm.ScoreQuantiles, gm.ScoreQuantiles) || fm.Rows != gm.Rows || fm.Extended != gm.Extended {
			t.Errorf("metadata: saved %+v, loaded %+v", fm, gm)
		}
		pts := gaussian(2, 200, 3)
		a, _ := f.ScoreBatch(pts, nil)
		b, _ := g.ScoreBatch(pts, nil)
		if !slices.Equal(a, b) {
			t.Errorf("extended=%v: scores differ after Load", ext)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	f, err := FitRows(gaussian(1, 300, 2), Options{Seed: 1, Trees: 3})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "EOF"},
		{"not json", "hello", "invalid character"},
		{"trailing", good + "{}", "data after the model object"},
		{"format", strings.Replace(good, `"pulsegate.iforest"`, `"other"`, 1), `format "other"`},
		{"version", strings.Replace(good, `"version":1`, `"version":2`, 1), "format version 2"},
		{"unknown field", strings.Replace(good, `"version":1`, `"version":1,"extra":true`, 1), `unknown field "extra"`},
		{"edited", strings.Replace(good, `"rows":300`, `"rows":301`, 1), "checksum"},
		{"edited name", strings.Replace(good, `"x1"`, `"x2"`, 1), "does not match the content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in == good {
				t.Fatal("the edit did not apply")
			}
			_, err := Load(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Structural checks behind the checksum.
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"trees count", `"trees":3`, `"trees":4`, "params say 4 trees"},
		{"height", `"height_limit":8`, `"height_limit":9`, "height limit 9"},
		{"feature range", `"feature":[1`, `"feature":[5`, "feature 5 out of range"},
		{"feature negative", `"feature":[1`, `"feature":[-1`, "feature -1 out of range"},
		{"child backwards", `"left":[1`, `"left":[0`, "out of order"},
		{"child range", `"left":[1`, `"left":[100000`, "out of order or range"},
		{"arrays", `"size":[256,`, `"size":[`, "differ in length"},
		{"no features", `"features":["x0","x1"]`, `"features":[]`, "no features"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(good, tc.old, tc.new, 1)
			if in == good {
				t.Fatal("the edit did not apply")
			}
			_, err := decode([]byte(in), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decode: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	for _, ext := range []bool{false, true} {
		m, err := FitRows(gaussian(1, 40, 2), Options{Seed: 1, Trees: 2, MaxSamples: 8, Extended: ext})
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := m.Save(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"format":"pulsegate.iforest","version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Load must never panic; neither may decoding without the checksum,
		// and whatever either accepts must score without panicking.
		for _, g := range []func() (*Forest, error){
			func() (*Forest, error) { return Load(bytes.NewReader(b)) },
			func() (*Forest, error) { return decode(b, false) },
		} {
			m, err := g()
			if err != nil {
				continue
			}
			x := make([]float64, m.NumFeatures())
			if _, err := m.Score(x); err != nil {
				t.Fatalf("loaded model cannot score: %v", err)
			}
			if _, err := m.ScoreBatch([][]float64{x, x, x, x, x}, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
