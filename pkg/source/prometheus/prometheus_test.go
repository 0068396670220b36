package prometheus

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestConformance(t *testing.T) { sourcetest.Run(t, Spec, testdata(t)...) }

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "prometheus-alertmanager", "prometheus_*.json", "prometheus_*.jsonl")...)
}

func TestGolden(t *testing.T) {
	for _, f := range testdata(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sourcetest.Golden(t, Spec, f, filepath.Join("testdata", "golden", strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))+".json"), *update)
		})
	}
}

func TestUnixTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"1435781451.781", "2015-07-01T20:10:51.781Z"},
		{"12345678123456.555", ""}, // past year 9999
		{"1796032800.000000001", "2026-11-30T10:00:00.000000001Z"},
		{"1796032800.0000000010", "2026-11-30T10:00:00.000000001Z"},
		{"1796032800.0000000011", ""},
		{"-0.001", "1969-12-31T23:59:59.999Z"},
		{"0", "1970-01-01T00:00:00Z"},
		{"1.7e9", ""},
		{`"1"`, ""},
		{"", ""},
		{".5", ""},
		{"1.-5", ""},
	} {
		got, err := unixTime(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("unixTime(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339Nano) != tc.want {
			t.Errorf("unixTime(%q) = %v, %v; want %s", tc.in, got.Format(time.RFC3339Nano), err, tc.want)
		}
	}
}

func TestThreshold(t *testing.T) {
	rec := func(v string) source.Record {
		return source.Record{Data: []byte(`{"metric":{"namespace":"payments","pod":"p-1","node":"n1"},"value":[1796032800,"` + v + `"]}`)}
	}
	for _, tc := range []struct {
		op    string
		th    float64
		value string
		want  bool
	}{
		{"", 0.9, "0.97", true}, {">", 0.9, "0.9", false}, {">=", 0.9, "0.9", true},
		{"<", 1, "0.5", true}, {"<=", 1, "1", true}, {"<", 1, "2", false},
		{">", 0.9, "NaN", false}, {">", 0.9, "+Inf", true}, {"<", 0, "-Inf", true},
	} {
		q := &source.Query{Name: "mem", Expr: "x", Op: tc.op, Threshold: tc.th, Severity: signal.SeverityHigh, Class: signal.ClassNetworkActivity}
		sigs, err := (&Parser{Query: q}).Parse(rec(tc.value))
		if err != nil {
			t.Fatalf("%s %v %s: %v", tc.op, tc.th, tc.value, err)
		}
		if got := len(sigs) == 1; got != tc.want {
			t.Errorf("%q %v with %s: signal %v, want %v", tc.op, tc.th, tc.value, got, tc.want)
			continue
		}
		if tc.want {
			s := sigs[0]
			if s.Severity != signal.SeverityHigh || s.ClassUID != signal.ClassNetworkActivity || s.Rule != "mem" || s.Asset.Pod != "p-1" || s.Asset.Node != "n1" || s.Attrs["threshold"] != "0.9" && tc.th == 0.9 {
				t.Errorf("signal %+v", s)
			}
		}
	}
}

func TestPullerConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  source.PullConfig
		want string
	}{
		{source.PullConfig{URL: "prometheus:9090", Queries: []source.Query{{Name: "a", Expr: "up"}}}, "not an http or https URL"},
		{source.PullConfig{URL: "http://p:9090"}, `missing key "queries"`},
		{source.PullConfig{URL: "http://p:9090", Queries: []source.Query{{Expr: "up"}}}, `missing key "name"`},
		{source.PullConfig{URL: "http://p:9090", Queries: []source.Query{{Name: "a"}}}, `missing key "expr"`},
		{source.PullConfig{URL: "http://p:9090", Queries: []source.Query{{Name: "a", Expr: "up"}, {Name: "a", Expr: "up"}}}, "used twice"},
		{source.PullConfig{URL: "http://p:9090", Queries: []source.Query{{Name: "a", Expr: "up", Op: "=="}}}, `op "=="`},
		{source.PullConfig{URL: "http://p:9090", Queries: []source.Query{{Name: "a", Expr: "up", Class: 1007}}}, "class 1007"},
	} {
		if _, err := newPuller(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newPuller(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestRealPrometheus queries Debian's Prometheus scraping a real target:
// a memory ratio, a 5xx error rate and a request rate, each with a
// threshold.
func TestRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager (-short)")
	}
	env := prom.Start(t, prom.Options{})
	queries := []source.Query{
		{Name: "container-memory-spike", Expr: `pulsegate_test_memory_ratio`, Threshold: 0.9, Severity: signal.SeverityHigh},
		{Name: "http-5xx-rate", Expr: `sum by (namespace, pod) (rate(pulsegate_test_http_requests_total{code=~"5.."}[10s])) / sum by (namespace, pod) (rate(pulsegate_test_http_requests_total[10s]))`, Threshold: 0.2, Severity: signal.SeverityMedium},
		{Name: "request-rate-spike", Expr: `sum by (namespace, pod) (rate(pulsegate_test_http_requests_total[10s]))`, Threshold: 1, Severity: signal.SeverityLow, Class: signal.ClassNetworkActivity},
	}
	reg, err := source.NewRegistry(Spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.Puller("prometheus", source.PullConfig{URL: env.PrometheusURL, Queries: queries})
	if err != nil {
		t.Fatal(err)
	}
	c, err := httpclient.New(httpclient.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	poller := &source.Poller{Ref: signal.SourceRef{Name: "prom", Type: "prometheus"}, Puller: p, Client: c}
	byRule := map[string][]signal.Signal{}
	var b *source.Batch
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _, err = poller.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		clear(byRule)
		for _, s := range b.Signals {
			byRule[s.Rule] = append(byRule[s.Rule], s)
		}
		// rate() needs two scrapes in its window.
		if len(byRule["http-5xx-rate"]) > 0 && len(byRule["request-rate-spike"]) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s (%d scrapes): signals %v", env.Scrapes.Load(), b.Signals)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if b.Rejected != 0 {
		t.Errorf("rejects: %v", b.Rejects)
	}
	// Records: 2 memory series, 1 error-rate series (the web pod serves no
	// 5xx: its numerator has no series), 2 request-rate series.
	if b.Records != 5 {
		t.Errorf("%d records, want 5", b.Records)
	}
	mem := byRule["container-memory-spike"]
	if len(mem) != 1 {
		t.Fatalf("memory: %d signals, want 1 (only the container over 0.9)", len(mem))
	}
	if s := mem[0]; s.Asset.Namespace != "payments" || s.Asset.Pod != "payments-api-7d9f" || s.Asset.Container != "api" || s.Asset.Node != "ip-10-0-2-22" ||
		s.Severity != signal.SeverityHigh || s.ClassUID != signal.ClassApplicationLifecycle || s.Native != "0.97" || s.Heartbeat {
		t.Errorf("memory signal: %+v", s)
	}
	if time.Since(mem[0].Time) > time.Minute {
		t.Errorf("sample time %v is not now", mem[0].Time)
	}
	errRate := byRule["http-5xx-rate"]
	if len(errRate) != 1 || errRate[0].Asset.Pod != "payments-api-7d9f" || errRate[0].Native != "0.3" {
		t.Errorf("5xx rate: %+v", errRate)
	}
	for _, s := range byRule["request-rate-spike"] {
		if s.ClassUID != signal.ClassNetworkActivity || s.Severity != signal.SeverityLow {
			t.Errorf("request rate signal: %+v", s)
		}
	}

	// A query Prometheus refuses fails the poll with its reason.
	bad, err := reg.Puller("prometheus", source.PullConfig{URL: env.PrometheusURL, Queries: []source.Query{{Name: "broken", Expr: "sum(("}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Pull(context.Background(), c); err == nil || !strings.Contains(err.Error(), `query "broken"`) || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("bad query: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("prometheus-alertmanager", "prometheus_*.json", "prometheus_*.jsonl")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	q := &source.Query{Name: "q", Expr: "x", Threshold: 0.5}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
		(&Parser{Query: q}).Parse(source.Record{Data: data}) // must not panic
	})
}
