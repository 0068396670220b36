// Package oci attaches signed attestations to images in their registry the
// way cosign does, so that admission controllers that read cosign
// attestations (Kyverno verifyImages, Sigstore policy-controller) find them:
// the envelope is a layer of an OCI image tagged sha256-<hex>.att in the
// image's repository, with media type application/vnd.dsse.envelope.v1+json
// and cosign's annotations.
//
// Registry access goes through go-containerregistry's remote package: the
// Docker credential helpers and config for authentication, TLS verified,
// plain HTTP only for localhost and loopback addresses as
// go-containerregistry decides.
package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What cosign writes for an attestation (cosign's pkg/oci/static and
// pkg/types: DssePayloadType, SignatureAnnotationKey).
const (
	// DSSEMediaType is the layer media type of a DSSE envelope.
	DSSEMediaType types.MediaType = "application/vnd.dsse.envelope.v1+json"
	// SignatureAnnotation is present and empty on attestation layers: the
	// signature is inside the envelope.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// PredicateTypeAnnotation names the statement's predicate type.
	PredicateTypeAnnotation = "predicateType"
	// Suffix is the tag suffix of the attestation image.
	Suffix = "att"
)

// Tag is where cosign keeps attestations for the image ref: the same
// repository, tag "sha256-<hex>.att".
func Tag(ref name.Digest) (name.Tag, error) {
	alg, hexd, ok := strings.Cut(ref.DigestStr(), ":")
	if !ok {
		return name.Tag{}, fmt.Errorf("image %s: digest %q has no algorithm", ref, ref.DigestStr())
	}
	return ref.Context().Tag(fmt.Sprintf("%s-%s.%s", alg, hexd, Suffix)), nil
}

// Attach adds envelope to the attestations of the image ref and pushes
// them. The image must exist. An envelope already attached (same bytes) is
// not added twice. It returns the attestation tag and the digest of its
// manifest.
func Attach(ctx context.Context, ref name.Digest, envelope []byte, predicateType string, opts ...remote.Option) (name.Tag, v1.Hash, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	tag, err := Tag(ref)
	if err != nil {
		return tag, v1.Hash{}, err
	}
	if _, err := remote.Head(ref, opts...); err != nil {
		if isNotFound(err) {
			return tag, v1.Hash{}, fmt.Errorf("image %s is not in its registry: push it before attaching attestations", ref)
		}
		return tag, v1.Hash{}, fmt.Errorf("image %s: %w", ref, err)
	}

	img, err := remote.Image(tag, opts...)
	switch {
	case isNotFound(err):
		img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	case err != nil:
		return tag, v1.Hash{}, fmt.Errorf("read attestations %s: %w", tag, err)
	}
	layer := static.NewLayer(envelope, DSSEMediaType)
	ld, err := layer.Digest()
	if err != nil {
		return tag, v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return tag, v1.Hash{}, fmt.Errorf("read attestations %s: %w", tag, err)
	}
	dup := false
	for _, l := range layers {
		if d, err := l.Digest(); err == nil && d == ld {
			dup = true
		}
	}
	if !dup {
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     layer,
			MediaType: DSSEMediaType,
			Annotations: map[string]string{
				SignatureAnnotation:     "",
				PredicateTypeAnnotation: predicateType,
			},
		})
		if err != nil {
			return tag, v1.Hash{}, fmt.Errorf("add attestation: %w", err)
		}
		if err := remote.Write(tag, img, opts...); err != nil {
			return tag, v1.Hash{}, fmt.Errorf("push attestations %s: %w", tag, err)
		}
	}
	h, err := img.Digest()
	if err != nil {
		return tag, v1.Hash{}, err
	}
	return tag, h, nil
}

// Attestation is one envelope attached to an image.
type Attestation struct {
	Envelope      []byte
	PredicateType string
}

// Attestations reads the envelopes attached to the image ref; none is an
// empty list, not an error.
func Attestations(ctx context.Context, ref name.Digest, opts ...remote.Option) ([]Attestation, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	tag, err := Tag(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(tag, opts...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read attestations %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read attestations %s: %w", tag, err)
	}
	var out []Attestation
	for i, desc := range m.Layers {
		if desc.MediaType != DSSEMediaType {
			continue
		}
		l, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("attestation %d of %s: %w", i, tag, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("attestation %d of %s: %w", i, tag, err)
		}
		b, err := readAll(rc, desc.Size)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("attestation %d of %s: %w", i, tag, err)
		}
		out = append(out, Attestation{Envelope: b, PredicateType: desc.Annotations[PredicateTypeAnnotation]})
	}
	return out, nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// maxEnvelope bounds what is read from a registry layer.
const maxEnvelope = 16 << 20

func readAll(r io.Reader, size int64) ([]byte, error) {
	if size > maxEnvelope {
		return nil, fmt.Errorf("layer of %d bytes, more than the %d allowed", size, maxEnvelope)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxEnvelope+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxEnvelope {
		return nil, fmt.Errorf("layer longer than %d bytes", maxEnvelope)
	}
	return b, nil
}
