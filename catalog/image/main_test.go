package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

func opts() Options {
	return Options{Binary: []byte("\x7fELF pulsegate"), CACerts: []byte(pem), Arch: "amd64", Version: "0.1.0"}
}

// TestReproducible: the same inputs give the same digest, in memory and
// written as a layout twice, byte for byte.
func TestReproducible(t *testing.T) {
	var digests []v1.Hash
	var indexes [][]byte
	for i := 0; i < 2; i++ {
		img, err := Build(opts())
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "layout")
		d, err := WriteLayout(dir, img, "0.1.0")
		if err != nil {
			t.Fatal(err)
		}
		ld, err := LayoutDigest(dir)
		if err != nil || ld != d {
			t.Fatalf("layout digest %v (%v), image digest %v", ld, err, d)
		}
		b, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		digests, indexes = append(digests, d), append(indexes, b)
	}
	if digests[0] != digests[1] || !bytes.Equal(indexes[0], indexes[1]) {
		t.Fatalf("two builds differ: %v %v", digests[0], digests[1])
	}
	o := opts()
	o.Binary = append(o.Binary, '!')
	img, _ := Build(o)
	if d, _ := img.Digest(); d == digests[0] {
		t.Fatal("a different binary gives the same digest")
	}
}

// TestImage: go-containerregistry's own validation, OCI media types, the
// non-root user, and the files with their modes and owners.
func TestImage(t *testing.T) {
	img, err := Build(opts())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("go-containerregistry's validate.Image: %v", err)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || cf.Config.Entrypoint[0] != "/usr/local/bin/pulsegate" || cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(epoch) {
		t.Errorf("config: %+v", cf)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	got := map[string]*tar.Header{}
	data := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name], data[h.Name] = h, string(b)
	}
	for name, mode := range map[string]int64{"usr/local/bin/pulsegate": 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644, "etc/passwd": 0o644} {
		h := got[name]
		if h == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if h.Mode != mode || h.Uid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mode %o uid %d time %v", name, h.Mode, h.Uid, h.ModTime)
		}
	}
	if data["etc/ssl/certs/ca-certificates.crt"] != pem || !strings.Contains(data["etc/passwd"], "nonroot:x:65532:65532:") {
		t.Error("the certificates or the passwd entry are not as given")
	}
}

func TestBuildRejects(t *testing.T) {
	for name, o := range map[string]Options{
		"no binary": {CACerts: []byte(pem)},
		"no certs":  {Binary: []byte("x"), CACerts: []byte("not pem")},
	} {
		if _, err := Build(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPin(t *testing.T) {
	dir := t.TempDir()
	old := "pulsegate/pulsegate:0.1.0@sha256:" + strings.Repeat("0", 64)
	other := "example/kubectl:1.31@sha256:" + strings.Repeat("1", 64)
	files := map[string]string{
		"task/a.yaml": "image: " + old + "\n",
		"b/README.md": "`" + old + "` and " + other + "\n",
		"c.go":        old,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	img, _ := Build(opts())
	lay := filepath.Join(t.TempDir(), "layout")
	d, err := WriteLayout(lay, img, "0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-pin", "-layout", lay, "-tag", "0.2.0", dir}, &out); err != nil {
		t.Fatal(err)
	}
	want := "pulsegate/pulsegate:0.2.0@" + d.String()
	for name, body := range files {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		switch {
		case name == "c.go" && string(b) != body:
			t.Errorf("%s: only YAML and Markdown are pinned", name)
		case name != "c.go" && !strings.Contains(string(b), want):
			t.Errorf("%s not pinned: %s", name, b)
		case strings.Contains(body, other) && !strings.Contains(string(b), other):
			t.Errorf("%s: another image was changed", name)
		}
	}
	if !strings.Contains(out.String(), "in 2 files") {
		t.Errorf("output %q", out.String())
	}
	if _, err := layout.ImageIndexFromPath(lay); err != nil {
		t.Fatal(err)
	}
}
