package attest

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
)

// FuzzVerifyEnvelope feeds untrusted bytes through ParseEnvelope and Verify:
// neither may panic, every failure wraps one of the Err* values, and only
// the signed seed verifies.
func FuzzVerifyEnvelope(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pk := seed.Public().(ed25519.PublicKey)
	good := sign(f, decision(policy.Proceed, "r/a@"+digestA), seed)
	b, _ := good.Marshal()
	f.Add(b)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`))
	f.Add([]byte(`{"payloadType":"","payload":"","signatures":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrEnvelope) {
				t.Fatalf("parse error %v does not wrap ErrEnvelope", err)
			}
			return
		}
		_, err = Verify(e, Options{Key: pk, Image: digestA, MaxAge: time.Hour, Now: decided})
		if err == nil {
			return
		}
		for _, want := range []error{ErrEnvelope, ErrSignature, ErrStatement, ErrSubject, ErrExpired, ErrVerdict} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("verify error %v wraps none of the Err* values", err)
	})
}

// FuzzNewStatement checks that no decision record makes NewStatement panic.
func FuzzNewStatement(f *testing.F) {
	f.Add([]byte(`{"verdict":"proceed","time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a@` + digestA + `","repo":"a","digest":"` + digestA + `"}]}}`))
	f.Add([]byte(`{"verdict":"block","time":"x","release":{"images":[{"ref":"a:1"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _, err := NewStatement(data)
		if err == nil && len(st.Subject) == 0 {
			t.Fatal("statement without subject")
		}
	})
}
