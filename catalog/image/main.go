// Command image builds pulsegate's container image as an OCI image layout
// with go-containerregistry, without a Docker engine, and pins the
// catalog's image references to its digest.
//
//	go run ./catalog/image -binary bin/pulsegate -out dist/pulsegate-image
//	go run ./catalog/image -pin -layout dist/pulsegate-image -repo pulsegate/pulsegate -tag 0.1.0 catalog
//
// The image is one layer: /usr/local/bin/pulsegate (the static binary),
// the machine's CA certificates at /etc/ssl/certs/ca-certificates.crt, and
// /etc/passwd and /etc/group naming the non-root user 65532 it runs as.
// Every timestamp is the Unix epoch and every owner root, so the same
// binary and certificates give the same digest on every build.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID the image runs as: the "nonroot" user of distroless images,
// the one the catalog's securityContexts name.
const UID = 65532

// epoch is every timestamp in the image.
var epoch = time.Unix(0, 0).UTC()

// Options say what goes into the image.
type Options struct {
	Binary  []byte // the static pulsegate binary
	CACerts []byte // a PEM bundle
	Arch    string // GOARCH of the binary
	Version string // the org.opencontainers.image.version label; "" leaves it out
}

// Build returns the image.
func Build(o Options) (v1.Image, error) {
	if len(o.Binary) == 0 {
		return nil, errors.New("image: no binary")
	}
	if !bytes.Contains(o.CACerts, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, errors.New("image: the CA bundle holds no PEM certificate")
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	layer, err := fsLayer([]file{
		{name: "etc/", dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID))},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID))},
		{name: "etc/ssl/", dir: true},
		{name: "etc/ssl/certs/", dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: o.CACerts},
		{name: "home/", dir: true},
		{name: "home/nonroot/", dir: true, uid: UID},
		{name: "usr/", dir: true},
		{name: "usr/local/", dir: true},
		{name: "usr/local/bin/", dir: true},
		{name: "usr/local/bin/pulsegate", mode: 0o755, data: o.Binary},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		// An empty map would serialize differently from nil (which
		// validate.Image notices); the layer says what it holds instead.
		Annotations: map[string]string{"org.opencontainers.image.title": "pulsegate binary, CA certificates, user 65532"},
		History:     v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "pulsegate catalog/image: pulsegate binary, CA certificates, user 65532"},
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: epoch}
	cf.Architecture, cf.OS = o.Arch, "linux"
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, UID),
		Entrypoint: []string{"/usr/local/bin/pulsegate"},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"},
		WorkingDir: "/home/nonroot",
		Labels: map[string]string{
			"org.opencontainers.image.title":    "pulsegate",
			"org.opencontainers.image.licenses": "Apache-2.0",
			"org.opencontainers.image.source":   "https://github.com/pulsegate/pulsegate",
		},
	}
	if o.Version != "" {
		cf.Config.Labels["org.opencontainers.image.version"] = o.Version
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

type file struct {
	name string
	dir  bool
	mode int64
	uid  int
	data []byte
}

// fsLayer writes the files as a tar with fixed owners and times.
func fsLayer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, ModTime: epoch, Uid: f.uid, Gid: f.uid, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, f.mode, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("image: %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("image: %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// WriteLayout replaces dir with an OCI image layout holding img under the
// ref.name tag.
func WriteLayout(dir string, img v1.Image, tag string) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", dir, err)
	}
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", dir, err)
	}
	return img.Digest()
}

// LayoutDigest returns the digest of the one image in an OCI layout.
func LayoutDigest(dir string) (v1.Hash, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", dir, err)
	}
	if len(m.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("layout %s: %d images, want 1", dir, len(m.Manifests))
	}
	return m.Manifests[0].Digest, nil
}

// pinned matches an image reference of repo with a tag and a digest.
func pinnedRef(repo string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(repo) + `:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[a-f0-9]{64}`)
}

// Pin rewrites every reference to repo in the YAML and Markdown files under
// root to repo:tag@digest, and returns the files it changed.
func Pin(root, repo, tag string, digest v1.Hash) ([]string, error) {
	re := pinnedRef(repo)
	ref := repo + ":" + tag + "@" + digest.String()
	var changed []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" && ext != ".md" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		nb := re.ReplaceAll(b, []byte(ref))
		if bytes.Equal(b, nb) {
			return nil
		}
		changed = append(changed, path)
		return os.WriteFile(path, nb, 0o644)
	})
	sort.Strings(changed)
	return changed, err
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	binary := fl.String("binary", "bin/pulsegate", "the static pulsegate binary")
	certs := fl.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "the CA certificates (PEM bundle)")
	out := fl.String("out", "dist/pulsegate-image", "the OCI image layout to write (replaced)")
	arch := fl.String("arch", runtime.GOARCH, "the binary's architecture")
	tag := fl.String("tag", "0.1.0", "the tag: the layout's ref.name and, with -pin, the tag pinned")
	version := fl.String("version", "", "the org.opencontainers.image.version label")
	pin := fl.Bool("pin", false, "pin the image references under the given folders to the layout's digest")
	lay := fl.String("layout", "dist/pulsegate-image", "with -pin: the layout whose digest is pinned")
	repo := fl.String("repo", "pulsegate/pulsegate", "with -pin: the repository whose references are pinned")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *pin {
		d, err := LayoutDigest(*lay)
		if err != nil {
			return err
		}
		if fl.NArg() == 0 {
			return errors.New("-pin: name the folders to pin, e.g. catalog")
		}
		for _, root := range fl.Args() {
			changed, err := Pin(root, *repo, *tag, d)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: %s:%s@%s in %d files\n", root, *repo, *tag, d, len(changed))
		}
		return nil
	}
	b, err := os.ReadFile(*binary)
	if err != nil {
		return fmt.Errorf("binary: %w (run make build first)", err)
	}
	c, err := os.ReadFile(*certs)
	if err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	img, err := Build(Options{Binary: b, CACerts: c, Arch: *arch, Version: *version})
	if err != nil {
		return err
	}
	d, err := WriteLayout(*out, img, *tag)
	if err != nil {
		return err
	}
	if err := os.WriteFile(strings.TrimSuffix(*out, "/")+".digest", []byte(d.String()+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", *out, d)
	return nil
}
