package feature

import (
	"slices"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

func TestNames(t *testing.T) {
	if len(Names) != 21 {
		t.Errorf("%d names; a change of schema must be deliberate (models record it)", len(Names))
	}
	seen := map[string]bool{}
	for _, n := range Names {
		if seen[n] || n == "" {
			t.Errorf("name %q empty or repeated", n)
		}
		seen[n] = true
	}
}

func TestVectors(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	window := time.Hour
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	targets := []correlate.Target{
		{Kind: "Pod", Namespace: "shop", Name: "api-1"},
		{Kind: "Node", Name: "n1"},
		{Kind: "Namespace", Name: "shop"},
		{Kind: "Pod", Namespace: "shop", Name: "api-2"},
	}
	sigs := []signal.Signal{
		0: {Time: ago(10 * time.Minute), Severity: signal.SeverityHigh, Rule: "Terminal shell", ClassUID: signal.ClassDetectionFinding,
			Attrs: map[string]string{"process": "bash"}},
		1: {Time: ago(20 * time.Minute), Severity: signal.SeverityMedium, Rule: "Terminal shell", ClassUID: signal.ClassProcessActivity,
			Attrs: map[string]string{"binary": "/bin/sh"}},
		2: {Time: ago(30 * time.Minute), Severity: signal.SeverityCritical, Rule: "Write below etc", ClassUID: signal.ClassProcessActivity,
			Attrs: map[string]string{"process": "bash", "exe": "/usr/bin/bash"}},
		3: {Time: ago(time.Minute), Severity: signal.SeverityCritical, Heartbeat: true, Rule: "metrics", ClassUID: signal.ClassApplicationLifecycle},
		4: {Time: ago(2 * time.Hour), Severity: signal.SeverityCritical, Rule: "old"},
		5: {Time: now.Add(time.Minute), Severity: signal.SeverityCritical, Rule: "future"},
		// Exactly a window old: counted, as the policy and the gate count
		// a signal whose age equals the window.
		6: {Time: ago(window), Severity: signal.SeverityMedium, Rule: "R6", ClassUID: signal.ClassProcessActivity},
		7: {Time: ago(time.Second), Severity: signal.SeverityLow, ClassUID: signal.ClassAPIActivity,
			Attrs: map[string]string{"subresource": "exec"}},
		8:  {Time: ago(time.Second), Severity: signal.SeverityOther, Rule: "Attach/Exec Pod", ClassUID: signal.ClassAPIActivity},
		9:  {Time: now, Severity: signal.SeverityUnknown, ClassUID: signal.ClassNetworkActivity},
		10: {Time: ago(window + time.Nanosecond), Severity: signal.SeverityCritical, Rule: "just too old"},
		11: {Time: ago(time.Minute), Severity: signal.SeverityFatal, Rule: "exec in container", ClassUID: signal.ClassDetectionFinding,
			Attrs: map[string]string{"subresource": "exec"}},
	}
	matches := []correlate.Match{
		{Signal: 0, Target: 0}, {Signal: 0, Target: 1}, // a pod signal concerns its node too
		{Signal: 1, Target: 0}, {Signal: 2, Target: 0}, {Signal: 3, Target: 0},
		{Signal: 4, Target: 0}, {Signal: 5, Target: 0},
		{Signal: 6, Target: 1}, {Signal: 7, Target: 1}, {Signal: 8, Target: 1}, {Signal: 9, Target: 1}, {Signal: 10, Target: 1},
		{Signal: 11, Target: 3},
	}
	// Worked out by hand from the signals above, feature by feature (see
	// the comments on Names).
	want := [][]float64{
		//  signals sev_max medium high rules procs process network api exec |
		//  low alerts vulns binaries new_binaries outbound dests world rbac breaches excess
		0: {3, 5, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 0, 2, 2, 0, 0, 0, 0, 0, 0}, // 0, 1, 2; 3 heartbeat, 4 too old, 5 in the future
		1: {5, 4, 1, 1, 3, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // 0, 6, 7, 8 (Other: no severity), 9; 10 too old
		2: {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // nothing matched
		3: {1, 6, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // exec outside audit is not exec_into_pod
	}
	got := Vectors(targets, sigs, matches, now, window)
	if len(got) != len(targets) {
		t.Fatalf("%d vectors for %d targets", len(got), len(targets))
	}
	for i := range got {
		if len(got[i]) != len(Names) {
			t.Errorf("vector %d has %d values, Names %d", i, len(got[i]), len(Names))
		}
		if !slices.Equal(got[i], want[i]) {
			for j := range Names {
				if got[i][j] != want[i][j] {
					t.Errorf("target %d (%s): %s = %v, want %v", i, targets[i], Names[j], got[i][j], want[i][j])
				}
			}
		}
	}
}

func TestVectorsEmpty(t *testing.T) {
	now := time.Now()
	if got := Vectors(nil, nil, nil, now, time.Hour); len(got) != 0 {
		t.Errorf("Vectors(nil) = %v", got)
	}
	got := Vectors(make([]correlate.Target, 3), nil, nil, now, time.Hour)
	for i, v := range got {
		if len(v) != len(Names) || slices.ContainsFunc(v, func(f float64) bool { return f != 0 }) {
			t.Errorf("vector %d = %v, want %d zeros", i, v, len(Names))
		}
	}
}

// TestVectorsWindow moves one finding through time: it counts from the
// moment it happens until it is a window old.
func TestVectorsWindow(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		age    time.Duration
		window time.Duration
		want   float64
	}{
		{"now", 0, time.Hour, 1},
		{"inside", 59 * time.Minute, time.Hour, 1},
		{"a window old", time.Hour, time.Hour, 1},
		{"older", time.Hour + time.Nanosecond, time.Hour, 0},
		{"a nanosecond ahead", -time.Nanosecond, time.Hour, 0},
		{"zero window, now", 0, 0, 1},
		{"zero window, a second old", time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigs := []signal.Signal{{Time: now.Add(-tt.age), Severity: signal.SeverityHigh}}
			got := Vectors(make([]correlate.Target, 1), sigs, []correlate.Match{{Signal: 0, Target: 0}}, now, tt.window)
			if got[0][0] != tt.want {
				t.Errorf("signals = %v, want %v", got[0][0], tt.want)
			}
		})
	}
}

func BenchmarkVectors(b *testing.B) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	targets := make([]correlate.Target, 200)
	sigs := make([]signal.Signal, 20000)
	var matches []correlate.Match
	for i := range sigs {
		sigs[i] = signal.Signal{Time: now.Add(-time.Duration(i) * time.Second), Severity: signal.Severity(i % 7),
			Rule: "rule-" + string(rune('a'+i%20)), ClassUID: []int{1007, 4001, 6003, 2004}[i%4],
			Attrs: map[string]string{"process": "p" + string(rune('a'+i%13))}}
		matches = append(matches, correlate.Match{Signal: i, Target: i % len(targets)})
	}
	b.ReportAllocs()
	for b.Loop() {
		Vectors(targets, sigs, matches, now, 6*time.Hour)
	}
}
