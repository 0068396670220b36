package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pulsegate/pulsegate/pkg/attest"
	"github.com/pulsegate/pulsegate/pkg/attest/oci"
	"github.com/pulsegate/pulsegate/pkg/report"
)

const (
	demoDir       = "../../examples/demo"
	storefrontDig = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	paymentsDig   = "sha256:5b0c1e9b2f6f7d3c8a4e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b"
	demoNow       = "2026-11-30T10:20:00Z" // 20 minutes after the demo's decisions
)

// TestGateEvidence runs the gate on the demo's two releases with every
// evidence output and then checks them with verify and audit verify.
func TestGateEvidence(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if code, out, errOut := execute("attest", "keygen", "--prefix", key); code != 0 {
		t.Fatalf("keygen: %d %s %s", code, out, errOut)
	}
	if st, _ := os.Stat(key + ".key"); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v", st)
	}
	if code, _, errOut := execute("attest", "keygen", "--prefix", key); code != ExitUsage || !strings.Contains(errOut, "already exists") {
		t.Fatalf("keygen over an existing key: %d %s", code, errOut)
	}
	log := filepath.Join(dir, "audit.log")
	gate := func(rel, name string) int {
		code, _, errOut := execute("gate", "--config", demoDir+"/pulsegate.yaml", "--release", demoDir+"/releases/"+rel,
			"--audit-log", log, "--attest-key", key+".key", "--attestation-out", filepath.Join(dir, name+".intoto.json"),
			"--results-dir", filepath.Join(dir, name, "results"), "--report-dir", filepath.Join(dir, name, "report"))
		if code > 1 {
			t.Fatalf("gate %s: exit %d: %s", rel, code, errOut)
		}
		return code
	}
	if c := gate("storefront-web.yaml", "sf"); c != 0 {
		t.Fatalf("storefront exit %d, want 0", c)
	}
	if c := gate("payments-api.yaml", "pay"); c != 1 {
		t.Fatalf("payments exit %d, want 1", c)
	}

	for name, verdict := range map[string]string{"sf": "proceed", "pay": "block"} {
		b, err := os.ReadFile(filepath.Join(dir, name, "results", report.ResultVerdict))
		if err != nil || string(b) != verdict {
			t.Fatalf("%s verdict result %q %v, want %q", name, b, err, verdict)
		}
		for _, f := range []string{"decision.json", "report.md", "report.txt"} {
			if _, err := os.Stat(filepath.Join(dir, name, "report", f)); err != nil {
				t.Fatal(err)
			}
		}
	}

	code, out, errOut := execute("audit", "verify", log)
	if code != 0 || !strings.Contains(out, "2 records, chain intact") {
		t.Fatalf("audit verify: %d %s %s", code, out, errOut)
	}
	var first struct {
		Verdict string            `json:"verdict"`
		Rules   []string          `json:"rules"`
		Inputs  map[string]string `json:"inputs"`
	}
	lines, _ := os.ReadFile(log)
	json.Unmarshal([]byte(strings.SplitN(string(lines), "\n", 2)[1]), &first)
	if first.Verdict != "block" || len(first.Rules) == 0 || first.Inputs["release"] == "" {
		t.Fatalf("second audit record: %+v", first)
	}
	head := strings.TrimSpace(out[strings.Index(out, "head ")+5:])
	if code, _, _ := execute("audit", "verify", log, "--head", head); code != 0 {
		t.Fatal("audit verify --head with the right head failed")
	}
	if code, _, errOut := execute("audit", "verify", log, "--head", "sha256:00"); code != 1 || !strings.Contains(errOut, "cut off") {
		t.Fatalf("wrong head: %d %s", code, errOut)
	}
	os.WriteFile(log, []byte(strings.Replace(string(lines), `"verdict":"block"`, `"verdict":"proceed"`, 1)), 0o640)
	if code, _, errOut := execute("audit", "verify", log); code != 1 || !strings.Contains(errOut, "audit.log:2: record was edited") {
		t.Fatalf("edited log: %d %s", code, errOut)
	}
	if code, _, _ := execute("audit", "verify", filepath.Join(dir, "missing.log")); code != ExitUsage {
		t.Fatalf("missing log: exit %d, want 2", code)
	}

	sf, pay := filepath.Join(dir, "sf.intoto.json"), filepath.Join(dir, "pay.intoto.json")
	other := filepath.Join(dir, "other")
	execute("attest", "keygen", "--prefix", other)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"proceed", []string{sf, "--key", key + ".pub", "--image", storefrontDig, "--now", demoNow}, 0, ""},
		{"with name", []string{sf, "--key", key + ".pub", "--image", "registry.example.com/storefront/web@" + storefrontDig, "--now", demoNow}, 0, ""},
		{"block", []string{pay, "--key", key + ".pub", "--image", paymentsDig, "--now", demoNow}, 1, "verdict check failed"},
		{"wrong key", []string{sf, "--key", other + ".pub", "--image", storefrontDig, "--now", demoNow}, 1, "signature check failed"},
		{"wrong subject", []string{sf, "--key", key + ".pub", "--image", paymentsDig, "--now", demoNow}, 1, "subject check failed"},
		{"expired", []string{sf, "--key", key + ".pub", "--image", storefrontDig, "--now", "2026-11-30T11:00:01Z"}, 1, "age check failed"},
		{"not an envelope", []string{log, "--key", key + ".pub", "--image", storefrontDig}, 1, "envelope check failed"},
		{"no key", []string{sf, "--image", storefrontDig}, 2, "--key"},
		{"no image", []string{sf, "--key", key + ".pub"}, 2, "--image"},
		{"private key as public", []string{sf, "--key", key + ".key", "--image", storefrontDig}, 2, "PUBLIC KEY"},
		{"missing file", []string{filepath.Join(dir, "nope.json"), "--key", key + ".pub", "--image", storefrontDig}, 2, "nope.json"},
		{"bad flag", []string{sf, "--bogus"}, 2, "unknown flag"},
	} {
		t.Run("verify/"+tc.name, func(t *testing.T) {
			code, out, errOut := execute(append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tc.code, out, errOut, tc.msg)
			}
		})
	}

	// Tampering with the file is caught by the signature.
	b, _ := os.ReadFile(pay)
	env, _ := attest.ParseEnvelope(b)
	env.Payload = []byte(strings.Replace(string(env.Payload), `"verdict":"block"`, `"verdict":"proceed"`, 1))
	forged, _ := env.Marshal()
	os.WriteFile(pay, forged, 0o644)
	if code, _, errOut := execute("verify", pay, "--key", key+".pub", "--image", paymentsDig, "--now", demoNow); code != 1 || !strings.Contains(errOut, "signature check failed") {
		t.Fatalf("forged verdict: %d %s", code, errOut)
	}

	// --attestation-out alone is a usage error, caught before the gate runs.
	if code, _, errOut := execute("gate", "--config", demoDir+"/pulsegate.yaml", "--release", demoDir+"/releases/storefront-web.yaml", "--attestation-out", filepath.Join(dir, "x")); code != 2 || !strings.Contains(errOut, "--attest-key") {
		t.Fatalf("--attestation-out without key: %d %s", code, errOut)
	}
}

// TestAttestPush signs a decision about an image in an in-memory registry,
// pushes it with `pulsegate attest --push` and reads it back.
func TestAttestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(256, 1)
	tag, _ := name.NewTag(host + "/shop/web:1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	ref := tag.Context().Digest(dg.String())

	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	execute("attest", "keygen", "--prefix", key)
	dec, _ := json.Marshal(map[string]any{
		"decision_id": "d-1", "time": "2026-11-30T10:00:00Z", "verdict": "proceed", "mode": "enforce", "enforced": true,
		"release": map[string]any{"images": []map[string]string{
			{"ref": ref.String(), "repo": ref.Context().Name(), "digest": dg.String()},
			{"ref": host + "/shop/sidecar:latest", "repo": host + "/shop/sidecar", "tag": "latest"},
		}},
	})
	decPath := filepath.Join(dir, "decision.json")
	os.WriteFile(decPath, dec, 0o644)

	code, out, errOut := execute("attest", decPath, "--key", key+".key", "--push", "--out", filepath.Join(dir, "env.json"))
	if code != 0 {
		t.Fatalf("attest --push: %d %s %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 images are not pinned") || !strings.Contains(errOut, "shop/sidecar:latest") {
		t.Fatalf("no unpinned warning: %q", errOut)
	}
	if !strings.Contains(out, "sha256-"+dg.Hex+".att") {
		t.Fatalf("output %q does not name the .att tag", out)
	}
	got, err := oci.Attestations(t.Context(), ref)
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %d %v", len(got), err)
	}
	pushed := filepath.Join(dir, "pushed.json")
	os.WriteFile(pushed, got[0].Envelope, 0o644)
	if code, _, errOut := execute("verify", pushed, "--key", key+".pub", "--image", ref.String(), "--now", demoNow); code != 0 {
		t.Fatalf("verify pushed: %d %s", code, errOut)
	}

	// To stdout without --out or --push; a decision without pinned images
	// is a usage error.
	if code, out, _ := execute("attest", decPath, "--key", key+".key"); code != 0 || !strings.Contains(out, `"payloadType":"application/vnd.in-toto+json"`) {
		t.Fatalf("attest to stdout: %d %q", code, out)
	}
	os.WriteFile(decPath, []byte(`{"verdict":"proceed","time":"2026-11-30T10:00:00Z","release":{"images":[{"ref":"a:1","repo":"a"}]}}`), 0o644)
	if code, _, errOut := execute("attest", decPath, "--key", key+".key"); code != 2 || !strings.Contains(errOut, "pinned by digest") {
		t.Fatalf("nothing pinned: %d %s", code, errOut)
	}
	if code, _, _ := execute("attest", decPath); code != 2 {
		t.Fatal("attest without --key: want exit 2")
	}
}

// TestAuditBreakGlass checks that an override is in the audit record.
func TestAuditBreakGlass(t *testing.T) {
	dir := t.TempDir()
	bg := filepath.Join(dir, "bg.yaml")
	os.WriteFile(bg, []byte("who: alice@example.com\nwhy: roll back the bad release during INC-4411\nticket: INC-4411\nexpires: 2026-11-30T12:00:00Z\n"), 0o644)
	log := filepath.Join(dir, "audit.log")
	code, _, errOut := execute("gate", "--config", demoDir+"/pulsegate.yaml", "--release", demoDir+"/releases/payments-api.yaml",
		"--break-glass-file", bg, "--audit-log", log)
	if code != 0 {
		t.Fatalf("gate with break-glass: exit %d %s", code, errOut)
	}
	b, _ := os.ReadFile(log)
	var rec struct {
		Verdict    string `json:"verdict"`
		BreakGlass struct {
			Who, Ticket string
		} `json:"break_glass"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != "proceed" || rec.BreakGlass.Who != "alice@example.com" || rec.BreakGlass.Ticket != "INC-4411" {
		t.Fatalf("audit record %s", b)
	}
}
