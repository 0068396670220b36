// Package attest turns a gate decision into signed evidence: an in-toto
// Statement v1 whose subjects are the release's image digests and whose
// predicate is the decision, signed as a DSSE envelope with an ed25519 key.
//
// The formats follow their specifications so that other tools read them:
//
//   - Statement: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
//     (_type https://in-toto.io/Statement/v1, subject, predicateType, predicate).
//   - Envelope: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md
//     (payloadType, base64 payload, signatures over the pre-authentication
//     encoding PAE, see PAE).
//   - Keys: PEM, PKCS #8 "PRIVATE KEY" and PKIX "PUBLIC KEY", the formats
//     that cosign imports (cosign import-key-pair) and verifies with
//     (cosign verify-attestation --key).
//
// Verify checks an envelope in a fixed order (envelope, signature, statement,
// subject, age, verdict) and wraps one of the Err* values, so callers can tell
// a bad signature from an expired or blocking decision with errors.Is.
//
// Attaching an envelope to an image in its registry lives in the subpackage
// oci, so that this package needs only the standard library and pkg/policy.
package attest
