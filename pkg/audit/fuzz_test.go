package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary logs to Verify: it never panics, every failure
// is an *Error with a line inside the input, and an intact log has one
// record per line.
func FuzzVerify(f *testing.F) {
	path := filepath.Join(f.TempDir(), "audit.log")
	for i := range 3 {
		if _, err := Append(path, record(i)); err != nil {
			f.Fatal(err)
		}
	}
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1,"prev":"` + Genesis + `","hash":"sha256:` + Genesis[7:] + `"}` + "\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Verify(bytes.NewReader(data))
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if ae.Line < 1 || ae.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("line %d outside the input", ae.Line)
			}
			return
		}
		if s.Records != bytes.Count(data, []byte("\n")) {
			t.Fatalf("%d records in %d lines", s.Records, bytes.Count(data, []byte("\n")))
		}
	})
}
