package guardduty

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
	tests := []struct {
		in   float64
		want signal.Severity
	}{
		{0.1, signal.SeverityLow}, {1, signal.SeverityLow}, {3.9, signal.SeverityLow},
		{4, signal.SeverityMedium}, {5, signal.SeverityMedium}, {6.9, signal.SeverityMedium},
		{7, signal.SeverityHigh}, {8.9, signal.SeverityHigh},
		{9, signal.SeverityCritical}, {10, signal.SeverityCritical},
	}
	for _, tt := range tests {
		if got, err := SeverityOf(tt.in); err != nil || got != tt.want {
			t.Errorf("SeverityOf(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []float64{0, -1, 10.1} {
		if _, err := SeverityOf(bad); err == nil || !strings.Contains(err.Error(), `field "Severity"`) {
			t.Errorf("SeverityOf(%v): %v", bad, err)
		}
	}
}

func read(t *testing.T, path string) *source.Batch {
	t.Helper()
	b, err := source.ReadFile(path, Spec, signal.SourceRef{Name: "guardduty", Type: "guardduty"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEKSAuditFinding(t *testing.T) {
	b := read(t, "testdata/cdk-eks-blueprints-patterns_guardduty_04.json")
	if len(b.Signals) != 1 || b.Rejected != 0 {
		t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	s := b.Signals[0]
	want := signal.Asset{Cluster: "guardduty-blueprint", Namespace: "argocd", Pod: "privileged-pod", Container: "app", Image: "centos",
		CloudResource: "arn:aws:eks:us-east-1:123456789012:cluster/guardduty-blueprint"}
	if s.Asset != want {
		t.Errorf("asset\n got  %+v\n want %+v", s.Asset, want)
	}
	if s.ClassUID != signal.ClassDetectionFinding || s.Severity != signal.SeverityMedium || s.Native != "5" ||
		s.Rule != "PrivilegeEscalation:Kubernetes/PrivilegedContainer" || s.Raw.ID != "f2c3859c6ca25b3057d13470a992bbd7" {
		t.Errorf("signal %+v", s)
	}
	if !s.Time.Equal(time.Date(2023, 3, 22, 21, 28, 7, 748e6, time.UTC)) {
		t.Errorf("time %v", s.Time)
	}
	for k, v := range map[string]string{"user": "system:serviceaccount:argocd:argocd-application-controller", "verb": "create",
		"request_uri": "/api/v1/namespaces/argocd/pods", "remote_ip": "10.0.205.129", "action": "KUBERNETES_API_CALL"} {
		if s.Attrs[k] != v {
			t.Errorf("attr %s = %q, want %q", k, s.Attrs[k], v)
		}
	}
}

func TestRuntime(t *testing.T) {
	b := read(t, "testdata/runtime.jsonl")
	if len(b.Signals) != 3 || b.Rejected != 4 {
		t.Fatalf("%d signals, %d rejected %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	rt, seq, ec2 := b.Signals[0], b.Signals[1], b.Signals[2]
	want := signal.Asset{Cluster: "prod-eu-1", Namespace: "payments", WorkloadKind: "Deployment", Workload: "payments-worker",
		Container: "worker", ContainerID: "6a1b2c3d4e5f", Image: "registry.example/payments/worker:2.4.1",
		CloudResource: "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu-1"}
	if rt.Asset != want || rt.Severity != signal.SeverityHigh || rt.Attrs["process"] != "bash" || rt.Attrs["pid"] != "4242" || rt.Attrs["instance_id"] != "i-0c10c2c7863d1a356" {
		t.Errorf("runtime %+v", rt)
	}
	if seq.Severity != signal.SeverityCritical || seq.Asset.Cluster != "prod-eu-1" {
		t.Errorf("attack sequence %+v", seq)
	}
	if ec2.Severity != signal.SeverityLow || ec2.Asset != (signal.Asset{CloudResource: "i-0abc"}) {
		t.Errorf("ec2 %+v", ec2)
	}
	for i, want := range []string{`field "Severity": 11 is outside`, `missing field "UpdatedAt"`, `missing field "Id"`, "read it with --type asff"} {
		if !strings.Contains(b.Rejects[i].Reason, want) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, want)
		}
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.json*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "aws-securityhub-guardduty", "*.json")...)
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
	files := append(testdata(f), sourcetest.SeedFiles("aws-securityhub-guardduty", "*.json")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
