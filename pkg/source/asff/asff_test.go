package asff

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func f64(v float64) *float64 { return &v }

func TestSeverity(t *testing.T) {
	tests := []struct {
		label string
		norm  *float64
		want  signal.Severity
		err   string
	}{
		{"INFORMATIONAL", nil, signal.SeverityInformational, ""},
		{"Low", nil, signal.SeverityLow, ""},
		{"MEDIUM", f64(90), signal.SeverityMedium, ""}, // the label wins
		{"HIGH", nil, signal.SeverityHigh, ""},
		{"CRITICAL", nil, signal.SeverityCritical, ""},
		{"", f64(0), signal.SeverityInformational, ""},
		{"", f64(1), signal.SeverityLow, ""},
		{"", f64(39), signal.SeverityLow, ""},
		{"", f64(39.5), signal.SeverityLow, ""},
		{"", f64(40), signal.SeverityMedium, ""},
		{"", f64(69), signal.SeverityMedium, ""},
		{"", f64(70), signal.SeverityHigh, ""},
		{"", f64(89), signal.SeverityHigh, ""},
		{"", f64(90), signal.SeverityCritical, ""},
		{"", f64(100), signal.SeverityCritical, ""},
		{"", f64(101), 0, "outside 0..100"},
		{"", f64(-1), 0, "outside 0..100"},
		{"SEVERE", nil, 0, `unknown label "SEVERE"`},
		{"", nil, 0, `missing field "Severity.Label"`},
	}
	for _, tt := range tests {
		got, _, err := SeverityOf(tt.label, tt.norm)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q %v: error %v, want %q", tt.label, tt.norm, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q %v: %v %v, want %v", tt.label, tt.norm, got, err, tt.want)
		}
	}
}

func readFile(t *testing.T, path string) *source.Batch {
	t.Helper()
	b, err := source.ReadFile(path, Spec, signal.SourceRef{Name: "asff", Type: "asff"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEventBridgeAndAssets(t *testing.T) {
	b := readFile(t, "testdata/eventbridge.json")
	if b.Rejected != 0 || len(b.Signals) != 2 {
		t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	gd, ctl := b.Signals[0], b.Signals[1]
	want := signal.Asset{Cluster: "prod-eu-1", Namespace: "payments", Pod: "payments-worker-6b7f9c-x2x4q", Container: "worker",
		Image: "registry.example/payments/worker:2.4.1", ImageDigest: "sha256:5f2e9c0e2d0d0a3fa4d2c7e9b8a1f0e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7",
		CloudResource: "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu-1"}
	if gd.Asset != want {
		t.Errorf("GuardDuty asset\n got  %+v\n want %+v", gd.Asset, want)
	}
	if gd.ClassUID != signal.ClassDetectionFinding || gd.Severity != signal.SeverityHigh || gd.Rule != "PrivilegeEscalation:Runtime-ContainerMountsHostDirectory" || gd.Product != "GuardDuty" {
		t.Errorf("GuardDuty signal %+v", gd)
	}
	if !gd.Time.Equal(time.Date(2026, 11, 30, 9, 47, 58, 1e6, time.UTC)) || gd.Raw.ID == "" {
		t.Errorf("time %v raw %+v", gd.Time, gd.Raw)
	}
	if ctl.ClassUID != signal.ClassComplianceFinding || ctl.Severity != signal.SeverityHigh || ctl.Native != "70" || ctl.Rule != "EKS.1" || ctl.Asset.Cluster != "prod-eu-1" {
		t.Errorf("control signal %+v", ctl)
	}
}

func TestFindings(t *testing.T) {
	b := readFile(t, "testdata/findings.jsonl")
	if len(b.Signals) != 2 || b.Rejected != 4 {
		t.Fatalf("%d signals, %d rejected: %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	insp, ec2 := b.Signals[0], b.Signals[1]
	if insp.ClassUID != signal.ClassVulnerabilityFinding || insp.Severity != signal.SeverityCritical || insp.Score != 1 ||
		len(insp.CVEs) != 1 || insp.CVEs[0] != "CVE-2024-3094" || insp.Asset.Image != "payments/api" ||
		insp.Asset.ImageDigest != "sha256:1111111111111111111111111111111111111111111111111111111111111111" || insp.Attrs["epss"] != "0.84" {
		t.Errorf("inspector %+v", insp)
	}
	if ec2.ClassUID != signal.ClassDetectionFinding || ec2.Asset != (signal.Asset{CloudResource: "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"}) || ec2.Product != "guardduty" {
		t.Errorf("ec2 %+v", ec2)
	}
	for i, want := range []string{`missing field "Id"`, `unknown label "SEVERE"`, `field "UpdatedAt": "yesterday" is not an RFC 3339 time`, "read it with --type guardduty"} {
		if !strings.Contains(b.Rejects[i].Reason, want) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, want)
		}
	}
}

func TestClusterFromARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:eks:us-east-1:123456789012:cluster/guardduty-blueprint": "guardduty-blueprint",
		"arn:aws:eks:us-east-1:123456789012:cluster/c1/extra":            "c1",
		"arn:aws:ec2:us-east-1:123456789012:instance/i-1":                "",
		"cluster/x": "",
		"arn:aws-cn:eks:cn-north-1:123456789012:cluster/prod":                     "prod",
		"arn:aws:eks:us-east-1:123456789012:nodegroup/c1/ng/0e8f5b7c-3c2a-4e6b-a": "",
	} {
		if got := ClusterFromARN(in); got != want {
			t.Errorf("ClusterFromARN(%q) = %q, want %q", in, got, want)
		}
	}
}

func sharedSamples(t testing.TB) []string {
	files := sourcetest.Samples(t, "aws-securityhub-guardduty", "*.json")
	return append(files, sourcetest.Samples(t, "ocsf/examples", "sechub-*.raw.json")...)
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sharedSamples(t)...)
}

func TestConformanceTestdata(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.json*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	files := append(testdata(t), sharedSamples(t)...)
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		t.Run(name, func(t *testing.T) {
			sourcetest.Golden(t, Spec, in, filepath.Join("testdata", "golden", name+".json"), *update)
		})
	}
}

// TestOCSFCrossCheck compares pulsegate's reading of the Inspector finding
// with OCSF's own mapping of it (made for OCSF 1.1.0, in ocsf/examples).
// The 1.0.0-rc.2 Security Hub pair maps to class 2001 (Security Finding,
// deprecated) and is reference only.
func TestOCSFCrossCheck(t *testing.T) {
	dir := filepath.Join(sourcetest.SharedDir(t), "ocsf", "examples")
	b := readFile(t, filepath.Join(dir, "sechub-inspector.raw.json"))
	if len(b.Signals) != 1 {
		t.Fatalf("%d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
	s := b.Signals[0]
	data, err := os.ReadFile(filepath.Join(dir, "sechub-inspector.ocsf.json"))
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		ClassUID   int   `json:"class_uid"`
		SeverityID int   `json:"severity_id"`
		Time       int64 `json:"time"`
		Metadata   struct {
			Version string `json:"version"`
			Product struct {
				Name string `json:"name"`
			} `json:"product"`
		} `json:"metadata"`
		Resource struct {
			UID  string `json:"uid"`
			Data string `json:"data"`
		} `json:"resource"`
		Vulnerabilities []struct {
			CVE struct {
				UID string `json:"uid"`
			} `json:"cve"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	if o.Metadata.Version != "1.1.0" {
		t.Fatalf("the pair is for OCSF %s, want 1.1.0", o.Metadata.Version)
	}
	if s.ClassUID != o.ClassUID || int(s.Severity) != o.SeverityID {
		t.Errorf("class %d severity %d, OCSF says %d %d", s.ClassUID, s.Severity, o.ClassUID, o.SeverityID)
	}
	if s.Time.UnixMilli() != o.Time {
		t.Errorf("time %d, OCSF says %d", s.Time.UnixMilli(), o.Time)
	}
	if s.Product != o.Metadata.Product.Name {
		t.Errorf("product %q, OCSF says %q", s.Product, o.Metadata.Product.Name)
	}
	if s.Asset.CloudResource != o.Resource.UID {
		t.Errorf("cloud resource %q, OCSF resource.uid %q", s.Asset.CloudResource, o.Resource.UID)
	}
	var details struct {
		AwsEcrContainerImage struct{ ImageDigest, RepositoryName string }
	}
	if err := json.Unmarshal([]byte(o.Resource.Data), &details); err != nil {
		t.Fatal(err)
	}
	if s.Asset.ImageDigest != details.AwsEcrContainerImage.ImageDigest || s.Asset.Image != details.AwsEcrContainerImage.RepositoryName {
		t.Errorf("image %q %q, OCSF resource.data %+v", s.Asset.Image, s.Asset.ImageDigest, details)
	}
	if len(o.Vulnerabilities) != 1 || len(s.CVEs) != 1 || s.CVEs[0] != o.Vulnerabilities[0].CVE.UID {
		t.Errorf("CVEs %v, OCSF %+v", s.CVEs, o.Vulnerabilities)
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("aws-securityhub-guardduty", "*.json")...)
	files = append(files, sourcetest.SeedFiles("ocsf/examples", "sechub-*.raw.json")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
