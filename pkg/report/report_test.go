package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The decisions in testdata are `pulsegate gate -o json` on the demo's two
// releases (and the blocked one in shadow mode); the golden files are what a
// person sees for them.
func TestGolden(t *testing.T) {
	for _, name := range []string{"block", "proceed", "shadow"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".decision.json"))
		if err != nil {
			t.Fatal(err)
		}
		var d policy.Decision
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, format := range []string{"text", "markdown"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				w, err := Lookup(format)
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if err := w(&out, &d); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name+"."+format+".golden")
				if *update {
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", format, golden, out.String())
				}
			})
		}
	}
}

func TestReportsSayWhy(t *testing.T) {
	b, _ := os.ReadFile("testdata/block.decision.json")
	var d policy.Decision
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var text, md bytes.Buffer
	Text(&text, &d)
	Markdown(&md, &d)
	for _, out := range []string{text.String(), md.String()} {
		for _, want := range []string{"Redirect STDOUT/STDIN to Network Connection in Container", "ip-10-0-2-22", "falco", "k8s-audit", "tetragon"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q", want)
			}
		}
	}
	if !strings.HasPrefix(text.String(), "BLOCK: ") {
		t.Errorf("text report starts %q", text.String()[:20])
	}
}

func TestJSONRoundTrip(t *testing.T) {
	b, _ := os.ReadFile("testdata/block.decision.json")
	var d policy.Decision
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := JSON(&out, &d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(out.Bytes()), bytes.TrimSpace(b)) {
		t.Error("decision JSON does not survive a read and a write unchanged")
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := Lookup("yaml"); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Errorf("Lookup(yaml) = %v", err)
	}
}
