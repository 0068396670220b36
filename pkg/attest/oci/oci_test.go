package oci

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pulsegate/pulsegate/pkg/attest"
)

// pushImage starts an in-memory registry and pushes a random image to it;
// it returns the image's reference by digest.
func pushImage(t *testing.T) name.Digest {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/payments/api:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.Context().Digest(d.String())
}

func envelope(t *testing.T, sk ed25519.PrivateKey, ref name.Digest, verdict string) []byte {
	t.Helper()
	dec, _ := json.Marshal(map[string]any{
		"decision_id": "d-1", "time": time.Now().UTC().Format(time.RFC3339), "verdict": verdict, "mode": "enforce", "enforced": true,
		"release": map[string]any{"images": []map[string]string{{"ref": ref.String(), "repo": ref.Context().Name(), "digest": ref.DigestStr()}}},
	})
	st, _, err := attest.NewStatement(dec)
	if err != nil {
		t.Fatal(err)
	}
	e, err := attest.Sign(st, sk)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Marshal()
	return b
}

func TestAttachAndReadBack(t *testing.T) {
	ctx := t.Context()
	ref := pushImage(t)
	pk, sk, _ := ed25519.GenerateKey(rand.Reader)

	tag, err := Tag(ref)
	if err != nil {
		t.Fatal(err)
	}
	wantTag := "sha256-" + strings.TrimPrefix(ref.DigestStr(), "sha256:") + ".att"
	if tag.TagStr() != wantTag || tag.Context().Name() != ref.Context().Name() {
		t.Fatalf("tag %s, want %s:%s", tag, ref.Context().Name(), wantTag)
	}

	none, err := Attestations(ctx, ref)
	if err != nil || len(none) != 0 {
		t.Fatalf("before attaching: %d attestations, %v", len(none), err)
	}

	env1 := envelope(t, sk, ref, "proceed")
	gotTag, h1, err := Attach(ctx, ref, env1, attest.PredicateType)
	if err != nil {
		t.Fatal(err)
	}
	if gotTag.String() != tag.String() {
		t.Fatalf("attached under %s, want %s", gotTag, tag)
	}

	// What a cosign reader sees: an OCI manifest under the .att tag whose
	// layer is the envelope, with cosign's annotations.
	desc, err := remote.Get(tag)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != h1 || desc.MediaType != types.OCIManifestSchema1 {
		t.Fatalf("manifest %s %s, want %s %s", desc.Digest, desc.MediaType, h1, types.OCIManifestSchema1)
	}
	img, _ := desc.Image()
	m, _ := img.Manifest()
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 {
		t.Fatalf("manifest config %s, %d layers", m.Config.MediaType, len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != DSSEMediaType || l.Annotations[PredicateTypeAnnotation] != attest.PredicateType {
		t.Fatalf("layer %+v", l)
	}
	if v, ok := l.Annotations[SignatureAnnotation]; !ok || v != "" {
		t.Fatalf("signature annotation %q present=%v, want present and empty", v, ok)
	}

	got, err := Attestations(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0].Envelope, env1) || got[0].PredicateType != attest.PredicateType {
		t.Fatalf("read back %d attestations", len(got))
	}
	e, err := attest.ParseEnvelope(got[0].Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(e, attest.Options{Key: pk, Image: ref.String(), MaxAge: time.Hour}); err != nil {
		t.Fatalf("verify what was pushed: %v", err)
	}

	// The same envelope again changes nothing; a new one is appended.
	if _, h, err := Attach(ctx, ref, env1, attest.PredicateType); err != nil || h != h1 {
		t.Fatalf("re-attach: %s %v, want %s unchanged", h, err, h1)
	}
	env2 := envelope(t, sk, ref, "block")
	if _, h, err := Attach(ctx, ref, env2, attest.PredicateType); err != nil || h == h1 {
		t.Fatalf("second attach: %s %v", h, err)
	}
	got, err = Attestations(ctx, ref)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0].Envelope, env1) || !bytes.Equal(got[1].Envelope, env2) {
		t.Fatalf("after two attestations: %d, %v", len(got), err)
	}
}

func TestAttachMissingImage(t *testing.T) {
	ref := pushImage(t)
	missing := ref.Context().Digest("sha256:" + strings.Repeat("0", 64))
	_, _, err := Attach(t.Context(), missing, []byte(`{}`), attest.PredicateType)
	if err == nil || !strings.Contains(err.Error(), "is not in its registry") {
		t.Fatalf("err = %v", err)
	}
}
