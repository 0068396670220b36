package attest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/release"
)

const (
	digestA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digestB = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	digestC = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

var decided = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func decision(v policy.Verdict, images ...string) *policy.Decision {
	d := &policy.Decision{
		DecisionID: "eee488a5-f793-d0d0-1e7c-b9fd4a23d474",
		Time:       decided,
		Verdict:    v,
		Mode:       policy.Enforce,
		Enforced:   true,
		Summary:    strings.ToUpper(string(v)) + ": test",
		Reasons:    []policy.Reason{},
		Inputs:     map[string]string{"release": digestC},
	}
	for _, im := range images {
		d.Release.Images = append(d.Release.Images, release.ParseImage(im))
	}
	return d
}

func key(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pk, sk
}

func sign(t testing.TB, d *policy.Decision, sk ed25519.PrivateKey) *Envelope {
	t.Helper()
	st, _, err := StatementFor(d)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Sign(st, sk)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPAE checks the encoding against the example in the DSSE
// specification (protocol.md, "Test case").
func TestPAE(t *testing.T) {
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	if got := string(PAE("", nil)); got != "DSSEv1 0  0 " {
		t.Fatalf("PAE of empties = %q", got)
	}
}

func TestStatement(t *testing.T) {
	d := decision(policy.Proceed,
		"registry.example/payments/api@"+digestA,
		"registry.example/payments/api:1.2@"+digestA, // same subject once
		"registry.example/payments/sidecar:latest",
		"registry.example/payments/init@"+digestB)
	st, unpinned, err := StatementFor(d)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		t.Fatalf("type %q predicateType %q", st.Type, st.PredicateType)
	}
	want := []Subject{
		{Name: "registry.example/payments/api", Digest: map[string]string{"sha256": strings.TrimPrefix(digestA, "sha256:")}},
		{Name: "registry.example/payments/init", Digest: map[string]string{"sha256": strings.TrimPrefix(digestB, "sha256:")}},
	}
	gotJSON, _ := json.Marshal(st.Subject)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("subjects\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if len(unpinned) != 1 || unpinned[0] != "registry.example/payments/sidecar:latest" {
		t.Fatalf("unpinned = %q", unpinned)
	}
	var p Predicate
	if err := json.Unmarshal(st.Predicate, &p); err != nil {
		t.Fatal(err)
	}
	if p.Verdict != policy.Proceed || p.DecisionID != d.DecisionID || len(p.Unpinned) != 1 {
		t.Fatalf("predicate = %+v", p)
	}
	// The predicate is the whole decision: a field Verify does not read is there too.
	if !bytes.Contains(st.Predicate, []byte(`"inputs":{"release":"`+digestC+`"}`)) {
		t.Fatalf("predicate lost the inputs: %s", st.Predicate)
	}
	b, _ := json.Marshal(st)
	if !bytes.HasPrefix(b, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[`)) {
		t.Fatalf("statement JSON starts %s", b[:60])
	}
}

func TestStatementErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"not json", `{`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"no verdict", `{"time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a@` + digestA + `","repo":"a","digest":"` + digestA + `"}]}}`, "field verdict"},
		{"no time", `{"verdict":"proceed","release":{"images":[]}}`, "field time"},
		{"bad digest", `{"verdict":"proceed","time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a@sha256:12","repo":"a","digest":"sha256:12"}]}}`, "release.images[0].digest"},
		{"md5", `{"verdict":"proceed","time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a","repo":"a","digest":"md5:00"}]}}`, "not a sha256 digest"},
		{"nothing pinned", `{"verdict":"proceed","time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a:1","repo":"a","tag":"1"}]}}`, "no image of the release is pinned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := NewStatement([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	_, unpinned, err := NewStatement([]byte(`{"verdict":"proceed","time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a:1","repo":"a","tag":"1"}]}}`))
	if !errors.Is(err, ErrNoSubject) || len(unpinned) != 1 {
		t.Fatalf("err = %v, unpinned %q", err, unpinned)
	}
}

func TestEnvelopeJSON(t *testing.T) {
	_, sk := key(t)
	e := sign(t, decision(policy.Proceed, "r/a@"+digestA), sk)
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["payloadType"] != PayloadType {
		t.Fatalf("payloadType = %v", raw["payloadType"])
	}
	p, _ := base64.StdEncoding.DecodeString(raw["payload"].(string))
	if !bytes.Equal(p, e.Payload) {
		t.Fatal("payload is not standard base64 of the statement")
	}
	back, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Payload, e.Payload) || !bytes.Equal(back.Signatures[0].Sig, e.Signatures[0].Sig) || back.Signatures[0].KeyID != e.Signatures[0].KeyID {
		t.Fatal("round trip changed the envelope")
	}
	// URL-safe base64 without padding is accepted too.
	url := strings.NewReplacer(
		raw["payload"].(string), base64.RawURLEncoding.EncodeToString(e.Payload),
	).Replace(string(b))
	if back, err := ParseEnvelope([]byte(url)); err != nil || !bytes.Equal(back.Payload, e.Payload) {
		t.Fatalf("url-safe payload: %v", err)
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"empty", ``, "unexpected end"},
		{"not object", `"x"`, "cannot unmarshal"},
		{"no payloadType", `{"payload":"","signatures":[{"sig":""}]}`, "payloadType is missing"},
		{"no payload", `{"payloadType":"x","signatures":[{"sig":""}]}`, "payload is missing"},
		{"no signatures", `{"payloadType":"x","payload":""}`, "signatures is empty"},
		{"bad base64", `{"payloadType":"x","payload":"!!","signatures":[{"sig":""}]}`, "field payload"},
		{"bad sig", `{"payloadType":"x","payload":"","signatures":[{"sig":"*"}]}`, "signatures[0].sig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnvelope([]byte(tc.json))
			if !errors.Is(err, ErrEnvelope) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrEnvelope containing %q", err, tc.want)
			}
		})
	}
}

// TestVerifyTampering signs a proceed decision and checks that every kind
// of tampering, and every failed condition, is caught with its own error.
func TestVerifyTampering(t *testing.T) {
	pk, sk := key(t)
	otherPK, otherSK := key(t)
	good := sign(t, decision(policy.Proceed, "registry.example/payments/api@"+digestA, "registry.example/payments/init@"+digestB), sk)
	opts := Options{Key: pk, Image: digestA, MaxAge: time.Hour, Now: decided.Add(30 * time.Minute)}

	if r, err := Verify(good, opts); err != nil {
		t.Fatalf("good envelope: %v", err)
	} else if r.Predicate.Verdict != policy.Proceed || r.Age != 30*time.Minute || !r.Time.Equal(decided) {
		t.Fatalf("result %+v", r)
	}

	clone := func() *Envelope {
		c := *good
		c.Payload = bytes.Clone(good.Payload)
		c.Signatures = []Signature{{KeyID: good.Signatures[0].KeyID, Sig: bytes.Clone(good.Signatures[0].Sig)}}
		return &c
	}
	resign := func(mutate func(st map[string]any)) *Envelope {
		var st map[string]any
		if err := json.Unmarshal(good.Payload, &st); err != nil {
			t.Fatal(err)
		}
		mutate(st)
		b, _ := json.Marshal(st)
		return &Envelope{PayloadType: PayloadType, Payload: b,
			Signatures: []Signature{{Sig: ed25519.Sign(sk, PAE(PayloadType, b))}}}
	}

	for _, tc := range []struct {
		name string
		env  *Envelope
		opts func(o *Options)
		want error
		msg  string
	}{
		{name: "changed payload", env: func() *Envelope {
			e := clone()
			e.Payload = bytes.Replace(e.Payload, []byte(`"enforced":true`), []byte(`"enforced":fals`), 1)
			return e
		}(), want: ErrSignature},
		{name: "changed payload type", env: func() *Envelope {
			e := clone()
			e.PayloadType = "application/json"
			return e
		}(), want: ErrEnvelope, msg: `payloadType "application/json"`},
		{name: "changed signature", env: func() *Envelope {
			e := clone()
			e.Signatures[0].Sig[7] ^= 0x01
			return e
		}(), want: ErrSignature},
		{name: "truncated signature", env: func() *Envelope {
			e := clone()
			e.Signatures[0].Sig = e.Signatures[0].Sig[:10]
			return e
		}(), want: ErrSignature},
		{name: "wrong key", env: good, opts: func(o *Options) { o.Key = otherPK }, want: ErrSignature, msg: KeyID(otherPK)},
		{name: "signed by another key", env: sign(t, decision(policy.Proceed, "r/a@"+digestA), otherSK), want: ErrSignature},
		{name: "wrong subject", env: good, opts: func(o *Options) { o.Image = digestC }, want: ErrSubject, msg: "not among the 2 subjects"},
		{name: "wrong subject name", env: good, opts: func(o *Options) { o.Image = "registry.example/other@" + digestA }, want: ErrSubject},
		{name: "bad image digest", env: good, opts: func(o *Options) { o.Image = "sha256:xyz" }, want: ErrSubject, msg: "64 lower-case hex"},
		{name: "expired", env: good, opts: func(o *Options) { o.Now = decided.Add(61 * time.Minute) }, want: ErrExpired, msg: "1h1m0s before"},
		{name: "from the future", env: good, opts: func(o *Options) { o.Now = decided.Add(-10 * time.Minute) }, want: ErrExpired, msg: "in the future"},
		{name: "verdict block", env: sign(t, decision(policy.Block, "registry.example/payments/api@"+digestA), sk), want: ErrVerdict, msg: "verdict block"},
		{name: "shadow block", env: sign(t, func() *policy.Decision {
			d := decision(policy.Block, "registry.example/payments/api@"+digestA)
			d.Mode, d.Enforced = policy.Shadow, false
			return d
		}(), sk), want: ErrVerdict, msg: "shadow mode"},
		{name: "other statement type", env: resign(func(st map[string]any) { st["_type"] = "https://in-toto.io/Statement/v0.1" }), want: ErrStatement},
		{name: "other predicate type", env: resign(func(st map[string]any) { st["predicateType"] = "https://slsa.dev/provenance/v1" }), want: ErrStatement},
		{name: "bad time", env: resign(func(st map[string]any) { st["predicate"].(map[string]any)["time"] = "yesterday" }), want: ErrStatement, msg: "field time"},
		{name: "unknown verdict", env: resign(func(st map[string]any) { st["predicate"].(map[string]any)["verdict"] = "maybe" }), want: ErrStatement, msg: "field verdict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, err := Verify(tc.env, o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrEnvelope, ErrSignature, ErrStatement, ErrSubject, ErrExpired, ErrVerdict} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("err = %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.msg)
			}
		})
	}

	// A block decision passes with AllowBlock, and nothing is checked
	// beyond the signature when the options ask for nothing.
	blk := sign(t, decision(policy.Block, "r/a@"+digestA), sk)
	if _, err := Verify(blk, Options{Key: pk, AllowBlock: true}); err != nil {
		t.Fatalf("AllowBlock: %v", err)
	}
	if _, err := Verify(good, Options{}); err == nil {
		t.Fatal("no key: want an error")
	}
}

func TestVerifySubjectName(t *testing.T) {
	pk, sk := key(t)
	e := sign(t, decision(policy.Proceed, "registry.example:5000/payments/api:1.2@"+digestA), sk)
	for _, img := range []string{digestA, "registry.example:5000/payments/api@" + digestA, "registry.example:5000/payments/api:1.2@" + digestA} {
		if _, err := Verify(e, Options{Key: pk, Image: img, Now: decided}); err != nil {
			t.Errorf("%s: %v", img, err)
		}
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := WriteKeyPair(priv, pub); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(priv)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %04o, want 0600", st.Mode().Perm())
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(sk.Public()) {
		t.Fatal("public key does not match the private key")
	}
	if err := WriteKeyPair(priv, filepath.Join(dir, "other.pub")); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrite: %v", err)
	}
	pubPEM, _ := os.ReadFile(pub)
	if !bytes.HasPrefix(pubPEM, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("public key file starts %q", pubPEM[:30])
	}
	privPEM, _ := os.ReadFile(priv)
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatal("private key is not PKCS #8 PEM")
	}

	// A key made by another tool (here: the PKCS #8 and PKIX encodings of
	// RFC 8410's example key) reads back.
	const rfc8410Priv = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"
	const rfc8410Pub = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
	k8410, err := ParsePrivateKey([]byte(rfc8410Priv))
	if err != nil {
		t.Fatal(err)
	}
	p8410, err := ParsePublicKey([]byte(rfc8410Pub))
	if err != nil {
		t.Fatal(err)
	}
	if !p8410.Equal(k8410.Public()) {
		t.Fatal("RFC 8410 example: public key does not match the private key")
	}

	for _, tc := range []struct{ name, pem, want string }{
		{"empty", "", "no PEM block"},
		{"cosign encrypted", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n", "unencrypted PKCS #8"},
		{"public as private", rfc8410Pub, `"PUBLIC KEY", want "PRIVATE KEY"`},
		{"garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "parse PKCS #8"},
	} {
		t.Run("private/"+tc.name, func(t *testing.T) {
			_, err := ParsePrivateKey([]byte(tc.pem))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "MC4CAQAw") {
				t.Fatal("error leaks key material")
			}
		})
	}
	if _, err := ParsePublicKey([]byte(rfc8410Priv)); err == nil {
		t.Fatal("private key read as public key")
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "missing.pub")); err == nil || !strings.Contains(err.Error(), "missing.pub") {
		t.Fatalf("missing file: %v", err)
	}
}
