package epss

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

func loadFile(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Load(f)
}

func TestLoad(t *testing.T) {
	c, err := loadFile("testdata/example-1.csv")
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 5 || c.Model != "v2023.03.01" || !c.Date.Equal(time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("catalog: %d rows, model %q, date %v", c.Len(), c.Model, c.Date)
	}
	s, ok := c.Score("cve-1999-0005")
	if !ok || s.EPSS != 0.91963 || s.Percentile != 0.99214 {
		t.Errorf("score %+v %v", s, ok)
	}
	if _, ok := c.Score("CVE-2024-3094"); ok {
		t.Error("an unknown CVE has a score")
	}
	var nilc *Catalog
	if _, ok := nilc.Score("CVE-1"); ok || nilc.Len() != 0 {
		t.Error("a nil catalogue is empty")
	}
}

// The upstream fixtures for a missing date and an invalid header give
// clear errors.
func TestLoadErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"testdata/missing-date.csv", `line 3: missing score_date: the file's first line should be "#model_version:...,score_date:..."`},
		{"testdata/invalid-header.csv", `line 2: CSV header "invalid,header,format" lacks column cve, epss`},
		{"testdata/scores.csv", `line 5: CVE-2099-0001: field "epss": "1.5" is not a probability in 0..1`},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			_, err := loadFile(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	for in, want := range map[string]string{
		"":                         "no rows",
		"#score_date:yesterday\n":  `field "score_date": "yesterday" is not a time`,
		"cve,epss\nCVE-1,0.5\n":    "missing score_date",
		"#score_date:2025-01-01\n": "no rows",
	} {
		if _, err := Load(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q): %v, want %q", in, err, want)
		}
	}
}

func TestParseComment(t *testing.T) {
	for in, want := range map[string]string{
		"model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000": "2025-02-20T00:00:00Z",
		"model_version:v2025.03.14,score_date:2025-03-20T00:00:00Z":     "2025-03-20T00:00:00Z",
		"score_date:2025-03-20": "2025-03-20T00:00:00Z",
	} {
		m, err := ParseComment(in)
		if err != nil || m["score_date"] != want {
			t.Errorf("ParseComment(%q) = %v %v, want score_date %s", in, m, err, want)
		}
	}
}

func TestSignals(t *testing.T) {
	b, err := source.ReadFile("testdata/scores.csv", Spec, signal.SourceRef{Name: "epss", Type: "epss"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 2 || b.Rejected != 3 {
		t.Fatalf("%d signals, %d rejected %+v", len(b.Signals), b.Rejected, b.Rejects)
	}
	s := b.Signals[1]
	if s.CVEs[0] != "CVE-2023-44487" || s.Attrs["epss"] != "0.94" || s.Attrs["model_version"] != "v2025.03.14" || s.Raw.Line != 4 ||
		!s.Time.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) || s.ClassUID != 2002 || s.Severity != signal.SeverityInformational {
		t.Errorf("signal %+v", s)
	}
	for i, w := range []string{`field "epss": "1.5"`, `field "epss": "x"`, `missing field "cve"`} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d: %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
	// Every row of a file without score_date is rejected with the reason.
	b, err = source.ReadFile("testdata/missing-date.csv", Spec, signal.SourceRef{Name: "epss", Type: "epss"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 0 || b.Rejected != 5 || !strings.Contains(b.Rejects[0].Reason, "missing score_date") {
		t.Errorf("missing date: %d signals, rejects %+v", len(b.Signals), b.Rejects)
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.csv")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "trivy-kev-epss", "vunnel_epss_*")...)
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
	for _, r := range sourcetest.Records(f, Spec, testdata(f)...) {
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
		if err == nil && (c.Len() == 0 || c.Date.IsZero()) {
			t.Errorf("loaded %d rows dated %v", c.Len(), c.Date)
		}
	})
}
