package kube

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// seedFiles are real manifests: this package's test data and the demo's
// snapshot and releases (examples/demo/generate.py).
func seedFiles(f *testing.F) {
	for _, pat := range []string{
		"testdata/*/*.*", "testdata/*/*/*.*",
		"../../examples/demo/releases/*.yaml", "../../examples/demo/inventory.json",
	} {
		files, err := filepath.Glob(pat)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "---", "---\n---\n", "kind: List\nitems:\n- kind: List\n  items: [{kind: A}]\n",
		`[[{"kind": "A"}]]`, `{"kind": "A"} {"kind": "B"}`, "{", "[", "- - - kind: A",
		"kind: A\n--- # c\nkind: B\n", "\ufeff---\nkind: A", "a: &a [*a]", "kind: !!binary aGVsbG8=",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks that Parse never panics on untrusted input, and that
// what it returns is well formed: a kind, a line inside the file, the name
// given for the file, valid JSON; and the same result every time.
func FuzzParse(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse(data, "fuzz.yaml")
		lines := bytes.Count(data, []byte{'\n'}) + 1
		for _, o := range objs {
			if o.Kind == "" {
				t.Errorf("object without kind at %s", o.Where())
			}
			if o.File != "fuzz.yaml" {
				t.Errorf("File = %q", o.File)
			}
			if o.Line < 1 || o.Line > lines {
				t.Errorf("Line = %d, the input has %d lines", o.Line, lines)
			}
			if !json.Valid(o.JSON) {
				t.Errorf("invalid JSON at %s: %q", o.Where(), o.JSON)
			}
		}
		again, err2 := Parse(data, "fuzz.yaml")
		if len(again) != len(objs) || (err == nil) != (err2 == nil) {
			t.Errorf("Parse is not deterministic: %d/%v then %d/%v", len(objs), err, len(again), err2)
		}
	})
}
