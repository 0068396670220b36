package source_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// testSpec parses {"t":"RFC3339","n":N} into N signals; "panic" panics and
// anything else is rejected.
var testSpec = source.Spec{
	Type:    "test",
	Product: "Test",
	Summary: "test records",
	New: func() source.Parser {
		return source.ParserFunc(func(rec source.Record) ([]signal.Signal, error) {
			s := string(rec.Data)
			switch {
			case strings.Contains(s, "panic"):
				panic("boom")
			case strings.HasPrefix(s, `{"t":"`):
				ts, n, _ := strings.Cut(strings.TrimPrefix(s, `{"t":"`), `","n":`)
				tm, err := time.Parse(time.RFC3339, ts)
				if err != nil {
					return nil, err
				}
				var out []signal.Signal
				for i := 0; i < len(strings.TrimSuffix(n, "}")); i++ {
					out = append(out, signal.Signal{ID: "x", Time: tm})
				}
				return out, nil
			}
			return nil, errors.New("not a test record")
		})
	},
}

func TestRead(t *testing.T) {
	in := "{\"t\":\"2025-03-01T10:00:00Z\",\"n\":1}\n" +
		"not json\n" +
		"{\"other\":1}\n" +
		"{\"panic\":1}\n" +
		"{\"t\":\"2025-03-01T11:00:00Z\",\"n\":22}\n"
	var seen []source.Reject
	ref := signal.SourceRef{Name: "t1", Type: "test"}
	b, err := source.Read(strings.NewReader(in), "f.jsonl", testSpec, ref, func(r source.Reject) { seen = append(seen, r) })
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != 5 || b.Rejected != 3 || len(b.Signals) != 3 {
		t.Fatalf("records %d rejected %d signals %d, want 5 3 3", b.Records, b.Rejected, len(b.Signals))
	}
	wantLines := []int{2, 3, 4}
	for i, r := range b.Rejects {
		if r.Line != wantLines[i] || r.File != "f.jsonl" || r.Reason == "" {
			t.Errorf("reject %d: %+v", i, r)
		}
	}
	if !strings.Contains(b.Rejects[2].Reason, "parser failed on this record: boom") {
		t.Errorf("a parser panic is a reject with a reason: %q", b.Rejects[2].Reason)
	}
	if len(seen) != 3 || seen[0].Error() != "f.jsonl:2: not a JSON object" {
		t.Errorf("onReject saw %v", seen)
	}
	for _, s := range b.Signals {
		if s.Source != ref || s.Raw.File != "f.jsonl" || s.Raw.Line == 0 {
			t.Errorf("signal %+v lacks source or raw ref", s)
		}
	}
	if !b.LastRecord.Equal(time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("LastRecord %v", b.LastRecord)
	}
}

func TestReadMaxRejects(t *testing.T) {
	in := strings.Repeat("{\"bad\":1}\n", source.MaxRejects+50)
	b, err := source.Read(strings.NewReader(in), "f", testSpec, signal.SourceRef{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Rejected != source.MaxRejects+50 || len(b.Rejects) != source.MaxRejects {
		t.Errorf("rejected %d, kept %d", b.Rejected, len(b.Rejects))
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(p, []byte("{\"t\":\"2025-03-01T10:00:00Z\",\"n\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	b, err := source.ReadFile(p, testSpec, signal.SourceRef{Name: "t", Type: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 1 || !b.Written.Equal(mt) {
		t.Errorf("signals %d written %v", len(b.Signals), b.Written)
	}
	if _, err := source.ReadFile(dir, testSpec, signal.SourceRef{}, nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := source.ReadFile(filepath.Join(dir, "missing"), testSpec, signal.SourceRef{}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	r, err := source.NewRegistry(testSpec, source.Spec{Type: "b", New: testSpec.New})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Types(), ","); got != "b,test" {
		t.Errorf("types %s", got)
	}
	if _, err := r.Lookup("test"); err != nil {
		t.Error(err)
	}
	if _, err := r.Lookup("nope"); err == nil || !strings.Contains(err.Error(), `unknown telemetry type "nope" (known: b, test)`) {
		t.Errorf("lookup of an unknown type: %v", err)
	}
	_, err = source.NewRegistry(testSpec, testSpec, source.Spec{}, source.Spec{Type: "x"})
	for _, want := range []string{`"test" registered twice`, "empty type", `"x" has no parser`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// onlyReader hides strings.Reader's Len: Read cannot know the input's size.
type onlyReader struct{ r *strings.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// oneSpec makes one Signal of every record that starts with '{'.
var oneSpec = source.Spec{
	Type: "one", Product: "One", Summary: "one signal a record",
	New: func() source.Parser {
		return source.ParserFunc(func(rec source.Record) ([]signal.Signal, error) {
			if rec.Data[0] != '{' {
				return nil, errors.New("not a record")
			}
			return []signal.Signal{{ID: "x", Time: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}}, nil
		})
	},
}

// Read sizes the batch from the input's size when it knows it (a reader
// with Len, a file); the batch is the same either way.
func TestReadPresized(t *testing.T) {
	line := `{"pad":"` + strings.Repeat("x", 300) + `"}` + "\n"
	read := func(in string, sized bool) *source.Batch {
		var r io.Reader = onlyReader{strings.NewReader(in)}
		if sized {
			r = strings.NewReader(in)
		}
		b, err := source.Read(r, "f", oneSpec, signal.SourceRef{Name: "t", Type: "one"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var in strings.Builder
	for i := 0; i < 1000; i++ {
		in.WriteString(line)
		if i%10 == 0 {
			in.WriteString("junk\n")
		}
	}
	sized, plain := read(in.String(), true), read(in.String(), false)
	if len(sized.Signals) != 1000 || sized.Records != plain.Records || sized.Rejected != plain.Rejected || len(plain.Signals) != 1000 {
		t.Fatalf("sized: %d signals, %d records, %d rejected; plain: %d, %d, %d", len(sized.Signals), sized.Records,
			sized.Rejected, len(plain.Signals), plain.Records, plain.Rejected)
	}
	for i := range sized.Signals {
		if sized.Signals[i].Raw != plain.Signals[i].Raw {
			t.Fatalf("signal %d: %+v, want %+v", i, sized.Signals[i].Raw, plain.Signals[i].Raw)
		}
	}
	// One allocation for the whole input (about 1000 * 1.1 signals), not
	// a doubling slice.
	if c := cap(sized.Signals); c < 1000 || c > 1200 {
		t.Errorf("capacity %d, want 1000..1200", c)
	}
	// Small first records never reserve more than one Signal per 256 bytes
	// of input (here the rest are long rejected lines).
	small := strings.Repeat("{}\n", 70) + strings.Repeat("j"+line, 200)
	b := read(small, true)
	if c, lim := cap(b.Signals), len(small)/256; len(b.Signals) != 70 || c > lim*9/8 { // slices.Grow rounds up to a size class
		t.Errorf("%d signals, capacity %d for %d bytes, want at most about %d", len(b.Signals), c, len(small), lim)
	}
}

// appendSpec's parser is testSpec's with AppendParse, which leaves junk
// past the slice's length when it fails.
type appendParser struct{ p source.Parser }

func (a appendParser) Parse(rec source.Record) ([]signal.Signal, error) { return a.p.Parse(rec) }

func (a appendParser) AppendParse(dst []signal.Signal, rec source.Record) ([]signal.Signal, error) {
	sigs, err := a.p.Parse(rec)
	if err != nil {
		return append(dst, signal.Signal{ID: "junk"})[:len(dst)], err
	}
	return append(dst, sigs...), nil
}

// Read through AppendParse gives the batch Read through Parse gives,
// rejects and panics included.
func TestReadAppender(t *testing.T) {
	appendSpec := testSpec
	appendSpec.New = func() source.Parser { return appendParser{testSpec.New()} }
	in := "{\"t\":\"2025-03-01T10:00:00Z\",\"n\":11}\njunk\n{\"panic\":1}\n{\"t\":\"bad\"}\n{\"t\":\"2025-03-01T11:00:00Z\",\"n\":1}\n"
	ref := signal.SourceRef{Name: "t", Type: "test"}
	var rejects [2][]source.Reject
	plain, err := source.Read(strings.NewReader(in), "f", testSpec, ref, func(r source.Reject) { rejects[0] = append(rejects[0], r) })
	if err != nil {
		t.Fatal(err)
	}
	app, err := source.Read(strings.NewReader(in), "f", appendSpec, ref, func(r source.Reject) { rejects[1] = append(rejects[1], r) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plain, app) || !reflect.DeepEqual(rejects[0], rejects[1]) {
		t.Errorf("through AppendParse:\n%+v\n%v\nthrough Parse:\n%+v\n%v", app, rejects[1], plain, rejects[0])
	}
	if len(app.Signals) != 3 || app.Rejected != 3 || !app.LastRecord.Equal(time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("batch %+v", app)
	}
}
