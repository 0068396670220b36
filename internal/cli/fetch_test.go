package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/test/prom"
)

// execute runs the command line and returns its exit code, standard
// output and standard error.
func execute(args ...string) (int, string, string) {
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || !ee.Silent {
			errOut.WriteString(err.Error())
		}
	}
	return Code(err), out.String(), errOut.String()
}

// TestFetchRealPrometheus runs `pulsegate fetch` against Debian's
// Prometheus and Alertmanager, with a real scrape target and a rule that
// fires.
func TestFetchRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager (-short)")
	}
	env := prom.Start(t, prom.Options{})
	env.WaitFiring(t, prom.AlertName, 90*time.Second)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pulsegate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
telemetry:
  - name: prometheus
    type: prometheus
    url: %s
    cluster: test-cluster
    timeout: 5s
    queries:
      - name: container-memory-spike
        expr: pulsegate_test_memory_ratio
        threshold: 0.9
        severity: high
  - name: alertmanager
    type: alertmanager
    url: %s
`, env.PrometheusURL, env.AlertmanagerURL)), 0o600)
	out := filepath.Join(dir, "signals.jsonl")
	code, stdout, stderr := execute("fetch", "--config", cfg, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "prometheus (prometheus): ok, 2 records, 0 rejected, 1 signals") || !strings.Contains(stderr, "alertmanager (alertmanager): ok") {
		t.Errorf("summary:\n%s", stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string]signal.Signal{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s signal.Signal
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		rules[s.Rule] = s
	}
	mem, alert := rules["container-memory-spike"], rules[prom.AlertName]
	if mem.Asset.Pod != "payments-api-7d9f" || mem.Asset.Cluster != "test-cluster" || mem.Severity != signal.SeverityHigh {
		t.Errorf("memory signal: %+v", mem)
	}
	if alert.Asset.Pod != "payments-api-7d9f" || alert.Severity != signal.SeverityCritical || alert.Source.Name != "alertmanager" {
		t.Errorf("alert signal: %+v", alert)
	}

	// One source down: exit 1, the other still written.
	os.WriteFile(cfg, []byte(fmt.Sprintf("telemetry:\n  - {name: am, type: alertmanager, url: %s}\n  - {name: gone, type: alertmanager, url: 'http://127.0.0.1:1', timeout: 1s}\n", env.AlertmanagerURL)), 0o600)
	code, stdout, stderr = execute("fetch", "--config", cfg)
	if code != 1 || !strings.Contains(stdout, prom.AlertName) || !strings.Contains(stderr, "gone (alertmanager): unavailable") {
		t.Errorf("one source down: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := execute("fetch"); code != 2 || !strings.Contains(stderr, "--config is required") {
		t.Errorf("no --config: exit %d %s", code, stderr)
	}
}
