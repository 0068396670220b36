package attest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// Envelope is a DSSE envelope. Payload holds the decoded bytes; JSON
// encodes it, and each signature, in standard base64 as the specification
// asks.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature over PAE(payloadType, payload).
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// Limits on untrusted envelopes.
const (
	// MaxEnvelopeBytes bounds an envelope file: a decision with hundreds
	// of targets and reasons is well under 1 MiB.
	MaxEnvelopeBytes = 16 << 20
	// MaxSignatures bounds the signatures tried.
	MaxSignatures = 16
)

// Verification failures. Verify wraps exactly one of them.
var (
	ErrEnvelope  = errors.New("not a valid DSSE envelope")
	ErrSignature = errors.New("signature does not verify with the given key")
	ErrStatement = errors.New("not a pulsegate in-toto statement")
	ErrSubject   = errors.New("image is not a subject of the attestation")
	ErrExpired   = errors.New("decision is too old")
	ErrVerdict   = errors.New("decision does not allow the release")
)

// PAE is DSSE's pre-authentication encoding, the bytes that are signed:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, with lengths in
// ASCII decimal.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payloadType) + len(payload) + 32)
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// Sign encodes st and signs it with key.
func Sign(st *Statement, key ed25519.PrivateKey) (*Envelope, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("sign: not an ed25519 private key")
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	sig := ed25519.Sign(key, PAE(PayloadType, payload))
	return &Envelope{
		PayloadType: PayloadType,
		Payload:     payload,
		// keyid stays empty, as cosign leaves it: DSSE verifiers (the
		// reference implementation, sigstore's, so cosign's and Kyverno's)
		// skip a signature whose keyid differs from the one they derive
		// for their key, and each derives it its own way.
		Signatures: []Signature{{Sig: sig}},
	}, nil
}

// Marshal encodes the envelope as one line of JSON.
func (e *Envelope) Marshal() ([]byte, error) { return json.Marshal(e) }

// ParseEnvelope decodes an envelope. It accepts standard and URL-safe
// base64, padded or not (the DSSE specification asks decoders to), and
// wraps ErrEnvelope for anything else.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrEnvelope, len(b), MaxEnvelopeBytes)
	}
	var raw struct {
		PayloadType *string `json:"payloadType"`
		Payload     *string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	switch {
	case raw.PayloadType == nil:
		return nil, fmt.Errorf("%w: field payloadType is missing", ErrEnvelope)
	case raw.Payload == nil:
		return nil, fmt.Errorf("%w: field payload is missing", ErrEnvelope)
	case len(raw.Signatures) == 0:
		return nil, fmt.Errorf("%w: field signatures is empty", ErrEnvelope)
	case len(raw.Signatures) > MaxSignatures:
		return nil, fmt.Errorf("%w: field signatures: %d signatures, more than the %d allowed", ErrEnvelope, len(raw.Signatures), MaxSignatures)
	}
	payload, err := decodeB64(*raw.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: field payload: %w", ErrEnvelope, err)
	}
	e := &Envelope{PayloadType: *raw.PayloadType, Payload: payload}
	for i, s := range raw.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("%w: field signatures[%d].sig: %w", ErrEnvelope, i, err)
		}
		e.Signatures = append(e.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	}
	return e, nil
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Options says what Verify checks beyond the signature.
type Options struct {
	// Key verifies the signature. Required.
	Key ed25519.PublicKey
	// Image must be a subject: "sha256:<hex>", or "NAME@sha256:<hex>" to
	// require the subject's name too. Empty skips the subject check.
	Image string
	// MaxAge is the oldest decision accepted, measured from its time field
	// to Now. Zero skips the age check.
	MaxAge time.Duration
	// Now is the time of the check; zero means time.Now().
	Now time.Time
	// AllowBlock accepts a block verdict; by default only proceed passes.
	AllowBlock bool
}

// ClockSkew is how far in the future a decision time may lie and still
// pass the age check.
const ClockSkew = 5 * time.Minute

// Result is what a verified envelope says.
type Result struct {
	Statement *Statement
	Predicate Predicate
	// Time is the decision's time; Age is Now minus Time.
	Time time.Time
	Age  time.Duration
}

// Verify checks the envelope: payload type and signature first (nothing in
// an unsigned payload is trusted), then the statement, the subject, the
// age and the verdict. The error wraps one of ErrEnvelope, ErrSignature,
// ErrStatement, ErrSubject, ErrExpired or ErrVerdict.
func Verify(e *Envelope, o Options) (*Result, error) {
	if len(o.Key) != ed25519.PublicKeySize {
		return nil, errors.New("verify: no ed25519 public key given")
	}
	if e.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: payloadType %q, want %q", ErrEnvelope, e.PayloadType, PayloadType)
	}
	msg := PAE(e.PayloadType, e.Payload)
	ok := false
	for _, s := range e.Signatures {
		if len(s.Sig) == ed25519.SignatureSize && ed25519.Verify(o.Key, msg, s.Sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w (key %s; %d signatures tried)", ErrSignature, KeyID(o.Key), len(e.Signatures))
	}

	var st Statement
	if err := json.Unmarshal(e.Payload, &st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStatement, err)
	}
	if st.Type != StatementType {
		return nil, fmt.Errorf("%w: _type %q, want %q", ErrStatement, st.Type, StatementType)
	}
	if st.PredicateType != PredicateType {
		return nil, fmt.Errorf("%w: predicateType %q, want %q", ErrStatement, st.PredicateType, PredicateType)
	}
	r := &Result{Statement: &st}
	if err := json.Unmarshal(st.Predicate, &r.Predicate); err != nil {
		return nil, fmt.Errorf("%w: predicate: %w", ErrStatement, err)
	}
	t, err := time.Parse(time.RFC3339Nano, r.Predicate.Time)
	if err != nil {
		return nil, fmt.Errorf("%w: predicate field time: %q is not an RFC 3339 time", ErrStatement, r.Predicate.Time)
	}
	r.Time = t

	if o.Image != "" {
		if err := matchSubject(st.Subject, o.Image); err != nil {
			return r, err
		}
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	r.Age = now.Sub(t)
	if o.MaxAge > 0 {
		if r.Age > o.MaxAge {
			return r, fmt.Errorf("%w: decided at %s, %s before %s, more than the maximum age %s",
				ErrExpired, t.UTC().Format(time.RFC3339), r.Age.Round(time.Second), now.UTC().Format(time.RFC3339), o.MaxAge)
		}
		if -r.Age > ClockSkew {
			return r, fmt.Errorf("%w: decided at %s, %s in the future (more than the allowed clock skew %s)",
				ErrExpired, t.UTC().Format(time.RFC3339), (-r.Age).Round(time.Second), ClockSkew)
		}
	}
	switch r.Predicate.Verdict {
	case policy.Proceed:
	case policy.Block:
		if !o.AllowBlock {
			how := ""
			if !r.Predicate.Enforced {
				how = " (recorded in shadow mode)"
			}
			return r, fmt.Errorf("%w: verdict block%s: %s", ErrVerdict, how, r.Predicate.Summary)
		}
	default:
		return r, fmt.Errorf("%w: predicate field verdict: %q is neither proceed nor block", ErrStatement, r.Predicate.Verdict)
	}
	return r, nil
}

// matchSubject checks that image ("sha256:<hex>" or "NAME@sha256:<hex>")
// is one of subjects.
func matchSubject(subjects []Subject, image string) error {
	name, dg := "", image
	if i := strings.LastIndex(image, "@"); i >= 0 {
		name, dg = image[:i], image[i+1:]
	}
	alg, hexd, err := splitDigest(dg)
	if err != nil {
		return fmt.Errorf("%w: --image %q: %w", ErrSubject, image, err)
	}
	var have []string
	for _, s := range subjects {
		if s.Digest[alg] == hexd && (name == "" || sameRepo(name, s.Name)) {
			return nil
		}
		have = append(have, s.Name+"@"+alg+":"+s.Digest[alg])
	}
	return fmt.Errorf("%w: %s is not among the %d subjects [%s]", ErrSubject, image, len(subjects), strings.Join(have, ", "))
}

// sameRepo compares repository names, allowing a tag on the wanted name.
// Names are compared as written: the subject's name is the repository as
// the release's manifests spell it.
func sameRepo(want, have string) bool {
	if i := strings.LastIndex(want, ":"); i > strings.LastIndex(want, "/") {
		want = want[:i]
	}
	return want == have
}
