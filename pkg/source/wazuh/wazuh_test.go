package wazuh

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

func TestSeverity(t *testing.T) {
	want := []signal.Severity{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5}
	for level, w := range want {
		if got, err := SeverityOf(level); err != nil || got != w {
			t.Errorf("level %d: %v %v, want %v", level, got, err, w)
		}
	}
	for _, bad := range []int{-1, 17} {
		if _, err := SeverityOf(bad); err == nil || !strings.Contains(err.Error(), `field "rule.level"`) {
			t.Errorf("level %d: %v", bad, err)
		}
	}
}

func TestAlerts(t *testing.T) {
	b, err := source.ReadFile("testdata/alerts.jsonl", Spec, signal.SourceRef{Name: "wazuh", Type: "wazuh"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 3 || b.Rejected != 4 {
		t.Fatalf("%d signals, %d rejected: %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	docker, mgr, idx := b.Signals[0], b.Signals[1], b.Signals[2]
	want := signal.Asset{Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-worker-6b7f9c-x2x4q", Container: "worker",
		ContainerID: "6a1b2c3d4e5f", Image: "registry.example/payments/worker:2.4.1"}
	if docker.Asset != want || docker.Severity != signal.SeverityHigh || docker.Native != "12" || docker.Attrs["mitre"] != "T1611" || docker.Attrs["wazuh_cluster"] != "wazuh" {
		t.Errorf("docker alert %+v", docker)
	}
	if !docker.Time.Equal(time.Date(2026, 11, 30, 9, 41, 12, 345e6, time.UTC)) {
		t.Errorf("time %v", docker.Time)
	}
	if mgr.Asset.Node != "wazuh-manager" || mgr.Severity != signal.SeverityCritical || !mgr.Time.Equal(time.Date(2026, 11, 30, 8, 45, 0, 0, time.UTC)) {
		t.Errorf("manager alert %+v", mgr)
	}
	if idx.Asset.Node != "bastion-1" || idx.Severity != signal.SeverityLow || idx.Time.Nanosecond() != 5e8 {
		t.Errorf("indexer alert %+v", idx)
	}
	for i, w := range []string{`field "timestamp": "{timestamp}" is not a time`, `field "rule.level": 17 is outside`, `missing field "rule.level"`, `missing field "rule"`} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
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
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "edr-siem", "wazuh_*.jsonl")...)
}

func TestConformanceTestdata(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

func TestGolden(t *testing.T) {
	for _, in := range append(testdata(t), sourcetest.Samples(t, "edr-siem", "wazuh_*.jsonl")...) {
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		t.Run(name, func(t *testing.T) {
			sourcetest.Golden(t, Spec, in, filepath.Join("testdata", "golden", name+".json"), *update)
		})
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("edr-siem", "wazuh_*.jsonl")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
