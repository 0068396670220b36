package risk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

var now = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func TestPointsAddUpToScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	targets := []correlate.Target{{Kind: "Node", Name: "a"}, {Kind: "Node", Name: "b", Sensitivity: "high"}, {Kind: "Pod", Namespace: "x", Name: "p"}}
	for iter := 0; iter < 500; iter++ {
		var in Input
		in.Now, in.Targets = now, targets
		n := rng.IntN(40)
		for i := 0; i < n; i++ {
			in.Signals = append(in.Signals, signal.Signal{ID: fmt.Sprint(i), Rule: fmt.Sprint("r", rng.IntN(6)),
				Severity: signal.Severity(rng.IntN(7)), Time: now.Add(-time.Duration(rng.IntN(7200)) * time.Second)})
			in.Matches = append(in.Matches, correlate.Match{Signal: i, Target: rng.IntN(len(targets))})
		}
		if rng.IntN(2) == 0 {
			in.AnomalyRan, in.Anomaly = true, rng.Float64()
		}
		r := Score(in, Defaults())
		sum := 0.0
		for _, c := range r.Contributions {
			if c.Points < 0 {
				t.Fatalf("negative points %+v", c)
			}
			sum += c.Points
		}
		if r.Score < 0 || r.Score > 100 || math.Abs(sum-r.Score) > 1e-6 {
			t.Fatalf("iteration %d: score %v, parts add up to %v", iter, r.Score, sum)
		}
	}
}

func TestWeights(t *testing.T) {
	targets := []correlate.Target{{Kind: "Node", Name: "a"}, {Kind: "Node", Name: "b", Sensitivity: "high"}}
	one := func(sev signal.Severity, age time.Duration, target int) float64 {
		return Score(Input{Now: now, Targets: targets,
			Signals: []signal.Signal{{ID: "1", Rule: "r", Severity: sev, Time: now.Add(-age)}},
			Matches: []correlate.Match{{Signal: 0, Target: target}}}, Defaults()).Score
	}
	// Reference values follow from Defaults: critical 40 points, halving each hour, x1.5 for high sensitivity.
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"critical now", one(signal.SeverityCritical, 0, 0), 40},
		{"critical one half-life ago", one(signal.SeverityCritical, time.Hour, 0), 20},
		{"critical on a sensitive node", one(signal.SeverityCritical, 0, 1), 60},
		{"informational", one(signal.SeverityInformational, 0, 0), 0},
	} {
		if math.Abs(tc.got-tc.want) > 0.01 {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestFloodCountsOnce(t *testing.T) {
	targets := []correlate.Target{{Kind: "Node", Name: "a"}}
	var in Input
	in.Now, in.Targets = now, targets
	for i := 0; i < 1000; i++ {
		in.Signals = append(in.Signals, signal.Signal{ID: fmt.Sprint(i), Rule: "same", Severity: signal.SeverityMedium, Time: now})
		in.Matches = append(in.Matches, correlate.Match{Signal: i, Target: 0})
	}
	r := Score(in, Defaults())
	if len(r.Contributions) != 1 || r.Contributions[0].Count != 1000 || r.Score != 8 {
		t.Errorf("flood: %+v", r)
	}
}

func TestCapAt100(t *testing.T) {
	var in Input
	in.Now = now
	for i := 0; i < 10; i++ {
		in.Targets = append(in.Targets, correlate.Target{Kind: "Node", Name: fmt.Sprint(i)})
		in.Signals = append(in.Signals, signal.Signal{ID: fmt.Sprint(i), Rule: "r", Severity: signal.SeverityFatal, Time: now})
		in.Matches = append(in.Matches, correlate.Match{Signal: i, Target: i})
	}
	if r := Score(in, Defaults()); r.Score != 100 {
		t.Errorf("score %v, want 100", r.Score)
	}
}
