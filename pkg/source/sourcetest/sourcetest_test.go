package sourcetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// recorder is a testing.TB that collects failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func good() signal.Signal {
	return signal.Signal{ID: "id", Time: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), ClassUID: 1007,
		Severity: signal.SeverityLow, Score: 0.2, Product: "P"}
}

func spec(parse func(rec source.Record) ([]signal.Signal, error)) source.Spec {
	return source.Spec{Type: "t", Product: "P", Summary: "s", New: func() source.Parser { return source.ParserFunc(parse) }}
}

var counter int

func TestCheckRecordCatches(t *testing.T) {
	tests := []struct {
		name  string
		parse func(rec source.Record) ([]signal.Signal, error)
		want  string // a part of a reported failure; "" for none
	}{
		{"good", func(source.Record) ([]signal.Signal, error) { return []signal.Signal{good()}, nil }, ""},
		{"good reject", func(source.Record) ([]signal.Signal, error) { return nil, errors.New("missing field \"x\"") }, ""},
		{"panic", func(source.Record) ([]signal.Signal, error) { panic("boom") }, "parser panicked: boom"},
		{"empty reason", func(source.Record) ([]signal.Signal, error) { return nil, errors.New(" ") }, "empty reason"},
		{"neither", func(source.Record) ([]signal.Signal, error) { return nil, nil }, "no signal and no reason"},
		{"no id", func(source.Record) ([]signal.Signal, error) { s := good(); s.ID = ""; return []signal.Signal{s}, nil }, "no ID"},
		{"zero time", func(source.Record) ([]signal.Signal, error) {
			s := good()
			s.Time = time.Time{}
			return []signal.Signal{s}, nil
		}, "zero Time"},
		{"no class", func(source.Record) ([]signal.Signal, error) {
			s := good()
			s.ClassUID = 0
			return []signal.Signal{s}, nil
		}, "no class_uid"},
		{"bad severity", func(source.Record) ([]signal.Signal, error) {
			s := good()
			s.Severity = 7
			return []signal.Signal{s}, nil
		}, "not an OCSF severity"},
		{"score", func(source.Record) ([]signal.Signal, error) {
			s := good()
			s.Score = 1.5
			return []signal.Signal{s}, nil
		}, "outside 0..1"},
		{"no product", func(source.Record) ([]signal.Signal, error) {
			s := good()
			s.Product = ""
			return []signal.Signal{s}, nil
		}, "no Product"},
		{"long attr", func(source.Record) ([]signal.Signal, error) {
			s := good()
			s.Attrs = map[string]string{"k": strings.Repeat("x", signal.MaxAttrLen+1)}
			return []signal.Signal{s}, nil
		}, "more than MaxAttrLen"},
		{"keeps rec.Data", func(rec source.Record) ([]signal.Signal, error) {
			s := good()
			s.Rule = unsafe.String(unsafe.SliceData(rec.Data), len(rec.Data)) // aliases the buffer
			return []signal.Signal{s}, nil
		}, "the parser keeps rec.Data"},
		{"unstable id", func(source.Record) ([]signal.Signal, error) {
			counter++
			s := good()
			s.ID = fmt.Sprint(counter)
			return []signal.Signal{s}, nil
		}, "different signals on the second parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			CheckRecord(r, spec(tt.parse), []byte(`{"a":1}`))
			got := strings.Join(r.errs, "\n")
			switch {
			case tt.want == "" && got != "":
				t.Errorf("reported failures for a good parser:\n%s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("failures %q do not say %q", got, tt.want)
			}
		})
	}
}

func TestFindShared(t *testing.T) {
	dir := t.TempDir()
	tele := filepath.Join(dir, "data", "telemetry")
	if err := os.MkdirAll(filepath.Join(tele, "falco"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{dir, tele} {
		t.Setenv(EnvShared, v)
		got, err := FindShared()
		if err != nil || got != tele {
			t.Errorf("%s=%s: got %q, %v; want %q", EnvShared, v, got, err, tele)
		}
	}
	t.Setenv(EnvShared, filepath.Join(dir, "nope"))
	if _, err := FindShared(); err == nil || !strings.Contains(err.Error(), EnvShared) {
		t.Errorf("a wrong %s: %v", EnvShared, err)
	}
}
