package source_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/source"
)

func split(t *testing.T, f source.SplitFunc, in string) ([]rec, []source.Reject) {
	t.Helper()
	var recs []rec
	var rejects []source.Reject
	err := f(strings.NewReader(in), "in", nil, func(r source.Record) error {
		recs = append(recs, rec{r.Line, string(r.Data)})
		return nil
	}, func(r source.Reject) { rejects = append(rejects, r) })
	if err != nil {
		t.Fatal(err)
	}
	return recs, rejects
}

func check(t *testing.T, recs []rec, rejects []source.Reject, wantRecs []rec, wantRejects []rej) {
	t.Helper()
	if fmt.Sprint(recs) != fmt.Sprint(wantRecs) {
		t.Errorf("records\n got  %v\n want %v", recs, wantRecs)
	}
	if len(rejects) != len(wantRejects) {
		t.Fatalf("rejects %+v, want %+v", rejects, wantRejects)
	}
	for i, r := range rejects {
		if r.Line != wantRejects[i].Line || !strings.Contains(r.Reason, wantRejects[i].Reason) || r.File != "in" {
			t.Errorf("reject %d: %+v, want %+v", i, r, wantRejects[i])
		}
	}
}

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		recs    []rec
		rejects []rej
	}{
		{"JSON lines stay JSON", "{\"a\":1}\n{\"a\":2}\n", []rec{{1, `{"a":1}`}, {2, `{"a":2}`}}, nil},
		{"JSON after blank lines", "\n\n[{\"a\":1}]", []rec{{3, `{"a":1}`}}, nil},
		{"one document", "kind: A\nname: x\n", []rec{{1, `{"kind":"A","name":"x"}`}}, nil},
		{"documents", "---\nkind: A\n--- # next\nkind: B\n---\n", []rec{{2, `{"kind":"A"}`}, {4, `{"kind":"B"}`}}, nil},
		{"a List is split", "kind: FooList\nitems:\n- kind: Foo\n- kind: Foo\n  num: 2\n",
			[]rec{{3, `{"kind":"Foo"}`}, {4, `{"kind":"Foo","num":2}`}}, nil},
		{"a List after another document", "kind: A\n---\n# c\nkind: FooList\nitems:\n  - kind: Foo\n    num: 1\n  - kind: Foo\n", []rec{{1, `{"kind":"A"}`}, {6, `{"kind":"Foo","num":1}`}, {8, `{"kind":"Foo"}`}}, nil},
		{"a top-level sequence", "- a: 1\n\n- a: 2\n", []rec{{1, `{"a":1}`}, {3, `{"a":2}`}}, nil},
		{"a bad document, the next still read", "kind: A\n---\nkind: B\n  x: - y\n bad\n---\nkind: C\n",
			[]rec{{1, `{"kind":"A"}`}, {7, `{"kind":"C"}`}}, []rej{{4, "invalid YAML: yaml: line 4:"}}},
		{"a scalar", "hello\n", nil, []rej{{1, "not a YAML mapping"}}},
		{"comments only", "# nothing\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, rejects := split(t, source.SplitYAML, tt.in)
			check(t, recs, rejects, tt.recs, tt.rejects)
		})
	}
}

func TestSplitCSV(t *testing.T) {
	f := source.SplitCSV(source.CSVOptions{
		Required: []string{"cve"},
		Comment: func(text string) (map[string]string, error) {
			if strings.HasPrefix(text, "bad") {
				return nil, fmt.Errorf("bad comment")
			}
			return map[string]string{"note": text}, nil
		},
	})
	tests := []struct {
		name    string
		in      string
		recs    []rec
		rejects []rej
	}{
		{"rows", "cve,score\nCVE-1,0.5\nCVE-2,\"0.7\"\n", []rec{{2, `{"cve":"CVE-1","score":"0.5"}`}, {3, `{"cve":"CVE-2","score":"0.7"}`}}, nil},
		{"comment fields", "\ufeff#v1\ncve\r\nCVE-1\r\n", []rec{{3, `{"cve":"CVE-1","note":"v1"}`}}, nil},
		{"bad comment", "#bad\ncve\nCVE-1\n", []rec{{3, `{"cve":"CVE-1"}`}}, []rej{{1, "bad comment"}}},
		{"missing column", "#x\nid,score\nCVE-1,1\nCVE-2,2\n", nil,
			[]rej{{2, `CSV header "id,score" lacks column cve`}, {3, "unusable header (line 2)"}, {4, "unusable header"}}},
		{"short row", "cve,score\nCVE-1\nCVE-2,1\n", []rec{{3, `{"cve":"CVE-2","score":"1"}`}}, []rej{{2, "row has 1 fields, the header 2"}}},
		{"bad quote", "cve\nCVE-1\n\"x\"y\n", []rec{{2, `{"cve":"CVE-1"}`}}, []rej{{3, "invalid CSV"}}},
		{"JSON instead", "{\"cve\":\"CVE-1\"}\n", []rec{{1, `{"cve":"CVE-1"}`}}, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, rejects := split(t, f, tt.in)
			check(t, recs, rejects, tt.recs, tt.rejects)
		})
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"kind: A\n---\nkind: B", "#c\ncve,x\nCVE-1,2\n", "a: [", "\"x\"y", "---\n---", "{\"a\":1}"} {
		f.Add(s)
	}
	csv := source.SplitCSV(source.CSVOptions{Required: []string{"cve"}})
	f.Fuzz(func(t *testing.T, in string) {
		for _, fn := range []source.SplitFunc{source.SplitYAML, csv} {
			err := fn(strings.NewReader(in), "f", nil, func(r source.Record) error {
				if r.Line < 1 {
					t.Errorf("record at line %d", r.Line)
				}
				return nil
			}, func(r source.Reject) {
				if r.Line < 1 || r.Reason == "" {
					t.Errorf("reject %+v", r)
				}
			})
			if err != nil {
				t.Errorf("error %v on a string reader", err)
			}
		}
	})
}
