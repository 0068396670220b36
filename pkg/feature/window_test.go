package feature

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

func col(name string) int { return slices.Index(Names, name) }

// TestFeatureRules checks each feature added in schema 2 on one signal at a
// time, with the attrs the adapters write (see pkg/source/*).
func TestFeatureRules(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	pod := signal.Asset{Namespace: "shop", Pod: "api-1", Node: "n1"}
	tests := []struct {
		name string
		sig  signal.Signal
		want map[string]float64 // every other schema-2 column is 0
	}{
		{"informational", signal.Signal{Severity: signal.SeverityInformational}, map[string]float64{"findings_low": 1}},
		{"low", signal.Signal{Severity: signal.SeverityLow}, map[string]float64{"findings_low": 1}},
		{"falco alert", signal.Signal{ClassUID: signal.ClassDetectionFinding, Severity: signal.SeverityHigh}, map[string]float64{"alerts": 1}},
		{"trivy", signal.Signal{ClassUID: signal.ClassVulnerabilityFinding}, map[string]float64{"vulnerability_findings": 1}},
		{"compliance", signal.Signal{ClassUID: signal.ClassComplianceFinding}, map[string]float64{"vulnerability_findings": 1}},
		{"tetragon exec", signal.Signal{ClassUID: signal.ClassProcessActivity, Attrs: map[string]string{"binary": "/usr/bin/curl"}},
			map[string]float64{"distinct_binaries": 1, "new_binaries": 1}},
		{"falco exe", signal.Signal{Attrs: map[string]string{"exe": "/tmp/x7", "process": "x7"}},
			map[string]float64{"distinct_binaries": 1, "new_binaries": 1}},
		{"binary in the baseline", signal.Signal{Attrs: map[string]string{"binary": "/bin/known"}},
			map[string]float64{"distinct_binaries": 1}},
		{"binary seen before the window", signal.Signal{Attrs: map[string]string{"binary": "/bin/old"}},
			map[string]float64{"distinct_binaries": 1}},
		{"hubble egress", signal.Signal{ClassUID: signal.ClassNetworkActivity, Attrs: map[string]string{"direction": "EGRESS", "dst": "shop/db-0", "dst_ip": "10.0.0.9", "dst_port": "5432"}},
			map[string]float64{"outbound_connections": 1, "distinct_destinations": 1}},
		{"hubble reply", signal.Signal{ClassUID: signal.ClassNetworkActivity, Attrs: map[string]string{"direction": "EGRESS", "reply": "true", "dst": "shop/web"}}, nil},
		{"hubble ingress", signal.Signal{ClassUID: signal.ClassNetworkActivity, Attrs: map[string]string{"direction": "INGRESS", "dst": "shop/api-1"}}, nil},
		{"no direction, the pod is the source", signal.Signal{ClassUID: signal.ClassNetworkActivity, Attrs: map[string]string{"src": "shop/api-1", "dst_ip": "10.0.0.9", "dst_port": "80"}},
			map[string]float64{"outbound_connections": 1, "distinct_destinations": 1}},
		{"no direction, the pod is the peer", signal.Signal{ClassUID: signal.ClassNetworkActivity, Attrs: map[string]string{"dst": "shop/api-1"}}, nil},
		{"world egress", signal.Signal{ClassUID: signal.ClassNetworkActivity, Severity: signal.SeverityLow, Attrs: map[string]string{"direction": "EGRESS", "egress_world": "true", "dst_ip": "203.0.113.7", "dst_port": "443"}},
			map[string]float64{"findings_low": 1, "outbound_connections": 1, "distinct_destinations": 1, "egress_world": 1}},
		{"falco remote", signal.Signal{ClassUID: signal.ClassDetectionFinding, Attrs: map[string]string{"remote": "203.0.113.77:4444"}},
			map[string]float64{"alerts": 1, "outbound_connections": 1, "distinct_destinations": 1}},
		{"rolebinding created", signal.Signal{ClassUID: signal.ClassAPIActivity, Attrs: map[string]string{"verb": "create", "resource": "rolebindings", "decision": "allow"}},
			map[string]float64{"rbac_changes": 1}},
		{"clusterrole patched", signal.Signal{ClassUID: signal.ClassAPIActivity, Attrs: map[string]string{"verb": "patch", "resource": "clusterroles"}},
			map[string]float64{"rbac_changes": 1}},
		{"rolebinding denied", signal.Signal{ClassUID: signal.ClassAPIActivity, Attrs: map[string]string{"verb": "create", "resource": "rolebindings", "decision": "forbid"}}, nil},
		{"role read", signal.Signal{ClassUID: signal.ClassAPIActivity, Attrs: map[string]string{"verb": "get", "resource": "roles"}}, nil},
		{"metric breach", signal.Signal{ClassUID: signal.ClassApplicationLifecycle, Severity: signal.SeverityMedium, Attrs: map[string]string{"threshold": "0.8", "value": "2"}},
			map[string]float64{"metric_breaches": 1, "metric_excess_max": 2.5}},
		{"breach over a zero threshold", signal.Signal{ClassUID: signal.ClassApplicationLifecycle, Attrs: map[string]string{"threshold": "0", "value": "5"}},
			map[string]float64{"metric_breaches": 1, "metric_excess_max": 1}},
		{"breach far over", signal.Signal{ClassUID: signal.ClassApplicationLifecycle, Attrs: map[string]string{"threshold": "1e-9", "value": "5"}},
			map[string]float64{"metric_breaches": 1, "metric_excess_max": 1000}},
		{"metric sample", signal.Signal{ClassUID: signal.ClassApplicationLifecycle, Severity: signal.SeverityInformational, Attrs: map[string]string{"value": "1"}},
			map[string]float64{"findings_low": 1}},
	}
	target := []correlate.Target{{Kind: "Pod", Namespace: "shop", Name: "api-1"}}
	base := Baseline{}
	base.Add(TargetKey(target[0]), "/bin/known")
	old := signal.Signal{Time: now.Add(-2 * time.Hour), Asset: pod, Attrs: map[string]string{"binary": "/bin/old"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.sig
			s.Time, s.Asset = now.Add(-time.Minute), pod
			sigs := []signal.Signal{s, old}
			got := VectorsBaseline(target, sigs, []correlate.Match{{Signal: 0}, {Signal: 1}}, now, time.Hour, base)[0]
			for j := iLow; j < numFeatures; j++ {
				if got[j] != tt.want[Names[j]] {
					t.Errorf("%s = %v, want %v", Names[j], got[j], tt.want[Names[j]])
				}
			}
		})
	}
}

// TestFeaturesDocumented: docs/model.md has a table row for every feature,
// in order, so that the documentation cannot fall behind the schema.
func TestFeaturesDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/model.md")
	if err != nil {
		t.Fatalf("docs/model.md: %v", err)
	}
	re := regexp.MustCompile("(?m)^\\| *(\\d+) *\\| *`([a-z_]+)`")
	var got []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		got = append(got, m[2])
	}
	if !slices.Equal(got, Names) {
		t.Errorf("docs/model.md feature table lists\n%v\nthe schema is\n%v", got, Names)
	}
}

func at(min int) time.Time {
	return time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute)
}

// history is a small hand-made telemetry history over 09:00..09:40 in 10m
// windows: pod shop/api-1 on node n1, a namespace event, a heartbeat.
func history() []signal.Signal {
	return []signal.Signal{
		// Window 09:00: tetragon sees the app start; falco's heartbeat on n2.
		{Time: at(1), ClassUID: signal.ClassProcessActivity, Severity: signal.SeverityInformational, Asset: signal.Asset{Namespace: "shop", Pod: "api-1", Node: "n1"},
			Attrs: map[string]string{"binary": "/app/server"}},
		{Time: at(2), ClassUID: signal.ClassApplicationLifecycle, Heartbeat: true, Asset: signal.Asset{Node: "n2"}},
		// Window 09:10: nothing about api-1 (a quiet window); an audit
		// write in the namespace.
		{Time: at(15), ClassUID: signal.ClassAPIActivity, Severity: signal.SeverityInformational, Asset: signal.Asset{Namespace: "shop", Resource: "rolebindings/x"},
			Attrs: map[string]string{"verb": "create", "resource": "rolebindings"}},
		// Window 09:20: the same binary again, then a new one; an exec
		// from the audit log, which names no node (learnt from above);
		// a signal exactly on the 09:30 boundary counts in 09:30 only.
		{Time: at(21), ClassUID: signal.ClassProcessActivity, Severity: signal.SeverityInformational, Asset: signal.Asset{Namespace: "shop", Pod: "api-1", Node: "n1"},
			Attrs: map[string]string{"binary": "/app/server"}},
		{Time: at(22), ClassUID: signal.ClassProcessActivity, Severity: signal.SeverityInformational, Asset: signal.Asset{Namespace: "shop", Pod: "api-1", Node: "n1"},
			Attrs: map[string]string{"binary": "/usr/bin/curl"}},
		{Time: at(23), ClassUID: signal.ClassAPIActivity, Severity: signal.SeverityHigh, Rule: "k8s-audit: exec into pod", Asset: signal.Asset{Namespace: "shop", Pod: "api-1"},
			Attrs: map[string]string{"subresource": "exec"}},
		{Time: at(30), ClassUID: signal.ClassDetectionFinding, Severity: signal.SeverityCritical, Rule: "Terminal shell", Asset: signal.Asset{Node: "n1"}},
	}
}

func TestWindows(t *testing.T) {
	ws, err := Windows(history(), WindowOptions{Size: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		asset string
		start int
		want  map[string]float64 // the other columns are 0
	}
	want := []row{
		{"Node n1", 0, map[string]float64{"signals": 1, "severity_max": 1, "findings_low": 1, "process_events": 1, "distinct_processes": 1, "distinct_binaries": 1, "new_binaries": 1}},
		{"Node n2", 0, nil}, // a heartbeat: alive, nothing counted
		{"Pod shop/api-1", 0, map[string]float64{"signals": 1, "severity_max": 1, "findings_low": 1, "process_events": 1, "distinct_processes": 1, "distinct_binaries": 1, "new_binaries": 1}},
		{"Namespace shop", 10, map[string]float64{"signals": 1, "severity_max": 1, "findings_low": 1, "api_events": 1, "rbac_changes": 1}},
		{"Node n1", 10, nil}, // quiet windows of live assets are rows of zeros
		{"Pod shop/api-1", 10, nil},
		{"Node n1", 20, map[string]float64{"signals": 3, "severity_max": 4, "findings_low": 2, "findings_high": 1, "process_events": 2, "api_events": 1, "exec_into_pod": 1,
			"distinct_rules": 1, "distinct_processes": 2, "distinct_binaries": 2, "new_binaries": 1}},
		{"Pod shop/api-1", 20, map[string]float64{"signals": 3, "severity_max": 4, "findings_low": 2, "findings_high": 1, "process_events": 2, "api_events": 1, "exec_into_pod": 1,
			"distinct_rules": 1, "distinct_processes": 2, "distinct_binaries": 2, "new_binaries": 1}},
		{"Node n1", 30, map[string]float64{"signals": 1, "severity_max": 5, "findings_high": 1, "alerts": 1, "distinct_rules": 1}},
	}
	var got []string
	for _, w := range ws {
		got = append(got, fmt.Sprintf("%s@%d", w.Asset, int(w.Start.Sub(at(0))/time.Minute)))
	}
	var wantKeys []string
	for _, r := range want {
		wantKeys = append(wantKeys, fmt.Sprintf("%s@%d", r.asset, r.start))
	}
	if !slices.Equal(got, wantKeys) {
		t.Fatalf("windows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantKeys, "\n"))
	}
	for i, r := range want {
		w := ws[i]
		if w.End.Sub(w.Start) != 10*time.Minute || len(w.Vector) != len(Names) {
			t.Errorf("%s: %v..%v, %d values", wantKeys[i], w.Start, w.End, len(w.Vector))
		}
		for j, n := range Names {
			if w.Vector[j] != r.want[n] {
				t.Errorf("%s: %s = %v, want %v", wantKeys[i], n, w.Vector[j], r.want[n])
			}
		}
	}
}

func TestWindowsRangeAndBaseline(t *testing.T) {
	base := Baseline{}
	base.Add(Key("Pod", "shop", "api-1"), "/usr/bin/curl")
	ws, err := Windows(history(), WindowOptions{Size: 10 * time.Minute, Since: at(20), Until: at(30), Baseline: base})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("%d windows, want n1 and api-1 at 09:20", len(ws))
	}
	for _, w := range ws {
		if !w.Start.Equal(at(20)) {
			t.Errorf("%s starts %v", w.Asset, w.Start)
		}
		// Since cuts the history: /app/server is new again; the
		// baseline knows curl on the pod, not on the node.
		want := map[string]float64{"Pod": 1, "Node": 2}[w.Asset.Kind]
		if got := w.Vector[col("new_binaries")]; got != want {
			t.Errorf("%s new_binaries = %v, want %v", w.Asset, got, want)
		}
	}
}

func TestWindowsErrors(t *testing.T) {
	tests := []struct {
		name string
		sigs []signal.Signal
		opt  WindowOptions
		want string
	}{
		{"no size", history(), WindowOptions{}, "window size 0s: must be positive"},
		{"until before since", history(), WindowOptions{Size: time.Minute, Since: at(10), Until: at(5)}, "is not after since"},
		{"empty", nil, WindowOptions{Size: time.Minute}, "no signals in the time range"},
		{"out of range", history(), WindowOptions{Size: time.Minute, Since: at(100)}, "no signals in the time range"},
		{"too many", history(), WindowOptions{Size: time.Second, MaxWindows: 100}, "more than 100 windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Windows(tt.sigs, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestWindowsProgress(t *testing.T) {
	var calls [][2]int
	_, err := Windows(history(), WindowOptions{Size: 10 * time.Minute, Progress: func(d, n int) { calls = append(calls, [2]int{d, n}) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != [2]int{9, 9} {
		t.Errorf("progress calls %v, want the last to be 9 of 9", calls)
	}
}

func BenchmarkWindows(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("signals=%d", n), func(b *testing.B) {
			sigs := make([]signal.Signal, n)
			for i := range sigs {
				sigs[i] = signal.Signal{Time: at(0).Add(time.Duration(i) * time.Second), Severity: signal.Severity(i % 7),
					ClassUID: []int{1007, 4001, 6003, 2004}[i%4],
					Asset:    signal.Asset{Namespace: "ns", Pod: fmt.Sprintf("p%d", i%50), Node: fmt.Sprintf("n%d", i%5)},
					Attrs:    map[string]string{"binary": fmt.Sprintf("/bin/b%d", i%17)}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Windows(sigs, WindowOptions{Size: 10 * time.Minute}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
