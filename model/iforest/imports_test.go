package iforest

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package lean: the standard library and gonum only
// (DESIGN.md: gonum only under model/ and pkg/feature; no I/O packages besides
// what Save and Load need).
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			if !std && !strings.HasPrefix(path, "gonum.org/v1/gonum/") {
				t.Errorf("%s imports %s: only the standard library and gonum are allowed", name, path)
			}
			for _, banned := range []string{"os", "net/http", "log", "log/slog"} {
				if path == banned {
					t.Errorf("%s imports %s: the package does no I/O of its own", name, path)
				}
			}
		}
	}
}
