package trivy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestSeverity(t *testing.T) {
	for name, want := range map[string]signal.Severity{"UNKNOWN": 0, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5, "critical": 5} {
		if got, err := SeverityOf(name); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", name, got, err, want)
		}
	}
	if _, err := SeverityOf("SEVERE"); err == nil {
		t.Error("SEVERE accepted")
	}
	for n, want := range map[int]string{0: "UNKNOWN", 1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL", 9: "UNKNOWN"} {
		if got := VendorSeverity(n); got != want {
			t.Errorf("VendorSeverity(%d) = %s, want %s", n, got, want)
		}
	}
}

func read(t *testing.T, path string) *source.Batch {
	t.Helper()
	b, err := source.ReadFile(path, Spec, signal.SourceRef{Name: "trivy", Type: "trivy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOperatorList(t *testing.T) {
	b := read(t, "testdata/reports.json")
	if len(b.Signals) != 4 || b.Rejected != 2 {
		t.Fatalf("%d signals, %d rejected: %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	want := signal.Asset{Namespace: "payments", WorkloadKind: "ReplicaSet", Workload: "payments-worker-6b7f9c", Container: "worker",
		Image: "registry.example/payments/worker:2.4.1", ImageDigest: "sha256:5f2e9c0e2d0d0a3fa4d2c7e9b8a1f0e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7"}
	tests := []struct {
		rule  string
		sev   signal.Severity
		score float64
	}{{"CVE-2024-3094", 5, 1}, {"CVE-2023-44487", 4, 0.75}, {"CVE-2099-0001", 0, 0.1}}
	ids := map[string]bool{}
	for i, tt := range tests {
		s := b.Signals[i]
		if s.Asset != want || s.Rule != tt.rule || s.Severity != tt.sev || s.Score != tt.score || len(s.CVEs) != 1 || s.CVEs[0] != tt.rule || s.ClassUID != 2002 {
			t.Errorf("signal %d: %+v", i, s)
		}
		if s.Time.Format("2006-01-02T15:04:05Z") != "2026-11-30T06:00:00Z" {
			t.Errorf("time %v: want report.updateTimestamp", s.Time)
		}
		ids[s.ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("ids are not distinct: %v", ids)
	}
	clean := b.Signals[3]
	if clean.Rule != "trivy: no vulnerabilities" || clean.Severity != signal.SeverityInformational || clean.Asset.Pod != "debug-shell" ||
		clean.Asset.Image != "index.docker.io/library/busybox:1.36" || clean.Time.Format("15:04") != "07:00" {
		t.Errorf("clean report %+v", clean)
	}
	for i, w := range []string{`CVE-1: field "severity": unknown Trivy severity "SEVERE"`, `field "kind": "ConfigAuditReport"`} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
}

func TestJSONReports(t *testing.T) {
	b := read(t, "testdata/k8s-report.json")
	if len(b.Signals) != 1 || b.Rejected != 0 {
		t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	s := b.Signals[0]
	if s.Asset != (signal.Asset{Cluster: "prod-eu-1", Namespace: "payments", WorkloadKind: "Deployment", Workload: "payments-api"}) ||
		s.Severity != signal.SeverityHigh || s.Native != "HIGH" || s.Score != 0.81 || s.Time.Nanosecond() != 123456789 {
		t.Errorf("k8s report signal %+v", s)
	}
	b = read(t, "testdata/alpine-310.json")
	if len(b.Signals) != 4 || b.Rejected != 0 {
		t.Fatalf("alpine: %d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	if a := b.Signals[0].Asset; a.Image != "ghcr.io/aquasecurity/trivy-test-images:alpine-310" {
		t.Errorf("alpine asset %+v", a)
	}
}

// The known-invalid Trivy Operator YAML gives a clear error with its line,
// and never a panic.
func TestInvalidYAML(t *testing.T) {
	b := read(t, "testdata/docs-vulnerability-report-02-invalid.yaml")
	if len(b.Signals) != 0 || b.Rejected != 1 || b.Rejects[0].Line != 48 || !strings.Contains(b.Rejects[0].Reason, "invalid YAML: yaml: line 48: did not find expected '-' indicator") {
		t.Errorf("signals %d, rejects %+v", len(b.Signals), b.Rejects)
	}
}

func TestYAMLFixture(t *testing.T) {
	b := read(t, "testdata/vulnerability-ttl.yaml")
	if b.Rejected != 0 || len(b.Signals) == 0 {
		t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	if a := b.Signals[0].Asset; a.Namespace == "" || a.Workload == "" && a.Pod == "" {
		t.Errorf("asset %+v", a)
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no testdata")
	}
	return out
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "trivy-kev-epss", "trivy*")...)
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
	files := append(testdata(f), sourcetest.SeedFiles("trivy-kev-epss", "trivy*")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}

// FuzzSplit feeds whole files, YAML and JSON, through the reader and the
// parser: nothing panics, every record is used or rejected.
func FuzzSplit(f *testing.F) {
	for _, file := range append(testdata(f), sourcetest.SeedFiles("trivy-kev-epss", "trivy*")...) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := source.Read(bytes.NewReader(data), "fuzz", Spec, signal.SourceRef{Name: "trivy", Type: "trivy"}, func(r source.Reject) {
			if r.Reason == "" || r.Line < 1 {
				t.Errorf("reject %+v", r)
			}
		})
		if err != nil {
			t.Errorf("read error on a byte reader: %v", err)
		}
	})
}
