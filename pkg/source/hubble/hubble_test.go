package hubble

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestFlows(t *testing.T) {
	b, err := source.ReadFile("testdata/flows.jsonl", Spec, signal.SourceRef{Name: "hubble", Type: "hubble"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 3 || b.Rejected != 3 {
		t.Fatalf("%d signals, %d rejected: %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	drop, cidr, in := b.Signals[0], b.Signals[1], b.Signals[2]
	tests := []struct {
		name  string
		s     signal.Signal
		asset signal.Asset
		sev   signal.Severity
		rule  string
		attrs map[string]string
	}{
		{"dropped egress to the world", drop,
			signal.Asset{Cluster: "prod-eu-1", Node: "prod-eu-1/ip-10-0-2-22", Namespace: "payments", WorkloadKind: "Deployment", Workload: "payments-worker", Pod: "payments-worker-6b7f9c-x2x4q"},
			signal.SeverityLow, "hubble: egress to world",
			map[string]string{"egress_world": "true", "verdict": "DROPPED", "drop_reason": "POLICY_DENIED", "dst_names": "evil.example", "dst_port": "4444", "protocol": "TCP", "dst": "reserved:world"}},
		{"world-ipv4 CIDR identity", cidr, signal.Asset{Cluster: "prod-eu-1", Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-api-0"},
			signal.SeverityLow, "hubble: egress to world", map[string]string{"egress_world": "true", "protocol": "UDP", "dst_port": "53"}},
		{"ingress from the world", in, signal.Asset{Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-api-0"},
			signal.SeverityInformational, "hubble: flow", map[string]string{"egress_world": "", "src": "reserved:world", "direction": "INGRESS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.Asset != tt.asset {
				t.Errorf("asset\n got  %+v\n want %+v", tt.s.Asset, tt.asset)
			}
			if tt.s.Severity != tt.sev || tt.s.Rule != tt.rule || tt.s.ClassUID != signal.ClassNetworkActivity {
				t.Errorf("severity %v rule %q class %d", tt.s.Severity, tt.s.Rule, tt.s.ClassUID)
			}
			for k, v := range tt.attrs {
				if tt.s.Attrs[k] != v {
					t.Errorf("attr %s = %q, want %q", k, tt.s.Attrs[k], v)
				}
			}
		})
	}
	if drop.Time.Nanosecond() != 123456789 || !drop.Time.Equal(time.Date(2026, 11, 30, 9, 41, 7, 123456789, time.UTC)) {
		t.Errorf("time %v", drop.Time)
	}
	for i, w := range []string{`missing field "flow.time"`, `field "flow.time"`, "not a Hubble flow"} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
}

// The shared samples: every flow is used, and exactly the two flows to a
// reserved:world endpoint that is no pod are marked.
func TestSharedWorldEgress(t *testing.T) {
	world := 0
	for _, f := range sourcetest.Samples(t, "hubble", "*.jsonl") {
		b, err := source.ReadFile(f, Spec, signal.SourceRef{Name: "hubble", Type: "hubble"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.Rejected != 0 {
			t.Errorf("%s: %d rejected: %+v", f, b.Rejected, b.Rejects)
		}
		for _, s := range b.Signals {
			if s.Attrs["egress_world"] == "true" {
				world++
			}
			if s.Asset.Node == "" {
				t.Errorf("%s:%d: no node", f, s.Raw.Line)
			}
		}
	}
	if world != 2 {
		t.Errorf("%d flows marked egress_world, want 2", world)
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "hubble", "*.jsonl")...)
}

func TestConformanceTestdata(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

func TestGolden(t *testing.T) {
	for _, in := range testdata(t) {
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		t.Run(name, func(t *testing.T) {
			sourcetest.Golden(t, Spec, in, filepath.Join("testdata", "golden", name+".json"), *update)
		})
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("hubble", "*-5-*.jsonl", "*-10-*.jsonl")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
