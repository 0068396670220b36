// Package risk turns the signals that concern a release's targets into a
// score from 0 to 100, made of contributions whose points add up to the
// score, so that a report can say which finding weighed how much.
//
// Each distinct (rule, asset) pair contributes once, from its newest signal:
// a flood of identical alerts counts as one finding (its count is kept).
// Points = severity points x recency x sensitivity, where recency halves
// every HalfLife. When the sum exceeds 100, every contribution is scaled by
// the same factor, so the parts still add up to the whole.
package risk

import (
	"math"
	"sort"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Options weigh the score. The zero value is replaced by Defaults.
type Options struct {
	// Points per OCSF severity before recency and sensitivity.
	Points map[signal.Severity]float64
	// HalfLife of a signal's weight; 0 means no decay.
	HalfLife time.Duration
	// Sensitivity multiplies points for targets labelled high or medium.
	Sensitivity map[string]float64
	// AnomalyPoints is the most the anomaly score can add (at score 1;
	// nothing at 0.5 or below).
	AnomalyPoints float64
}

// Defaults are the built-in weights.
func Defaults() Options {
	return Options{
		Points: map[signal.Severity]float64{
			signal.SeverityInformational: 0,
			signal.SeverityLow:           2,
			signal.SeverityMedium:        8,
			signal.SeverityHigh:          25,
			signal.SeverityCritical:      40,
			signal.SeverityFatal:         50,
			signal.SeverityUnknown:       1,
			signal.SeverityOther:         1,
		},
		HalfLife:      time.Hour,
		Sensitivity:   map[string]float64{"high": 1.5, "medium": 1.2},
		AnomalyPoints: 20,
	}
}

// Contribution is one part of the score.
type Contribution struct {
	// Factor is "signal" or "anomaly".
	Factor   string  `json:"factor"`
	SignalID string  `json:"signal_id,omitempty"`
	Source   string  `json:"source,omitempty"`
	Rule     string  `json:"rule,omitempty"`
	Severity string  `json:"severity,omitempty"`
	Target   string  `json:"target,omitempty"`
	Via      string  `json:"via,omitempty"`
	Count    int     `json:"count,omitempty"`
	AgeSec   float64 `json:"age_seconds,omitempty"`
	// Weight is recency x sensitivity (or the anomaly fraction).
	Weight float64 `json:"weight"`
	// Points this contribution adds to the score.
	Points float64 `json:"points"`
}

// Risk is the score and its explanation.
type Risk struct {
	Score         float64        `json:"score"`
	Threshold     float64        `json:"threshold"`
	Contributions []Contribution `json:"contributions"`
}

// Input is what Score needs.
type Input struct {
	Now     time.Time
	Signals []signal.Signal
	Matches []correlate.Match
	Targets []correlate.Target
	// Anomaly in 0..1, and whether it was computed at all.
	Anomaly    float64
	AnomalyRan bool
}

// Score computes the risk of the matched signals.
func Score(in Input, opt Options) Risk {
	def := Defaults()
	if opt.Points == nil {
		opt.Points = def.Points
	}
	if opt.Sensitivity == nil {
		opt.Sensitivity = def.Sensitivity
	}
	type group struct {
		c     Contribution
		time  time.Time
		raw   float64
		count int
	}
	groups := map[string]*group{}
	var order []string
	for _, m := range in.Matches {
		s := &in.Signals[m.Signal]
		if s.Heartbeat {
			continue
		}
		t := in.Targets[m.Target]
		age := in.Now.Sub(s.Time)
		if age < 0 {
			age = 0
		}
		recency := 1.0
		if opt.HalfLife > 0 {
			recency = math.Exp2(-age.Seconds() / opt.HalfLife.Seconds())
		}
		sens := 1.0
		if f, ok := opt.Sensitivity[t.Sensitivity]; ok {
			sens = f
		}
		w := recency * sens
		raw := opt.Points[s.Severity] * w
		key := s.Source.Name + "\x00" + s.Rule + "\x00" + t.ID()
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
			order = append(order, key)
		}
		g.count++
		if g.c.SignalID == "" || s.Time.After(g.time) || (s.Time.Equal(g.time) && raw > g.raw) {
			g.time, g.raw = s.Time, raw
			g.c = Contribution{Factor: "signal", SignalID: s.ID, Source: s.Source.Name, Rule: s.Rule,
				Severity: s.Severity.String(), Target: t.String(), Via: m.Via, AgeSec: math.Round(age.Seconds()), Weight: round(w, 4)}
		}
	}
	// One signal may concern several targets (a pod and its node): it
	// counts once, where it weighs most.
	best := map[string]*group{}
	for _, k := range order {
		g := groups[k]
		if b := best[g.c.SignalID]; b == nil || g.raw > b.raw {
			best[g.c.SignalID] = g
		}
	}
	var cs []Contribution
	var raws []float64
	for _, k := range order {
		g := groups[k]
		if best[g.c.SignalID] != g || g.raw <= 0 {
			continue
		}
		g.c.Count = g.count
		cs = append(cs, g.c)
		raws = append(raws, g.raw)
	}
	if in.AnomalyRan && opt.AnomalyPoints > 0 {
		f := math.Max(0, math.Min(1, (in.Anomaly-0.5)/0.5))
		if f > 0 {
			cs = append(cs, Contribution{Factor: "anomaly", Weight: round(f, 4)})
			raws = append(raws, opt.AnomalyPoints*f)
		}
	}
	total := 0.0
	for _, r := range raws {
		total += r
	}
	scale := 1.0
	if total > 100 {
		scale = 100 / total
	}
	score := 0.0
	for i := range cs {
		cs[i].Points = round(raws[i]*scale, 2)
		score += cs[i].Points
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Points > cs[j].Points })
	score = round(score, 2)
	if score > 100 { // rounding after scaling: take the excess off the largest part
		cs[0].Points = round(cs[0].Points-(score-100), 2)
		score = 100
	}
	return Risk{Score: score, Contributions: cs}
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
