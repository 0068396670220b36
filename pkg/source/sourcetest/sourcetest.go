// Package sourcetest is the conformance suite that every source adapter
// passes, and the helpers its tests share: finding the shared telemetry
// samples, golden files, and fuzz seeds. It is imported only by tests.
//
// The invariants Run and CheckRecord enforce on a Parser:
//
//   - it never panics; every record either yields at least one Signal or is
//     rejected with an error whose text is a non-empty reason;
//   - every Signal has an ID, a non-zero Time, a class_uid, an OCSF
//     severity_id, a Score in 0..1, a Product, and Attrs within
//     signal.MaxAttrs and signal.MaxAttrLen, and it survives a JSON round
//     trip with its ID and Time;
//   - the same record parsed twice (by a fresh parser and by the same one
//     again) gives the same Signals, IDs included;
//   - it does not keep rec.Data: overwriting the buffer after Parse leaves
//     the Signals unchanged.
package sourcetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// EnvShared names the environment variable that points at the shared
// folder (the one holding data/telemetry), overriding the search.
const EnvShared = "PULSEGATE_SHARED"

// FindShared returns the shared telemetry folder: $PULSEGATE_SHARED/data/telemetry
// (or $PULSEGATE_SHARED itself when it already is that folder) when the
// variable is set, else the first shared/data/telemetry found walking up
// from the working directory (CI clones the repository with shared/ beside
// it). The error says where it looked.
func FindShared() (string, error) {
	if d := os.Getenv(EnvShared); d != "" {
		for _, c := range []string{filepath.Join(d, "data", "telemetry"), d} {
			if isDir(filepath.Join(c, "falco")) || isDir(filepath.Join(c, "k8s-audit")) {
				return c, nil
			}
		}
		return "", fmt.Errorf("%s=%s holds no data/telemetry folder", EnvShared, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		c := filepath.Join(dir, "shared", "data", "telemetry")
		if isDir(c) {
			return c, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no shared/data/telemetry in %s or above it (set %s)", wd, EnvShared)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// SharedDir returns the shared telemetry folder, or skips t when the
// samples are not installed. A PULSEGATE_SHARED that points nowhere fails
// t: it was set on purpose.
func SharedDir(t testing.TB) string {
	t.Helper()
	d, err := FindShared()
	if err != nil {
		if os.Getenv(EnvShared) != "" {
			t.Fatalf("shared telemetry samples: %v", err)
		}
		t.Skipf("shared telemetry samples not installed: %v", err)
	}
	return d
}

// Samples returns the files in the shared telemetry folder sub (e.g.
// "tetragon") that match any of the glob patterns, in sorted order, leaving
// out hidden files and SOURCES.md. It
// skips t when the samples are not installed and fails it when nothing
// matches.
func Samples(t testing.TB, sub string, patterns ...string) []string {
	t.Helper()
	dir := filepath.Join(SharedDir(t), sub)
	files, err := glob(dir, patterns...)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no samples matching %v in %s", patterns, dir)
	}
	return files
}

func glob(dir string, patterns ...string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			return nil, err
		}
		for _, f := range m {
			base := filepath.Base(f)
			if strings.HasPrefix(base, ".") || base == "SOURCES.md" {
				continue // hidden files and the folder's own notes are not samples
			}
			if !seen[f] && !isDir(f) {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// SeedFiles returns the shared sample files under sub matching patterns,
// or none when the samples are not installed: fuzz seeds are a bonus, not
// a reason to skip.
func SeedFiles(sub string, patterns ...string) []string {
	d, err := FindShared()
	if err != nil {
		return nil
	}
	files, _ := glob(filepath.Join(d, sub), patterns...)
	return files
}

// Records returns a copy of every record in files as the record reader
// splits them with spec.Unwrap, for fuzz seeds. Unreadable files fail t.
func Records(t testing.TB, spec source.Spec, files ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		err = spec.ReadRecords(bytes.NewReader(data), f, func(r source.Record) error {
			out = append(out, bytes.Clone(r.Data))
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Run checks spec and every record of every sample file against the
// invariants in the package doc comment, one subtest per file.
func Run(t *testing.T, spec source.Spec, samples ...string) {
	t.Helper()
	checkSpec(t, spec)
	if len(samples) == 0 {
		t.Fatal("sourcetest.Run: no sample files")
	}
	for _, f := range samples {
		t.Run(filepath.Base(f), func(t *testing.T) { runFile(t, spec, f) })
	}
}

func checkSpec(t *testing.T, spec source.Spec) {
	t.Helper()
	switch {
	case spec.Type == "":
		t.Fatal("spec has no Type")
	case spec.New == nil:
		t.Fatalf("spec %q has no New", spec.Type)
	case spec.New() == nil:
		t.Fatalf("spec %q: New returned nil", spec.Type)
	}
	if spec.Product == "" {
		t.Errorf("spec %q has no Product", spec.Type)
	}
	if spec.Summary == "" {
		t.Errorf("spec %q has no Summary", spec.Type)
	}
}

func runFile(t *testing.T, spec source.Spec, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var records, used, rejected, signals int
	readerRejects := 0
	err = spec.ReadRecords(bytes.NewReader(data), file, func(r source.Record) error {
		records++
		if r.Line < 1 {
			t.Errorf("record with line %d, want >= 1", r.Line)
		}
		sigs, err := checkRecord(t, spec, r.Data, fmt.Sprintf("%s:%d", filepath.Base(file), r.Line))
		if err != nil {
			rejected++
			t.Logf("%s:%d: rejected: %v", filepath.Base(file), r.Line, err)
			return nil
		}
		used++
		signals += len(sigs)
		return nil
	}, func(r source.Reject) {
		readerRejects++
		if strings.TrimSpace(r.Reason) == "" {
			t.Errorf("%s:%d: reader reject with no reason", filepath.Base(file), r.Line)
		}
		if r.Line < 1 {
			t.Errorf("reader reject at line %d, want >= 1", r.Line)
		}
		t.Logf("%s:%d: not a record: %s", filepath.Base(file), r.Line, r.Reason)
	})
	if err != nil {
		t.Fatalf("ReadRecords: %v", err)
	}
	if len(bytes.TrimSpace(data)) > 0 && records+readerRejects == 0 {
		t.Errorf("file has content but gave no record and no reject")
	}

	// The same file through the Batch reader agrees with the record
	// count above.
	b, err := source.Read(bytes.NewReader(data), file, spec, signal.SourceRef{Name: spec.Type, Type: spec.Type}, nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if b.Records != records+readerRejects || b.Rejected != rejected+readerRejects || len(b.Signals) != signals {
		t.Errorf("Read: records %d, rejected %d, signals %d; want %d, %d, %d",
			b.Records, b.Rejected, len(b.Signals), records+readerRejects, rejected+readerRejects, signals)
	}
	t.Logf("%s: %d records, %d used (%d signals), %d rejected, %d not records",
		filepath.Base(file), records, used, signals, rejected, readerRejects)
}

// CheckRecord parses data with a fresh parser from spec and checks the
// invariants in the package doc comment, reporting failures on t. It
// returns what the first parse returned; a rejected record is not a
// failure. Fuzz targets call it on arbitrary input.
func CheckRecord(t testing.TB, spec source.Spec, data []byte) ([]signal.Signal, error) {
	t.Helper()
	return checkRecord(t, spec, data, "record")
}

func checkRecord(t testing.TB, spec source.Spec, data []byte, where string) ([]signal.Signal, error) {
	t.Helper()
	p := spec.New()
	buf := bytes.Clone(data)
	sigs, err, pv := parse(p, buf)
	if pv != "" {
		t.Errorf("%s: parser panicked: %s\ninput: %.300q", where, pv, data)
		return nil, errors.New("panic")
	}
	if err != nil {
		if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: rejected with an empty reason", where)
		}
		if sigs != nil {
			t.Errorf("%s: rejected but returned %d signals too", where, len(sigs))
		}
		return nil, err
	}
	if len(sigs) == 0 {
		t.Errorf("%s: no signal and no reason: a record is either used or rejected", where)
		return nil, nil
	}
	for i := range sigs {
		checkSignal(t, fmt.Sprintf("%s: signal %d", where, i), &sigs[i])
	}
	first := encode(t, sigs)

	// The parser must not keep rec.Data.
	for i := range buf {
		buf[i] = 'x'
	}
	if got := encode(t, sigs); !bytes.Equal(got, first) {
		t.Errorf("%s: signals changed when the record's buffer was overwritten after Parse: the parser keeps rec.Data\nbefore: %s\nafter:  %s", where, first, got)
	}

	// The same record again, by the same parser and by a fresh one.
	for _, q := range []struct {
		name string
		p    source.Parser
	}{{"the same parser", p}, {"a fresh parser", spec.New()}} {
		again, err, pv := parse(q.p, bytes.Clone(data))
		switch {
		case pv != "":
			t.Errorf("%s: %s panicked on the second parse: %s", where, q.name, pv)
		case err != nil:
			t.Errorf("%s: %s rejected on the second parse what it used on the first: %v", where, q.name, err)
		default:
			if got := encode(t, again); !bytes.Equal(got, first) {
				t.Errorf("%s: %s gave different signals on the second parse\nfirst:  %s\nsecond: %s", where, q.name, first, got)
			}
		}
	}
	return sigs, nil
}

func parse(p source.Parser, data []byte) (sigs []signal.Signal, err error, panicked string) {
	defer func() {
		if v := recover(); v != nil {
			sigs, err, panicked = nil, nil, fmt.Sprintf("%v\n%s", v, debug.Stack())
		}
	}()
	sigs, err = p.Parse(source.Record{Data: data, File: "sourcetest", Line: 1})
	return sigs, err, ""
}

func encode(t testing.TB, sigs []signal.Signal) []byte {
	t.Helper()
	b, err := json.Marshal(sigs)
	if err != nil {
		t.Errorf("marshal signals: %v", err)
	}
	return b
}

var ocsfSeverities = map[signal.Severity]bool{
	signal.SeverityUnknown: true, signal.SeverityInformational: true, signal.SeverityLow: true,
	signal.SeverityMedium: true, signal.SeverityHigh: true, signal.SeverityCritical: true,
	signal.SeverityFatal: true, signal.SeverityOther: true,
}

func checkSignal(t testing.TB, where string, s *signal.Signal) {
	t.Helper()
	if s.ID == "" {
		t.Errorf("%s: no ID", where)
	}
	if s.Time.IsZero() {
		t.Errorf("%s: zero Time", where)
	}
	if s.ClassUID == signal.ClassUnknown {
		t.Errorf("%s: no class_uid", where)
	}
	if !ocsfSeverities[s.Severity] {
		t.Errorf("%s: severity_id %d is not an OCSF severity", where, s.Severity)
	}
	if math.IsNaN(s.Score) || s.Score < 0 || s.Score > 1 {
		t.Errorf("%s: Score %v outside 0..1", where, s.Score)
	}
	if s.Product == "" {
		t.Errorf("%s: no Product", where)
	}
	if len(s.Attrs) > signal.MaxAttrs {
		t.Errorf("%s: %d attrs, more than MaxAttrs %d", where, len(s.Attrs), signal.MaxAttrs)
	}
	for k, v := range s.Attrs {
		if k == "" {
			t.Errorf("%s: attr with an empty key", where)
		}
		if len(v) > signal.MaxAttrLen {
			t.Errorf("%s: attr %q is %d bytes, more than MaxAttrLen %d", where, k, len(v), signal.MaxAttrLen)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Errorf("%s: marshal: %v", where, err)
		return
	}
	var back signal.Signal
	if err := json.Unmarshal(b, &back); err != nil {
		t.Errorf("%s: unmarshal what Marshal wrote: %v\n%s", where, err, b)
		return
	}
	if back.ID != s.ID || !back.Time.Equal(s.Time) {
		t.Errorf("%s: JSON round trip changed id or time: %s %v -> %s %v", where, s.ID, s.Time, back.ID, back.Time)
	}
}

// SameAsReference checks a parser that is reused from record to record
// against a reference parser (typically the adapter's previous version,
// kept in a test file): over recs, twice over, one parser made by newParser
// must give what ref gives (Signals and error text, the reference's error
// passed through normErr when it is not nil), with each record's buffer
// overwritten after parsing as the reader does, and its AppendParse, when
// it is a source.Appender, must append exactly what Parse returns.
func SameAsReference(t testing.TB, newParser func() source.Parser, ref source.Parser, recs [][]byte, normErr func(string) string) {
	t.Helper()
	if normErr == nil {
		normErr = func(s string) string { return s }
	}
	p, other := newParser(), newParser()
	ap, _ := other.(source.Appender)
	var appended []signal.Signal
	for i := 0; i < 2*len(recs); i++ {
		data := bytes.Clone(recs[i%len(recs)])
		rec := source.Record{Data: data, File: "f", Line: i + 1}
		got, err := p.Parse(rec)
		want, wantErr := ref.Parse(rec)
		if ap != nil {
			n := len(appended)
			var aerr error
			appended, aerr = ap.AppendParse(appended, rec)
			if fmt.Sprint(aerr) != fmt.Sprint(err) || !reflect.DeepEqual(appended[n:], got) && len(got)+len(appended[n:]) > 0 {
				t.Fatalf("record %d: AppendParse appended %+v %v, Parse gave %+v %v", i, appended[n:], aerr, got, err)
			}
		}
		for j := range data {
			data[j] = 'x'
		}
		if fmt.Sprint(err) != normErr(fmt.Sprint(wantErr)) || !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d, one parser: %s\n got  %+v %v\n want %+v %v", i, recs[i%len(recs)], got, err, want, wantErr)
		}
	}
}
