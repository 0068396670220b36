package attest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/pulsegate/pulsegate/pkg/attest"
)

// The interoperability tests check pulsegate's envelopes and keys with the
// libraries cosign itself uses: sigstore's key loading (cosign's
// --key), its DSSE verifier (cosign verify-attestation), and
// secure-systems-lab's reference DSSE implementation. In the other
// direction, envelopes those libraries sign verify with pulsegate.

const decisionJSON = `{"decision_id":"d-1","time":"2026-11-30T10:00:00Z","verdict":"proceed","mode":"enforce","enforced":true,"summary":"PROCEED","release":{"images":[{"ref":"registry.example/a@sha256:1111111111111111111111111111111111111111111111111111111111111111","repo":"registry.example/a","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}]}}`

func keys(t *testing.T) (pubPEM, privPEM []byte, pk ed25519.PublicKey, sk ed25519.PrivateKey) {
	t.Helper()
	pubPEM, privPEM, err := attest.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sk, err = attest.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pk, err = attest.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestInteropSigstore(t *testing.T) {
	pubPEM, privPEM, pk, sk := keys(t)

	// cosign reads the public key file like this (sigs.LoadPublicKeyRaw).
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		t.Fatalf("sigstore cannot read pulsegate's public key: %v", err)
	}
	if !pk.Equal(pub) {
		t.Fatal("sigstore read another public key")
	}
	// ... and a PKCS #8 private key like this (cosign import-key-pair).
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(privPEM, cryptoutils.SkipPassword)
	if err != nil {
		t.Fatalf("sigstore cannot read pulsegate's private key: %v", err)
	}
	if !sk.Equal(priv) {
		t.Fatal("sigstore read another private key")
	}

	st, _, err := attest.NewStatement([]byte(decisionJSON))
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.Sign(st, sk)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := env.Marshal()

	// cosign verify-attestation --key: signature.LoadVerifier, wrapped for DSSE.
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigdsse.WrapVerifier(v).VerifySignature(bytes.NewReader(b), nil); err != nil {
		t.Fatalf("sigstore's DSSE verifier rejects pulsegate's envelope: %v", err)
	}
	// A keyid that is not the verifier's own makes it skip the signature:
	// the reason Sign leaves keyid empty.
	withID := bytes.Replace(b, []byte(`"keyid":""`), []byte(`"keyid":"`+attest.KeyID(pk)+`"`), 1)
	if err := sigdsse.WrapVerifier(v).VerifySignature(bytes.NewReader(withID), nil); err == nil {
		t.Fatal("sigstore accepted a signature with a foreign keyid; Sign could set one")
	}

	// The other way: an envelope signed by sigstore's DSSE signer verifies here.
	s, err := signature.LoadSigner(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(st)
	theirs, err := sigdsse.WrapSigner(s, attest.PayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	e, err := attest.ParseEnvelope(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(e, attest.Options{Key: pk, Image: "sha256:1111111111111111111111111111111111111111111111111111111111111111", Now: time.Date(2026, 11, 30, 10, 1, 0, 0, time.UTC), MaxAge: time.Hour}); err != nil {
		t.Fatalf("pulsegate rejects sigstore's envelope: %v", err)
	}
}

// edVerifier is a secure-systems-lab dsse.Verifier for an ed25519 key; an
// empty KeyID lets it try every signature.
type edVerifier struct{ pk ed25519.PublicKey }

func (v edVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.pk, data, sig) {
		return errors.New("ed25519: bad signature")
	}
	return nil
}
func (v edVerifier) KeyID() (string, error)   { return "", nil }
func (v edVerifier) Public() crypto.PublicKey { return v.pk }

type edSigner struct{ sk ed25519.PrivateKey }

func (s edSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(s.sk, data), nil
}
func (s edSigner) KeyID() (string, error) { return "theirs", nil }

// TestInteropSecureSystemsLab checks both directions against the DSSE
// reference implementation.
func TestInteropSecureSystemsLab(t *testing.T) {
	_, _, pk, sk := keys(t)
	st, _, err := attest.NewStatement([]byte(decisionJSON))
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.Sign(st, sk)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := env.Marshal()
	var theirs dsse.Envelope
	if err := json.Unmarshal(b, &theirs); err != nil {
		t.Fatal(err)
	}
	ev, err := dsse.NewEnvelopeVerifier(edVerifier{pk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Verify(t.Context(), &theirs); err != nil {
		t.Fatalf("reference DSSE rejects pulsegate's envelope: %v", err)
	}
	if got := string(dsse.PAE(attest.PayloadType, env.Payload)); got != string(attest.PAE(attest.PayloadType, env.Payload)) {
		t.Fatal("PAE differs from the reference")
	}

	es, err := dsse.NewEnvelopeSigner(edSigner{sk})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(st)
	signed, err := es.SignPayload(t.Context(), attest.PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := json.Marshal(signed)
	e, err := attest.ParseEnvelope(sb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(e, attest.Options{Key: pk, AllowBlock: true}); err != nil {
		t.Fatalf("pulsegate rejects the reference's envelope: %v", err)
	}
}
