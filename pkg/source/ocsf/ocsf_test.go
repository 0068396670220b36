package ocsf

import (
	"encoding/json"
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

func TestEventTime(t *testing.T) {
	want := time.Date(2026, 11, 30, 9, 59, 59, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		unit string
	}{
		{"1796032799000", want, "ms"},
		{"1796032799", want, "s"},
		{"1796032799000000", want, "us"},
		{"1796032799000000000", want, "ns"},
		{"1796032799123", want.Add(123 * time.Millisecond), "ms"},
		{"1796032799000.0", want, "ms"},
	}
	for _, tt := range tests {
		got, unit, err := EventTime(json.Number(tt.in))
		if err != nil || !got.Equal(tt.want) || unit != tt.unit {
			t.Errorf("EventTime(%s) = %v %s %v, want %v %s", tt.in, got, unit, err, tt.want, tt.unit)
		}
	}
	for _, bad := range []string{"0", "-1", "x", "1e300"} {
		if _, _, err := EventTime(json.Number(bad)); err == nil || !strings.Contains(err.Error(), `field "time"`) {
			t.Errorf("EventTime(%s): %v", bad, err)
		}
	}
}

func TestEvents(t *testing.T) {
	b, err := source.ReadFile("testdata/events.jsonl", Spec, signal.SourceRef{Name: "ocsf", Type: "ocsf"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 5 || b.Rejected != 7 {
		t.Fatalf("%d signals, %d rejected: %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	tests := []struct {
		class int
		sev   signal.Severity
		asset signal.Asset
		prod  string
	}{
		{2004, signal.SeverityCritical, signal.Asset{Cluster: "prod-eu-1", Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-worker-6b7f9c-x2x4q", Container: "worker",
			ContainerID: "6a1b2c3d4e5f", Image: "registry.example/payments/worker:2.4.1", ImageDigest: "sha256:5f2e9c0e2d0d0a3fa4d2c7e9b8a1f0e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7",
			CloudResource: "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu-1"}, "Falco"},
		{1007, signal.SeverityInformational, signal.Asset{Node: "ip-10-0-1-11", Namespace: "shop", WorkloadKind: "Deployment", Workload: "api", Container: "api", ContainerID: "77aa",
			Image: "registry.example/shop/api@sha256:2222222222222222222222222222222222222222222222222222222222222222", ImageDigest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}, "Tetragon"},
		{4001, signal.SeverityInformational, signal.Asset{}, "Bloblang mapper"},
		{2003, signal.SeverityMedium, signal.Asset{Cluster: "prod-eu-1", CloudResource: "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu-1"}, "Security Hub"},
		{6003, signal.SeverityOther, signal.Asset{Node: "ip-10-0-2-22", Namespace: "payments", Resource: "secrets/db"}, "Amazon EKS"},
	}
	for i, tt := range tests {
		s := b.Signals[i]
		if s.ClassUID != tt.class || s.Severity != tt.sev || s.Asset != tt.asset || s.Product != tt.prod {
			t.Errorf("event %d: class %d sev %v product %q asset\n got  %+v\n want %+v", i, s.ClassUID, s.Severity, s.Product, s.Asset, tt.asset)
		}
	}
	if s := b.Signals[0]; s.Rule != "Redirect STDOUT/STDIN to Network Connection in Container" || s.Raw.ID != "f-1" || s.Time.UnixMilli() != 1796032872123 {
		t.Errorf("finding %+v", s)
	}
	if s := b.Signals[2]; s.Attrs["time_unit"] != "us" || s.Time.UnixMicro() != 1796032800123456 || s.Attrs["dst_hostname"] != "evil.example" {
		t.Errorf("network %+v", s)
	}
	for i, w := range []string{`class 2001 (Security Finding, deprecated since OCSF 1.1`, `class 3002 (Authentication) is not one pulsegate reads`,
		`field "severity_id": 7 is not an OCSF severity`, `missing field "severity_id"`, `missing field "time"`, `field "time": -5`, `missing field "class_uid"`} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
}

// TestSharedExamples: the OCSF project's examples made for 1.1 or later
// are read with their class, severity and time (scaled where upstream
// wrote seconds or microseconds); 2001 and the invalid 1.5.0 file are
// rejected with a reason.
func TestSharedExamples(t *testing.T) {
	dir := filepath.Join(sourcetest.SharedDir(t), "ocsf", "examples")
	tests := []struct {
		file   string
		class  int
		sev    signal.Severity
		time   string
		reject string
	}{
		{"eks-audit-v1.1.0.ocsf.json", 6003, 1, "2021-09-07T20:37:30.642Z", ""},
		{"eks-audit-bloblang-v1.2.0.ocsf.json", 6003, 1, "2021-09-07T20:37:30.642854Z", ""},
		{"sechub-inspector.ocsf.json", 2002, 3, "2024-01-26T22:19:14Z", ""},
		{"prowler.ocsf.json", 2004, 4, "2024-10-04T13:49:02Z", ""},
		{"okta-detection_finding.ocsf.json", 2004, 0, "2024-08-13T15:58:20Z", ""},
		{"zeek-conn_log-v1.4.0.ocsf.json", 4001, 1, "2024-10-16T04:27:01Z", ""},
		{"falco.ocsf.json", 0, 0, "", "class 2001"},
		{"sechub-v1.0.0-rc.2.ocsf.json", 0, 0, "", "class 2001"},
		{"eks-audit-v1.5.0.ocsf.json", 0, 0, "", "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := source.ReadFile(filepath.Join(dir, tt.file), Spec, signal.SourceRef{Name: "ocsf", Type: "ocsf"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reject != "" {
				if len(b.Signals) != 0 || b.Rejected != 1 || !strings.Contains(b.Rejects[0].Reason, tt.reject) {
					t.Errorf("want one reject with %q, got %d signals, rejects %+v", tt.reject, len(b.Signals), b.Rejects)
				}
				return
			}
			if len(b.Signals) != 1 {
				t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
			}
			s := b.Signals[0]
			if s.ClassUID != tt.class || s.Severity != tt.sev || s.Time.Format(time.RFC3339Nano) != tt.time {
				t.Errorf("class %d severity %d time %s, want %d %d %s", s.ClassUID, s.Severity, s.Time.Format(time.RFC3339Nano), tt.class, tt.sev, tt.time)
			}
		})
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
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "ocsf/examples", "*.ocsf.json")...)
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
	files := append(testdata(f), sourcetest.SeedFiles("ocsf/examples", "*.ocsf.json")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
