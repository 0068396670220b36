package attest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/pulsegate/pulsegate/pkg/attest"
)

// bigDecision is a decision record with n targets and n reasons, the
// sizes that drive the payload.
func bigDecision(n int) []byte {
	d := map[string]any{
		"decision_id": "d-1", "time": "2026-11-30T10:00:00Z", "verdict": "proceed", "mode": "enforce", "enforced": true,
		"summary": "PROCEED", "release": map[string]any{"images": []map[string]string{{
			"ref": "registry.example/a@sha256:1111111111111111111111111111111111111111111111111111111111111111", "repo": "registry.example/a",
			"digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}}},
	}
	var targets, reasons []map[string]any
	for i := range n {
		targets = append(targets, map[string]any{"kind": "Node", "name": fmt.Sprintf("node-%d", i), "relation": "eligible-node", "reason": "new pods of Deployment payments/api can land here"})
		reasons = append(reasons, map[string]any{"rule": "severe-finding", "message": fmt.Sprintf("Falco \"Terminal shell in container\" (critical) on node-%d", i)})
	}
	d["targets"], d["reasons"] = targets, reasons
	b, _ := json.Marshal(d)
	return b
}

// BenchmarkVerify compares pulsegate's ParseEnvelope+Verify (signature,
// statement, predicate, subject, age, verdict) with the DSSE reference
// implementation's envelope decoding and signature check alone.
func BenchmarkVerify(b *testing.B) {
	_, _, pk, sk := keys(&testing.T{})
	for _, n := range []int{10, 100, 1000} {
		st, _, err := attest.NewStatement(bigDecision(n))
		if err != nil {
			b.Fatal(err)
		}
		env, _ := attest.Sign(st, sk)
		raw, _ := env.Marshal()
		opts := attest.Options{Key: pk, Image: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			MaxAge: time.Hour, Now: time.Date(2026, 11, 30, 10, 1, 0, 0, time.UTC)}
		b.Run(fmt.Sprintf("targets=%d/bytes=%d/pulsegate", n, len(raw)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				e, err := attest.ParseEnvelope(raw)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := attest.Verify(e, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		ev, _ := dsse.NewEnvelopeVerifier(edVerifier{pk})
		b.Run(fmt.Sprintf("targets=%d/bytes=%d/dsse-reference", n, len(raw)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var e dsse.Envelope
				if err := json.Unmarshal(raw, &e); err != nil {
					b.Fatal(err)
				}
				if _, err := ev.Verify(context.Background(), &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSign compares pulsegate's NewStatement+Sign+Marshal with the
// reference implementation signing the same statement bytes.
func BenchmarkSign(b *testing.B) {
	_, _, _, sk := keys(&testing.T{})
	for _, n := range []int{10, 100, 1000} {
		dec := bigDecision(n)
		b.Run(fmt.Sprintf("targets=%d/pulsegate", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st, _, err := attest.NewStatement(dec)
				if err != nil {
					b.Fatal(err)
				}
				env, err := attest.Sign(st, sk)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := env.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
		st, _, _ := attest.NewStatement(dec)
		payload, _ := json.Marshal(st)
		es, _ := dsse.NewEnvelopeSigner(edSigner{sk})
		b.Run(fmt.Sprintf("targets=%d/dsse-reference", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, err := es.SignPayload(context.Background(), attest.PayloadType, payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
