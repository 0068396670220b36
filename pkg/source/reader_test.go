package source_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/asff"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

type rec struct {
	Line int
	Data string
}

type rej struct {
	Line   int
	Reason string // a part of the reason
}

func read(t testing.TB, in string, unwrap source.UnwrapFunc) ([]rec, []source.Reject) {
	t.Helper()
	var recs []rec
	var rejects []source.Reject
	err := source.ReadRecords(strings.NewReader(in), "in", unwrap, func(r source.Record) error {
		recs = append(recs, rec{r.Line, string(r.Data)})
		return nil
	}, func(r source.Reject) { rejects = append(rejects, r) })
	if err != nil {
		t.Fatalf("ReadRecords: %v", err)
	}
	return recs, rejects
}

func TestReadRecords(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		recs    []rec
		rejects []rej
	}{
		{"empty", "", nil, nil},
		{"only blanks", "\n \n\t\n", nil, nil},
		{"JSON lines", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}", []rec{{1, `{"a":1}`}, {2, `{"a":2}`}, {3, `{"a":3}`}}, nil},
		{"blank lines keep line numbers", "\n{\"a\":1}\n\n\n{\"a\":2}\n\n", []rec{{2, `{"a":1}`}, {5, `{"a":2}`}}, nil},
		{"CRLF", "{\"a\":1}\r\n{\"a\":2}\r\n", []rec{{1, `{"a":1}`}, {2, `{"a":2}`}}, nil},
		{"indented lines", "  {\"a\":1}  \n\t{\"a\":2}", []rec{{1, `{"a":1}`}, {2, `{"a":2}`}}, nil},
		{"malformed line counted, rest kept", "{\"a\":1}\nnot json\n{\"a\":3}\n",
			[]rec{{1, `{"a":1}`}, {3, `{"a":3}`}}, []rej{{2, "not a JSON object"}}},
		{"malformed first line, rest kept", "garbage here\n{\"a\":2}\n{\"a\":3}\n",
			[]rec{{2, `{"a":2}`}, {3, `{"a":3}`}}, []rej{{1, "not a JSON object"}}},
		{"truncated object goes to the parser", "{\"a\":1}\n{\"a\":\n{\"a\":3}\n",
			[]rec{{1, `{"a":1}`}, {2, `{"a":`}, {3, `{"a":3}`}}, nil},
		{"pretty document", "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n", []rec{{1, "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}"}}, nil},
		{"pretty document after blank lines", "\n\n{\n  \"a\": 1\n}", []rec{{3, "{\n  \"a\": 1\n}"}}, nil},
		{"concatenated pretty documents", "{\n \"a\": 1\n}\n{\n \"a\": 2\n}\n", []rec{{1, "{\n \"a\": 1\n}"}, {4, "{\n \"a\": 2\n}"}}, nil},
		{"array", `[{"a":1},{"a":2}]`, []rec{{1, `{"a":1}`}, {1, `{"a":2}`}}, nil},
		{"pretty array", "[\n  {\"a\": 1},\n  {\"a\": 2}\n]\n", []rec{{2, `{"a": 1}`}, {3, `{"a": 2}`}}, nil},
		{"pretty array, multi-line items", "\n[\n  {\n    \"a\": 1\n  },\n\n  {\n    \"a\": 2\n  }, {\"a\": 3}\n]\n",
			[]rec{{3, "{\n    \"a\": 1\n  }"}, {7, "{\n    \"a\": 2\n  }"}, {9, `{"a": 3}`}}, nil},
		{"array on one line after a pretty document", "{\n \"a\": 0\n}\n[{\"a\":1},{\"a\":2}]\n",
			[]rec{{1, "{\n \"a\": 0\n}"}, {4, `{"a":1}`}, {4, `{"a":2}`}}, nil},
		{"identical items", "[\n{},\n{},\n{}\n]", []rec{{2, `{}`}, {3, `{}`}, {4, `{}`}}, nil},
		{"pretty List", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [\n    {\"kind\": \"Pod\"},\n    {\n      \"kind\": \"Node\"\n    }\n  ]\n}\n",
			[]rec{{5, `{"kind": "Pod"}`}, {6, "{\n      \"kind\": \"Node\"\n    }"}}, nil},
		{"List envelope", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event"},{"kind":"Event","n":2}]}`,
			[]rec{{1, `{"kind":"Event"}`}, {1, `{"kind":"Event","n":2}`}}, nil},
		{"List envelopes as lines", "{\"kind\":\"EventList\",\"items\":[{\"n\":1}]}\n{\"kind\":\"EventList\",\"items\":[{\"n\":2},{\"n\":3}]}\n",
			[]rec{{1, `{"n":1}`}, {2, `{"n":2}`}, {2, `{"n":3}`}}, nil},
		{"empty List", `{"kind":"PodList","items":[]}`, nil, nil},
		{"items without a List kind is a record", `{"kind":"Event","items":[1]}`, []rec{{1, `{"kind":"Event","items":[1]}`}}, nil},
		{"null items is a record", `{"kind":"EventList","items":null}`, []rec{{1, `{"kind":"EventList","items":null}`}}, nil},
		{"pretty document with a syntax error", "{\n  \"a\": 1,\n  \"b\": \n}\n", nil, []rej{{4, "invalid JSON"}}},
		{"not JSON at all", "hello\nworld\n", nil, []rej{{1, "invalid JSON"}}},
		{"a JSON string line", "{\"a\":1}\n\"str\"\n", []rec{{1, `{"a":1}`}}, []rej{{2, "not a JSON object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, rejects := read(t, tt.in, nil)
			if fmt.Sprint(recs) != fmt.Sprint(tt.recs) {
				t.Errorf("records\n got  %v\n want %v", recs, tt.recs)
			}
			if len(rejects) != len(tt.rejects) {
				t.Fatalf("rejects %+v, want %+v", rejects, tt.rejects)
			}
			for i, r := range rejects {
				if r.Line != tt.rejects[i].Line || !strings.Contains(r.Reason, tt.rejects[i].Reason) || r.File != "in" {
					t.Errorf("reject %d: %+v, want %+v", i, r, tt.rejects[i])
				}
			}
		})
	}
}

func TestReadRecordsUnwrap(t *testing.T) {
	// A Graph-style list response: {"value":[...]}.
	graph := func(doc []byte) (items []json.RawMessage, ok bool) {
		if !bytes.HasPrefix(doc, []byte(`{"value":`)) {
			return nil, false
		}
		return []json.RawMessage{json.RawMessage(`{"id":"a"}`), json.RawMessage(`{"id":"b"}`)}, true
	}
	recs, _ := read(t, "{\"value\":[{\"id\":\"a\"},{\"id\":\"b\"}]}\n{\"id\":\"c\"}\n", graph)
	want := []rec{{1, `{"id":"a"}`}, {1, `{"id":"b"}`}, {2, `{"id":"c"}`}}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", recs, want)
	}
}

// A line longer than the reader's 1 MiB buffer is assembled whole.
func TestReadRecordsLongLine(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", 3<<20) + `"}`
	for _, first := range []bool{false, true} {
		t.Run(fmt.Sprintf("first=%v", first), func(t *testing.T) {
			in := "{\"n\":1}\n" + long + "\n{\"n\":3}\n"
			wantLong, wantLast := 2, 3
			if first {
				in = long + "\n{\"n\":2}\n"
				wantLong, wantLast = 1, 2
			}
			recs, rejects := read(t, in, nil)
			if len(rejects) != 0 {
				t.Fatalf("rejects %+v", rejects)
			}
			var sawLong bool
			for _, r := range recs {
				if r.Data == long {
					sawLong = true
					if r.Line != wantLong {
						t.Errorf("long line at %d, want %d", r.Line, wantLong)
					}
				}
			}
			if !sawLong {
				t.Errorf("long line lost")
			}
			if last := recs[len(recs)-1]; last.Line != wantLast {
				t.Errorf("last record at line %d, want %d", last.Line, wantLast)
			}
		})
	}
}

// A line over MaxRecordBytes is rejected with its line number, and reading
// goes on.
func TestReadRecordsTooLong(t *testing.T) {
	huge := `{"a":"` + strings.Repeat("x", source.MaxRecordBytes) + `"}`
	in := "{\"n\":1}\n" + huge + "\n{\"n\":3}\n"
	recs, rejects := read(t, in, nil)
	want := []rec{{1, `{"n":1}`}, {3, `{"n":3}`}}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("records %d (first lines %v), want %v", len(recs), lines(recs), want)
	}
	if len(rejects) != 1 || rejects[0].Line != 2 || !strings.Contains(rejects[0].Reason, "longer than") {
		t.Errorf("rejects %+v", rejects)
	}
}

func TestReadRecordsErrors(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := source.ReadRecords(strings.NewReader("{}\n{}\n{}\n"), "in", nil, func(source.Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	}, nil)
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("fn error: got %v after %d records", err, n)
	}

	boom := errors.New("disk on fire")
	err = source.ReadRecords(io.MultiReader(strings.NewReader("{\"a\":1}\n"), iotest.ErrReader(boom)), "in", nil,
		func(source.Record) error { return nil }, nil)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "in") {
		t.Errorf("I/O error: got %v", err)
	}

	// A nil reject is allowed.
	if err := source.ReadRecords(strings.NewReader("nope\n"), "in", nil, func(source.Record) error { return nil }, nil); err != nil {
		t.Errorf("nil reject: %v", err)
	}
}

// The reader splits records one byte at a time as well as all at once.
func TestReadRecordsOneByteReader(t *testing.T) {
	in := "{\"a\":1}\n\n{\"a\":2}\r\nbad\n{\"a\":3}"
	var recs []rec
	err := source.ReadRecords(iotest.OneByteReader(strings.NewReader(in)), "in", nil, func(r source.Record) error {
		recs = append(recs, rec{r.Line, string(r.Data)})
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []rec{{1, `{"a":1}`}, {3, `{"a":2}`}, {5, `{"a":3}`}}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", recs, want)
	}
}

// FuzzReadRecords: any input is split without a panic; records are non-empty
// JSON values with sensible, non-decreasing line numbers; rejects have a
// reason and a line within the input.
func FuzzReadRecords(f *testing.F) {
	for _, s := range []string{
		"", "{}", "{\"a\":1}\n{\"a\":2}\n", "[{\"a\":1}]", "{\n\"a\":1\n}\n{", "x\n{}\n",
		`{"kind":"EventList","items":[{"a":1}]}`, "\r\n\r\n{}\r\n", "[1,2,\"x\"]", "{\"items\":[1],\"kind\":\"List\"}",
		"[\n{},\n {\"a\":\n1},\n{}\n]", "{\"kind\":\"List\",\n\"x\":{\"a\":1},\n\"items\":[\n{\"a\":1}]}",
	} {
		f.Add([]byte(s))
	}
	for _, sub := range []string{"falco", "k8s-audit", "tetragon", "k8s-audit/falco-trace-files"} {
		for _, file := range sourcetest.SeedFiles(sub, "*.json", "*.jsonl") {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("{\n \"Findings\": [\n  {\"a\": 1},\n  {\"a\": 2}\n ]\n}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := bytes.Count(in, []byte{'\n'}) + 1
		inLines := bytes.Split(in, []byte{'\n'})
		// Without an envelope type, and with ASFF's (Findings, detail.findings).
		for _, unwrap := range []source.UnwrapFunc{nil, asff.Unwrap} {
			fuzzRead(t, in, lines, inLines, unwrap)
			sameInMemory(t, in, unwrap)
		}
	})
}

// readAll is what ReadRecords gives for r: records, then rejects.
func readAll(t testing.TB, r io.Reader, unwrap source.UnwrapFunc) string {
	t.Helper()
	var out strings.Builder
	err := source.ReadRecords(r, "in", unwrap, func(r source.Record) error {
		fmt.Fprintf(&out, "record %d %q\n", r.Line, r.Data)
		return nil
	}, func(r source.Reject) { fmt.Fprintf(&out, "reject %s\n", r.Error()) })
	if err != nil {
		t.Fatalf("ReadRecords: %v", err)
	}
	return out.String()
}

// sameInMemory checks that input in memory (a bytes.Reader or Buffer, read
// where it lies) gives the records and rejects that a streamed reader gives.
func sameInMemory(t testing.TB, in []byte, unwrap source.UnwrapFunc) {
	t.Helper()
	want := readAll(t, struct{ io.Reader }{bytes.NewReader(in)}, unwrap)
	if got := readAll(t, bytes.NewReader(in), unwrap); got != want {
		t.Errorf("bytes.Reader gives\n%.2000s\nstreamed\n%.2000s", got, want)
	}
	if got := readAll(t, bytes.NewBuffer(in), unwrap); got != want {
		t.Errorf("bytes.Buffer gives\n%.2000s\nstreamed\n%.2000s", got, want)
	}
}

// Input in memory is read in place with the same records, lines and
// rejects as a stream, around the reader's 1 MiB buffer and MaxRecordBytes.
func TestReadRecordsInMemory(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", 3<<20) + `"}`
	huge := `{"a":"` + strings.Repeat("x", source.MaxRecordBytes) + `"}`
	atMax := `{"a":"` + strings.Repeat("x", source.MaxRecordBytes-9) + `"}`
	spaces := strings.Repeat(" ", 1<<20)
	for name, in := range map[string]string{
		"empty":             "",
		"blank":             " \n\t\n",
		"lines":             "{\"a\":1}\n\n{\"a\":2}\r\nbad\n{\"a\":3}",
		"array":             "[\n{\"a\":1},\n{\"a\":2}\n]\n",
		"documents":         "{\n\"a\":1\n}\n{\"b\":2}\n",
		"list":              `{"kind":"EventList","items":[{"a":1},{"a":2}]}` + "\n{\"a\":3}\n",
		"long line":         "{\"n\":1}\n" + long + "\n{\"n\":3}\n",
		"long first line":   long + "\n{\"n\":2}\n",
		"long first broken": long + "\nbad line\n{\"n\":3}\n",
		"too long":          "{\"n\":1}\n" + huge + "\n{\"n\":3}\n",
		"too long last":     "{\"n\":1}\n" + huge,
		"at the limit":      "{\"n\":1}\n" + atMax + "\n{\"n\":3}\n",
		"1 MiB of blanks":   spaces + "\n{\"n\":2}\n",
		"blanks to 1 MiB":   spaces[:1<<20-1],
		"first line 1 MiB":  `{"a":"` + strings.Repeat("x", 1<<20-8) + `"}` + "\n{}\n",
		"first line 1 MiB-": `{"a":"` + strings.Repeat("x", 1<<20-9) + `"}` + "\n{}\n",
		"no newline 1 MiB":  `{"a":"` + strings.Repeat("x", 1<<20-8) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			sameInMemory(t, []byte(in), nil)
		})
	}
	// A bytes.Reader partly read is read from where it stands.
	r := bytes.NewReader([]byte("{\"a\":1}\n{\"a\":2}\n"))
	r.Seek(8, io.SeekStart)
	if got, want := readAll(t, r, nil), "record 1 \"{\\\"a\\\":2}\"\n"; got != want {
		t.Errorf("rest of a bytes.Reader: %q, want %q", got, want)
	}
	if r.Len() != 0 {
		t.Errorf("bytes.Reader has %d bytes left", r.Len())
	}
}

func fuzzRead(t *testing.T, in []byte, lines int, inLines [][]byte, unwrap source.UnwrapFunc) {
	last := 0
	err := source.ReadRecords(bytes.NewReader(in), "fuzz", unwrap, func(r source.Record) error {
		if len(bytes.TrimSpace(r.Data)) == 0 {
			t.Errorf("empty record at line %d", r.Line)
		}
		if r.Line < 1 || r.Line > lines {
			t.Errorf("record line %d outside 1..%d", r.Line, lines)
		}
		if r.Line < last {
			t.Errorf("record line %d after line %d", r.Line, last)
		}
		last = r.Line
		// The record starts on its line: its first line is there.
		if r.Line >= 1 && r.Line <= lines {
			first, _, _ := bytes.Cut(r.Data, []byte{'\n'})
			if at := inLines[r.Line-1]; !bytes.Contains(at, bytes.TrimSpace(first)) {
				t.Errorf("record %q does not start on line %d %q", first, r.Line, at)
			}
		}
		return nil
	}, func(r source.Reject) {
		if strings.TrimSpace(r.Reason) == "" {
			t.Errorf("reject with no reason at line %d", r.Line)
		}
		if r.Line < 1 || r.Line > lines {
			t.Errorf("reject line %d outside 1..%d", r.Line, lines)
		}
	})
	if err != nil {
		t.Errorf("ReadRecords on a bytes.Reader: %v", err)
	}
}

func lines(recs []rec) []int {
	var out []int
	for _, r := range recs {
		out = append(out, r.Line)
	}
	return out
}

// A first line longer than the 1 MiB peek buffer once made ReadRecords read
// the file as concatenated documents, so that a malformed line later
// stopped reading and the lines after it were lost. Every line after the
// bad one must still be read.
func TestReadRecordsLongFirstLineThenMalformed(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", 2<<20) + `"}`
	recs, rejects := read(t, long+"\nbad line\n{\"n\":3}\n{\"n\":4}\n", nil)
	if got := lines(recs); fmt.Sprint(got) != "[1 3 4]" || len(rejects) != 1 || rejects[0].Line != 2 {
		t.Errorf("record lines %v, rejects %+v; want [1 3 4] and one reject at line 2", got, rejects)
	}
}

// Each item of an envelope carries the line where the item starts, so a
// rejected item reads FILE:LINE of its own first line, not the envelope's.
func TestReadItemLines(t *testing.T) {
	// A parser that rejects records whose "ok" is false.
	p := source.ParserFunc(func(r source.Record) ([]signal.Signal, error) {
		var v struct {
			OK *bool `json:"ok"`
		}
		if err := json.Unmarshal(r.Data, &v); err != nil {
			return nil, err
		}
		if v.OK != nil && !*v.OK {
			return nil, errors.New(`field "ok": false`)
		}
		return []signal.Signal{{Rule: "r"}}, nil
	})
	graph := func(doc []byte) ([]json.RawMessage, bool) {
		var page struct {
			Value []json.RawMessage `json:"value"`
		}
		if json.Unmarshal(doc, &page) != nil || page.Value == nil {
			return nil, false
		}
		return page.Value, true
	}
	tests := []struct {
		name   string
		unwrap source.UnwrapFunc
		in     string
		raw    []int  // Signal.Raw.Line of the kept records
		reject string // the reject as FILE:LINE: reason
	}{
		{"array, the second bad", nil,
			"[\n  {\n    \"ok\": true\n  },\n  {\n    \"ok\": false\n  },\n  {\n    \"ok\": true\n  }\n]\n",
			[]int{2, 8}, `in.json:5: field "ok": false`},
		{"List, the second bad", nil,
			"{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"EventList\",\n  \"metadata\": {},\n  \"items\": [\n    {\"ok\": true},\n    {\"ok\": false},\n    {\"ok\": true}\n  ]\n}\n",
			[]int{6, 8}, `in.json:7: field "ok": false`},
		{"Graph value list", graph,
			"{\n  \"@odata.context\": \"x\",\n  \"value\": [\n    {\"ok\": false},\n    {\n      \"ok\": true\n    }\n  ]\n}\n",
			[]int{5}, `in.json:4: field "ok": false`},
		{"ASFF Findings", asff.Unwrap,
			"{\n  \"Findings\": [\n    {\n      \"ok\": true\n    },\n    {\n      \"ok\": false\n    }\n  ]\n}\n",
			[]int{3}, `in.json:6: field "ok": false`},
		{"EventBridge detail.findings", asff.Unwrap,
			"{\n  \"version\": \"0\",\n  \"detail\": {\n    \"findings\": [\n      {\"ok\": true},\n\n      {\"ok\": false}\n    ]\n  }\n}\n",
			[]int{5}, `in.json:7: field "ok": false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := source.Spec{Type: "t", New: func() source.Parser { return p }, Unwrap: tt.unwrap}
			b, err := source.Read(strings.NewReader(tt.in), "in.json", spec, signal.SourceRef{Name: "t", Type: "t"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var raw []int
			for _, s := range b.Signals {
				raw = append(raw, s.Raw.Line)
			}
			if fmt.Sprint(raw) != fmt.Sprint(tt.raw) {
				t.Errorf("raw lines %v, want %v", raw, tt.raw)
			}
			if b.Rejected != 1 || b.Rejects[0].Error() != tt.reject {
				t.Errorf("rejects %d %v, want %q", b.Rejected, b.Rejects, tt.reject)
			}
		})
	}
}

// The real EventBridge sample of the asff adapter: its two findings start
// on lines 12 and 44.
func TestReadItemLinesEventBridge(t *testing.T) {
	f, err := os.Open("asff/testdata/eventbridge.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []int
	err = source.ReadRecords(f, "eventbridge.json", asff.Unwrap, func(r source.Record) error {
		got = append(got, r.Line)
		return nil
	}, nil)
	if err != nil || fmt.Sprint(got) != "[12 44]" {
		t.Errorf("lines %v, %v; want [12 44]", got, err)
	}
}

// prettyArray is a pretty-printed JSON array of n small records, as
// `jq .` writes them.
func prettyArray(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\n    \"id\": \"r-%06d\",\n    \"time\": \"2026-11-30T06:00:00Z\",\n    \"severity\": \"HIGH\",\n    \"rule\": \"CVE-2024-3094\",\n    \"namespace\": \"payments\"\n  }", i)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

// BenchmarkReadPrettyArray reads a pretty-printed array of 10,000 records
// (1.4 MB): the document path, where each item's line is found.
func BenchmarkReadPrettyArray(b *testing.B) {
	in := prettyArray(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := source.ReadRecords(bytes.NewReader(in), "in", nil, func(source.Record) error { n++; return nil }, nil)
		if err != nil || n != 10000 {
			b.Fatal(n, err)
		}
	}
}

// An envelope whose items are not verbatim copies of the input (re-encoded)
// leaves them the line where the last item found ends (here the
// document's), in order.
func TestReadItemLinesReencoded(t *testing.T) {
	reencode := func(doc []byte) ([]json.RawMessage, bool) {
		var env struct {
			Value []any `json:"value"`
		}
		if json.Unmarshal(doc, &env) != nil || env.Value == nil {
			return nil, false
		}
		var out []json.RawMessage
		for _, v := range env.Value {
			b, _ := json.Marshal(v)
			out = append(out, b)
		}
		return out, true
	}
	recs, _ := read(t, "\n{\n  \"value\": [\n    { \"id\": \"a\" },\n    { \"id\": \"b\" }\n  ]\n}\n", reencode)
	if got := lines(recs); fmt.Sprint(got) != "[2 2]" {
		t.Errorf("lines %v, want [2 2]", got)
	}
}
