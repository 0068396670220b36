package model

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestReadCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, label, want string
	}{
		{"empty", "", "label", "empty input: no header"},
		{"header only", "a,label\n", "label", "no data rows"},
		{"no label column", "a,b\n1,2\n", "label", `line 1: no label column "label" among ["a" "b"]`},
		{"only label", "label\n1\n", "label", "need a label and at least one feature"},
		{"duplicate", "a,a,label\n1,2,0\n", "label", `line 1, column 2: name "a" already used by column 1`},
		{"empty name", "a,,label\n1,2,0\n", "label", "line 1, column 2: empty name"},
		{"not a number", "a,b,label\n1,2,0\n3,x,1\n", "label", `line 3, column 2 ("b"), position 3: "x": invalid syntax`},
		{"NaN", "a,b,label\n1,NaN,0\n", "label", `line 2, column 2 ("b"), position 3: "NaN": not a finite number`},
		{"Inf", "a,b,label\n1,2,0\n-inf,2,1\n", "label", `line 3, column 1 ("a")`},
		{"empty field", "a,b,label\n1,,0\n", "label", `line 2, column 2 ("b"), position 3: "": invalid syntax`},
		{"bad label", "a,label\n1,2\n", "label", `line 2, column 2 ("label"), position 3: "2": a label must be 0 or 1`},
		{"other label column", "y,a\n1,2\n", "label", `no label column "label"`},
		{"ragged", "a,b,label\n1,2,0\n1,2\n", "label", "record on line 3: wrong number of fields"},
		{"quote", "a,label\n\"1,0\n", "label", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), tc.label)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadCSV: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	ds, err := ReadCSV(strings.NewReader("cpu, is_bad ,mem\n1, 1 ,2.5\n3,0.0,4e1\n"), "is_bad")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Features, []string{"cpu", "mem"}) || !reflect.DeepEqual(ds.Labels, []bool{true, false}) {
		t.Fatalf("features %q, labels %v", ds.Features, ds.Labels)
	}
	if r := ds.X.RawRowView(1); r[0] != 3 || r[1] != 40 {
		t.Fatalf("row 1: %v", r)
	}
}

// plantedCSV writes a CSV of n Gaussian rows with a few far outliers labelled 1.
func plantedCSV(n int) string {
	rng := rand.New(rand.NewPCG(1, 1))
	var b strings.Builder
	b.WriteString("f0,f1,f2,label\n")
	for i := range n {
		if i%50 == 0 {
			fmt.Fprintf(&b, "%g,%g,%g,1\n", 5+rng.Float64(), -5-rng.Float64(), 5+rng.Float64())
			continue
		}
		fmt.Fprintf(&b, "%g,%g,%g,0\n", rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64())
	}
	return b.String()
}

func TestEvaluate(t *testing.T) {
	res, err := Evaluate(strings.NewReader(plantedCSV(1000)), EvalOptions{Seeds: 3, Trees: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 1000 || res.Columns != 3 || res.Anomalies != 20 || res.Seeds != 3 {
		t.Errorf("shape: %+v", res)
	}
	if res.AUCMean < 0.99 || res.APMean < 0.9 || res.AUCSD < 0 || res.FitSeconds <= 0 || res.ScorePointsPerSecond <= 0 {
		t.Errorf("result: %+v", res)
	}
	b, _ := json.Marshal(res)
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"auc_mean", "auc_sd", "ap_mean", "fit_seconds", "score_seconds", "score_points_per_second", "rows", "columns"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, b)
		}
	}
	again, _ := Evaluate(strings.NewReader(plantedCSV(1000)), EvalOptions{Seeds: 3, Trees: 50})
	if again.AUCMean != res.AUCMean || again.APMean != res.APMean {
		t.Errorf("not deterministic: %v then %v", res.AUCMean, again.AUCMean)
	}
}

func TestEvaluateErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		opts     EvalOptions
		want     string
	}{
		{"one class", "a,label\n1,0\n2,0\n", EvalOptions{}, "0 anomalies in 2 rows"},
		{"all anomalies", "a,label\n1,1\n2,1\n", EvalOptions{}, "2 anomalies in 2 rows"},
		{"negative seeds", "a,label\n1,1\n2,0\n", EvalOptions{Seeds: -1}, "-1 seeds"},
		{"bad trees", "a,label\n1,1\n2,0\n", EvalOptions{Trees: -3}, "trees -3"},
		{"label column", "a,y\n1,1\n2,0\n", EvalOptions{LabelColumn: "z"}, `no label column "z"`},
		{"one row", "a,label\n1,1\n", EvalOptions{}, "1 anomalies in 1 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Evaluate(strings.NewReader(tc.in), tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Evaluate: %v, want %q", err, tc.want)
			}
		})
	}
	if res, err := Evaluate(strings.NewReader("a,y\n1,1\n2,0\n"), EvalOptions{LabelColumn: "y", Seeds: 1}); err != nil || res.Rows != 2 {
		t.Errorf("label column y: %+v, %v", res, err)
	}
}

func ExampleEvaluate() {
	csv := "cpu,mem,label\n" +
		"0.1,0.2,0\n0.2,0.1,0\n0.15,0.18,0\n0.12,0.22,0\n0.18,0.16,0\n" +
		"0.11,0.19,0\n0.16,0.21,0\n0.14,0.17,0\n9.5,8.7,1\n0.13,0.2,0\n"
	res, err := Evaluate(strings.NewReader(csv), EvalOptions{Seeds: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("rows %d, columns %d, AUC %.2f, AP %.2f\n", res.Rows, res.Columns, res.AUCMean, res.APMean)
	// Output: rows 10, columns 2, AUC 1.00, AP 1.00
}

func FuzzReadCSV(f *testing.F) {
	f.Add("a,b,label\n1,2,0\n3,4,1\n")
	f.Add("label,a\n1,1e308\n0,-0\n")
	f.Add("a,label\n\"1\",0\n")
	f.Fuzz(func(t *testing.T, in string) {
		ds, err := ReadCSV(strings.NewReader(in), "label")
		if err != nil {
			return
		}
		r, c := ds.X.Dims()
		if r != len(ds.Labels) || c != len(ds.Features) || c == 0 {
			t.Fatalf("%d x %d matrix, %d labels, %d features", r, c, len(ds.Labels), len(ds.Features))
		}
		_, _ = EvaluateDataset(ds, EvalOptions{Seeds: 1, Trees: 2})
	})
}
