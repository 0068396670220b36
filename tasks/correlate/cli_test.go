package correlate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/internal/cli"
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/tasks/correlate"
	kubetest "github.com/pulsegate/pulsegate/test/kube"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := cli.NewRootCommand()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), cli.Code(err)
}

// `pulsegate inventory snapshot` writes the file `--inventory` reads, and
// `pulsegate correlate` gives the same landing set from it as from the
// live context.
func TestCommandsRoundTrip(t *testing.T) {
	s := kubetest.Shared(t)
	sc := buildScene(t, s)
	rel := sc.release(t)
	snap, stderr, code := run(t, "inventory", "snapshot", "--kubeconfig", s.Kubeconfig, "--context", "pulsegate-test")
	if code != 0 {
		t.Fatalf("inventory snapshot: exit %d: %s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(path, []byte(snap), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.Load(path); err != nil {
		t.Fatalf("the snapshot does not read back: %v", err)
	}
	fromFile, stderr, code := run(t, "correlate", "--release", rel, "--inventory", path, "-o", "json")
	if code != 0 {
		t.Fatalf("correlate --inventory: exit %d: %s", code, stderr)
	}
	live, stderr, code := run(t, "correlate", "--release", rel, "--kubeconfig", s.Kubeconfig, "--context", "pulsegate-test", "-o", "json")
	if code != 0 {
		t.Fatalf("correlate --context: exit %d: %s", code, stderr)
	}
	var a, b correlate.Results
	if err := json.Unmarshal([]byte(fromFile), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(live), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a.Targets)
	jb, _ := json.Marshal(b.Targets)
	if !bytes.Equal(ja, jb) || len(a.Excluded) != len(b.Excluded) {
		t.Error("the landing set from the snapshot differs from the live one")
	}
	if !strings.Contains(fromFile, `"relation": "network-neighbour"`) {
		t.Error("no network neighbour in the JSON output")
	}
	text, _, code := run(t, "correlate", "--release", rel, "--inventory", path)
	if code != 0 || !strings.Contains(text, "Excluded (") || !strings.Contains(text, "eligible-node") {
		t.Errorf("text output (exit %d):\n%s", code, text)
	}
	for name, args := range map[string][]string{
		"bad format":   {"correlate", "--release", rel, "--inventory", path, "-o", "yaml"},
		"no inventory": {"correlate", "--release", rel},
		"bad context":  {"correlate", "--release", rel, "--kubeconfig", s.Kubeconfig, "--context", "nope"},
	} {
		if _, stderr, code := run(t, args...); code != cli.ExitUsage {
			t.Errorf("%s: exit %d, want %d (%s)", name, code, cli.ExitUsage, stderr)
		}
	}
}
