package alertmanager

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
	"github.com/pulsegate/pulsegate/test/prom"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func testdata(t testing.TB) []string {
	m, err := filepath.Glob("testdata/*.json*")
	if err != nil || len(m) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return m
}

func TestConformance(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "prometheus-alertmanager", "karma_*.json", "msteams_*.json", "prometheus_docs_api_19_rules_with_alerts.json", "prometheus_docs_api_20_v1_alerts.json")...)
}

func TestGolden(t *testing.T) {
	for _, f := range testdata(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sourcetest.Golden(t, Spec, f, filepath.Join("testdata", "golden", strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))+".json"), *update)
		})
	}
}

func TestSeverity(t *testing.T) {
	for in, want := range map[string]signal.Severity{
		"critical": signal.SeverityCritical, "Critical": signal.SeverityCritical, "page": signal.SeverityCritical,
		"error": signal.SeverityHigh, "high": signal.SeverityHigh, "major": signal.SeverityHigh,
		"warning": signal.SeverityMedium, "WARN": signal.SeverityMedium,
		"low": signal.SeverityLow, "minor": signal.SeverityLow,
		"info": signal.SeverityInformational, "none": signal.SeverityInformational,
		"": signal.SeverityUnknown, "sev1": signal.SeverityOther,
	} {
		if got := SeverityOf(in); got != want {
			t.Errorf("SeverityOf(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRecords(t *testing.T) {
	b, err := source.ReadFile("testdata/webhook.jsonl", Spec, signal.SourceRef{Name: "am", Type: "alertmanager"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byRule := map[string][]signal.Signal{}
	for _, s := range b.Signals {
		byRule[s.Rule] = append(byRule[s.Rule], s)
	}
	crash := byRule["KubePodCrashLooping"]
	if len(crash) != 2 {
		t.Fatalf("KubePodCrashLooping: %d signals, want 2", len(crash))
	}
	if s := crash[0]; s.Heartbeat || s.Severity != signal.SeverityMedium || s.ClassUID != signal.ClassDetectionFinding ||
		s.Asset != (signal.Asset{Cluster: "prod-eu-1", Namespace: "payments", Pod: "payments-api-7d9f", Container: "api"}) ||
		s.Raw.ID != "0b1a8d2f3c4e5a6b" || !strings.Contains(s.Title, "CrashLoopBackOff") {
		t.Errorf("firing alert: %+v", s)
	}
	if s := crash[1]; !s.Heartbeat || s.Attrs["state"] != "resolved" {
		t.Errorf("resolved alert is not a heartbeat: %+v", s)
	}
	if s := byRule["KubeNodeNotReady"][0]; s.Asset.Node != "ip-10-0-2-22" || s.Severity != signal.SeverityCritical {
		t.Errorf("node alert: %+v", s)
	}
	if s := byRule["KubeDeploymentReplicasMismatch"][0]; s.Asset.WorkloadKind != "Deployment" || s.Asset.Workload != "payments-api" || s.Severity != signal.SeverityHigh {
		t.Errorf("deployment alert: %+v", s)
	}
	if s := byRule["NodeFilesystemAlmostOutOfSpace"][0]; !s.Heartbeat || s.Asset.Node != "10.0.2.22" {
		t.Errorf("suppressed host alert: %+v", s)
	}
	if s := byRule["Strange"][0]; s.Severity != signal.SeverityOther || s.Native != "sev1" {
		t.Errorf("unknown severity: %+v", s)
	}
	want := []string{`missing label "alertname"`, `field "startsAt": "yesterday"`, `unknown alert status "exploded"`,
		`missing field "startsAt"`, `field "labels" has a JSON string`}
	if len(b.Rejects) != len(want) {
		t.Fatalf("rejects %v, want %d", b.Rejects, len(want))
	}
	for i, w := range want {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d = %q, want it to contain %q", i, b.Rejects[i].Reason, w)
		}
	}
}

func TestMatchers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{`severity="critical"`, []string{`severity="critical"`}, false},
		{`severity=~"critical|warning", namespace="a,b"`, []string{`severity=~"critical|warning"`, `namespace="a,b"`}, false},
		{`a="x\"y,z", b!=c`, []string{`a="x\"y,z"`, `b!=c`}, false},
		{`a="open`, nil, true},
		{`justtext`, nil, true},
	} {
		got, err := splitMatchers(tc.in)
		if (err != nil) != tc.err || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("splitMatchers(%q) = %q, %v", tc.in, got, err)
		}
	}
	if _, err := newPuller(source.PullConfig{URL: "ftp://x"}); err == nil {
		t.Error("ftp URL accepted")
	}
	p, err := newPuller(source.PullConfig{URL: "http://am:9093/", Filter: `severity="critical"`})
	if err != nil {
		t.Fatal(err)
	}
	if u := p.(*puller).url; u != "http://am:9093/api/v2/alerts?active=true&filter=severity%3D%22critical%22&inhibited=false&silenced=false&unprocessed=true" {
		t.Errorf("url %s", u)
	}
}

// TestRealAlertmanager runs Debian's Prometheus and Alertmanager: a real
// rule fires on a real scrape, the puller reads it from /api/v2/alerts,
// and the Alertmanager's own webhook posts it to the push receiver.
func TestRealAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager (-short)")
	}
	const secret = "webhook-secret-for-test"
	var mu sync.Mutex
	var pushed []*source.Batch
	recv, err := source.NewReceiver(Spec, source.ReceiverOptions{
		Secret: httpclient.NewSecret(secret),
		Deliver: func(_ context.Context, b *source.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			pushed = append(pushed, b)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	env := prom.Start(t, prom.Options{Webhook: hook.URL + "/alertmanager", WebhookToken: secret})
	env.WaitFiring(t, prom.AlertName, 90*time.Second)

	reg, err := source.NewRegistry(Spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Puller("alertmanager", source.PullConfig{URL: env.AlertmanagerURL, Filter: `alertname="` + prom.AlertName + `"`})
	if err != nil {
		t.Fatal(err)
	}
	c, err := httpclient.New(httpclient.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	poller := &source.Poller{Ref: signal.SourceRef{Name: "am-test", Type: "alertmanager"}, Puller: p, Client: c}
	b, h, err := poller.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Rejected != 0 || len(b.Signals) != 1 || h.LastSuccess.IsZero() {
		t.Fatalf("pulled %d signals, %d rejected (%v); want the one firing alert", len(b.Signals), b.Rejected, b.Rejects)
	}
	got := b.Signals[0]
	want := signal.Asset{Cluster: "test-cluster", Namespace: "payments", Pod: "payments-api-7d9f", Container: "api", Node: "ip-10-0-2-22"}
	if got.Rule != prom.AlertName || got.Severity != signal.SeverityCritical || got.Heartbeat || got.Asset != want ||
		got.Source.Name != "am-test" || !strings.Contains(got.Title, "payments/payments-api-7d9f") {
		t.Errorf("pulled signal: %+v", got)
	}
	if time.Since(got.Time) > 5*time.Minute || got.Time.After(time.Now().Add(time.Minute)) {
		t.Errorf("alert time %v is not now", got.Time)
	}

	// The webhook: Alertmanager posts after group_wait (1s).
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(pushed)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook from the Alertmanager within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	pb := pushed[0]
	if len(pb.Signals) != 1 || pb.Rejected != 0 {
		t.Fatalf("webhook batch: %d signals, %d rejected (%v)", len(pb.Signals), pb.Rejected, pb.Rejects)
	}
	// On a loaded machine a 1 s scrape can time out, the alert resolve and
	// fire again with a new startsAt (and so a new id): compare the pulled
	// alert with the pushed notification of the same firing when there is
	// one, else with the first.
	ws := pb.Signals[0]
	for _, b := range pushed {
		for _, s := range b.Signals {
			if s.Time.Equal(got.Time) && !s.Heartbeat {
				ws = s
			}
		}
	}
	if ws.Raw.ID != got.Raw.ID || ws.Asset != got.Asset || ws.Severity != got.Severity || ws.Rule != got.Rule || ws.Heartbeat {
		t.Errorf("webhook signal differs from the pulled one:\nwebhook: %+v\npulled:  %+v", ws, got)
	}
	if ws.Time.Equal(got.Time) && ws.ID != got.ID {
		t.Errorf("the same firing has two ids: webhook %s, pulled %s", ws.ID, got.ID)
	} else if !ws.Time.Equal(got.Time) {
		t.Logf("the alert fired again between the notification (%v) and the pull (%v)", ws.Time, got.Time)
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("prometheus-alertmanager", "*.json", "*.jsonl")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
