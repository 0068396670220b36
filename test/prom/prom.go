// Package prom runs a real Prometheus and Alertmanager for pulsegate's
// tests: Debian's packages (the binaries prometheus and
// prometheus-alertmanager), started on 127.0.0.1 free ports with temporary
// data folders. Prometheus scrapes a real target (an httptest server that
// serves the text exposition format) every second, evaluates an alert rule
// every second and sends what fires to the Alertmanager, which can post
// its webhook to a receiver under test.
//
//	env := prom.Start(t, prom.Options{Webhook: receiverURL, WebhookToken: secret})
//	alerts := env.WaitFiring(t, prom.AlertName, 60*time.Second)
//
// When the binaries are not installed, Start skips the test with
// "prometheus not installed: <reason>", unless PULSEGATE_PROM_REQUIRE=1,
// which turns that into a failure (.ci/run installs the packages and sets
// it). Processes are stopped by their PID when the test ends.
package prom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// EnvRequire names the variable that turns a missing installation into a
// test failure.
const EnvRequire = "PULSEGATE_PROM_REQUIRE"

// AlertName is the default rule's alert: it fires for every container
// whose memory ratio is over 0.9 (one series of the default target).
const AlertName = "ContainerMemoryNearLimit"

// DefaultRules is the rule file used when Options.Rules is empty.
const DefaultRules = `groups:
  - name: pulsegate-test
    interval: 1s
    rules:
      - alert: ContainerMemoryNearLimit
        expr: pulsegate_test_memory_ratio > 0.9
        for: 2s
        labels:
          severity: critical
        annotations:
          summary: "container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} uses {{ $value }} of its memory limit"
          description: "memory working set over 90% of the limit"
`

// Options configure Start.
type Options struct {
	// Rules is the Prometheus rule file; empty is DefaultRules.
	Rules string
	// Metrics serves the scrape target; nil serves DefaultMetrics.
	Metrics http.Handler
	// Webhook, when set, is the URL the Alertmanager posts its webhook
	// to, with WebhookToken (when set) as its bearer credentials.
	Webhook      string
	WebhookToken string
}

// Env is a running Prometheus and Alertmanager.
type Env struct {
	// PrometheusURL and AlertmanagerURL are "http://127.0.0.1:PORT".
	PrometheusURL   string
	AlertmanagerURL string
	// Target is the scrape target.
	Target *httptest.Server
	// Scrapes counts the target's scrapes.
	Scrapes *atomic.Int64
}

// Binaries returns the paths of the Prometheus and Alertmanager binaries:
// Debian installs them as /usr/bin/prometheus and
// /usr/bin/prometheus-alertmanager; upstream's tarball names the latter
// alertmanager.
func Binaries() (promBin, amBin string, err error) {
	promBin, err = exec.LookPath("prometheus")
	if err != nil {
		return "", "", fmt.Errorf("no prometheus binary in PATH (apt-get install prometheus): %w", err)
	}
	for _, n := range []string{"prometheus-alertmanager", "alertmanager"} {
		if amBin, err = exec.LookPath(n); err == nil {
			return promBin, amBin, nil
		}
	}
	return "", "", fmt.Errorf("no prometheus-alertmanager binary in PATH (apt-get install prometheus-alertmanager): %w", err)
}

// DefaultMetrics serves two containers' memory ratios (one over 0.9) and
// an HTTP request counter with 5xx answers that grows with every scrape.
func DefaultMetrics() http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, `# HELP pulsegate_test_memory_ratio Memory working set over the container's limit.
# TYPE pulsegate_test_memory_ratio gauge
pulsegate_test_memory_ratio{namespace="payments",pod="payments-api-7d9f",container="api",node="ip-10-0-2-22"} 0.97
pulsegate_test_memory_ratio{namespace="web",pod="storefront-web-5c4b",container="web",node="ip-10-0-1-11"} 0.21
# HELP pulsegate_test_http_requests_total HTTP requests served.
# TYPE pulsegate_test_http_requests_total counter
pulsegate_test_http_requests_total{namespace="payments",pod="payments-api-7d9f",code="500"} %d
pulsegate_test_http_requests_total{namespace="payments",pod="payments-api-7d9f",code="200"} %d
pulsegate_test_http_requests_total{namespace="web",pod="storefront-web-5c4b",code="200"} %d
`, i*30, i*70, i*100)
	})
}

// Start starts Prometheus and the Alertmanager for t and stops them when
// t ends. It returns once both answer /-/ready.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	promBin, amBin, err := Binaries()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("prometheus not installed: %v (%s=1)", err, EnvRequire)
		}
		t.Skipf("prometheus not installed: %v", err)
	}
	began := time.Now()
	dir := t.TempDir()
	metrics := opts.Metrics
	if metrics == nil {
		metrics = DefaultMetrics()
	}
	env := &Env{Scrapes: &atomic.Int64{}}
	env.Target = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.Scrapes.Add(1)
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(env.Target.Close)

	amPort, promPort := freePort(t), freePort(t)
	env.AlertmanagerURL = "http://127.0.0.1:" + amPort
	env.PrometheusURL = "http://127.0.0.1:" + promPort

	write(t, filepath.Join(dir, "alertmanager.yml"), alertmanagerConfig(opts))
	amData := filepath.Join(dir, "am-data")
	startProcess(t, "alertmanager", amBin,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+amData,
		"--web.listen-address=127.0.0.1:"+amPort,
		"--cluster.listen-address=", // no HA gossip: no fixed port 9094
		"--log.level=info",
	)

	rules := opts.Rules
	if rules == "" {
		rules = DefaultRules
	}
	write(t, filepath.Join(dir, "rules.yml"), rules)
	target := strings.TrimPrefix(env.Target.URL, "http://")
	write(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels:
    cluster: test-cluster
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:%s"]
rule_files: ["rules.yml"]
scrape_configs:
  - job_name: pulsegate-test
    static_configs:
      - targets: ["%s"]
`, amPort, target))
	startProcess(t, "prometheus", promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address=127.0.0.1:"+promPort,
		"--log.level=info",
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, u := range []string{env.AlertmanagerURL, env.PrometheusURL} {
		if err := waitReady(ctx, u+"/-/ready"); err != nil {
			t.Fatalf("%s did not get ready: %v", u, err)
		}
	}
	t.Logf("prometheus %s and alertmanager %s ready after %s", env.PrometheusURL, env.AlertmanagerURL, time.Since(began).Round(time.Millisecond))
	return env
}

func alertmanagerConfig(opts Options) string {
	if opts.Webhook == "" {
		return `route:
  receiver: "null"
receivers:
  - name: "null"
`
	}
	auth := ""
	if opts.WebhookToken != "" {
		auth = fmt.Sprintf(`
        http_config:
          authorization:
            type: Bearer
            credentials: %q`, opts.WebhookToken)
	}
	return fmt.Sprintf(`route:
  receiver: pulsegate
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pulsegate
    webhook_configs:
      - url: %q
        send_resolved: true%s
`, opts.Webhook, auth)
}

// WaitFiring polls the Alertmanager's /api/v2/alerts until an active alert
// named name is there, and returns the response's alerts.
func (e *Env) WaitFiring(t testing.TB, name string, timeout time.Duration) []json.RawMessage {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(e.AlertmanagerURL + "/api/v2/alerts?active=true")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(body)
			var alerts []struct {
				Labels map[string]string `json:"labels"`
				Status struct {
					State string `json:"state"`
				} `json:"status"`
			}
			var raw []json.RawMessage
			if json.Unmarshal(body, &alerts) == nil && json.Unmarshal(body, &raw) == nil {
				for _, a := range alerts {
					if a.Labels["alertname"] == name && a.Status.State == "active" {
						t.Logf("alert %s firing in the Alertmanager after %s (%d scrapes)", name, time.Since(start).Round(time.Millisecond), e.Scrapes.Load())
						return raw
					}
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("alert %s not firing in the Alertmanager after %s (scrapes: %d); last answer: %.500s", name, timeout, e.Scrapes.Load(), last)
	return nil
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// logBuffer keeps a process's output for failure reports.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 1<<20 {
		l.buf.Reset()
	}
	return l.buf.Write(p)
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

func startProcess(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	logs := &logBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s (pid %d) log tail:\n%s", name, pid, logs.tail(4000))
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
	})
	// A process that exits at once (a bad flag or config) fails fast.
	select {
	case err := <-done:
		done <- err
		t.Fatalf("%s exited at start: %v\n%s", name, err, logs.tail(4000))
	case <-time.After(100 * time.Millisecond):
	}
}

func waitReady(ctx context.Context, u string) error {
	var last error = errors.New("no answer")
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
