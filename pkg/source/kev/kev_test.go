package kev

import (
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

func load(t *testing.T, path string) *Catalog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The shared JSON and CSV copies of the same catalogue (2025.08.25, 1404
// entries) load to the same entries.
func TestLoadShared(t *testing.T) {
	files := sourcetest.Samples(t, "trivy-kev-epss", "cisa_known_exploited_vulnerabilities.json", "cisa_known_exploited_vulnerabilities.csv")
	if len(files) != 2 {
		t.Fatalf("samples %v", files)
	}
	csv, js := load(t, files[0]), load(t, files[1])
	if js.Len() != 1404 || csv.Len() != 1404 {
		t.Fatalf("entries: JSON %d, CSV %d, want 1404", js.Len(), csv.Len())
	}
	if js.Version != "2025.08.25" || !js.Date().Equal(time.Date(2025, 8, 25, 17, 4, 19, 979600000, time.UTC)) {
		t.Errorf("JSON version %q date %v", js.Version, js.Date())
	}
	if !csv.Date().Equal(time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("CSV date %v, want the newest dateAdded", csv.Date())
	}
	for cve, je := range js.entries {
		ce, ok := csv.Lookup(cve)
		if !ok || ce.Name != je.Name || !ce.DateAdded.Equal(je.DateAdded) || ce.Ransomware != je.Ransomware || strings.Join(ce.CWEs, ",") != strings.Join(je.CWEs, ",") {
			t.Errorf("%s: CSV %+v, JSON %+v", cve, ce, je)
			break
		}
	}
	e, ok := js.Lookup("cve-2025-48384")
	if !ok || e.VendorProject != "Git" || e.DueDate.Format(time.DateOnly) != "2025-09-15" || !js.Contains("CVE-2025-48384") || js.Contains("CVE-1999-0001") {
		t.Errorf("lookup %+v %v", e, ok)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bad date in CSV", "cveID,dateAdded\nCVE-1,2025-01-01\nCVE-2,yesterday\n", `line 3: CVE-2: field "dateAdded": "yesterday" is not a date`},
		{"header without cveID", "cve,dateAdded\nCVE-1,2025-01-01\n", `line 1: CSV header "cve,dateAdded" lacks column cveID`},
		{"empty CSV", "cveID,dateAdded\n", "no entries"},
		{"JSON without vulnerabilities", `{"catalogVersion":"1"}`, `missing field "vulnerabilities"`},
		{"JSON entry without cveID", `{"dateReleased":"2025-01-01T00:00:00Z","vulnerabilities":[{"dateAdded":"2025-01-01"}]}`, `vulnerabilities[0]: missing field "cveID"`},
		{"JSON count mismatch", `{"dateReleased":"2025-01-01T00:00:00Z","count":2,"vulnerabilities":[{"cveID":"CVE-1","dateAdded":"2025-01-01"}]}`, "count is 2 but 1"},
		{"JSON syntax", `{"vulnerabilities":[`, "read KEV catalogue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	var nilc *Catalog
	if nilc.Contains("CVE-1") || nilc.Len() != 0 {
		t.Error("a nil catalogue is empty")
	}
}

func TestSignals(t *testing.T) {
	b, err := source.ReadFile("testdata/kev-head.csv", Spec, signal.SourceRef{Name: "kev", Type: "kev"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 3 || b.Rejected != 3 {
		t.Fatalf("%d signals, %d rejected %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	s := b.Signals[0]
	if s.ClassUID != 2002 || s.Severity != signal.SeverityInformational || s.CVEs[0] != "CVE-2025-48384" || s.Raw.Line != 2 ||
		s.Attrs["cwes"] != "CWE-59,CWE-436" || !s.Time.Equal(time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("signal %+v", s)
	}
	for i, w := range []string{`CVE-2099-0001: field "dateAdded": "2025-13-01" is not a date`, `missing field "cveID"`, "row has 3 fields, the header 11"} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
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
	return out
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "trivy-kev-epss", "cisa_known_exploited_vulnerabilities.*", "vunnel_kev_*")...)
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
	files := append(testdata(f), sourcetest.SeedFiles("trivy-kev-epss", "vunnel_kev_*")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}

func FuzzLoad(f *testing.F) {
	for _, file := range testdata(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(strings.NewReader(string(data)))
		if err == nil && c.Len() == 0 {
			t.Error("a catalogue without entries loaded")
		}
		if err != nil && c != nil {
			t.Error("a catalogue and an error")
		}
	})
}
