package fetch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/config"
	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source/builtin"
	"github.com/pulsegate/pulsegate/tasks"
)

const token = "prom-proxy-token-7781"

// apis serves a Prometheus query API behind a bearer token and an
// Alertmanager alerts API, with the shapes the real servers answer with.
func apis(t *testing.T) (promURL, amURL string) {
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			return
		}
		if r.URL.Path != "/api/v1/query" || r.URL.Query().Get("query") == "" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"no query"}`)
			return
		}
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{"namespace":"payments","pod":"payments-api-7d9f","node":"ip-10-0-2-22"},"value":[1796032800.5,"0.97"]},
			{"metric":{"namespace":"web","pod":"storefront-web-5c4b","node":"ip-10-0-1-11"},"value":[1796032800.5,"0.21"]}]}}`)
	}))
	t.Cleanup(prom.Close)
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.URL.Query().Get("active") != "true" {
			w.WriteHeader(404)
			return
		}
		fmt.Fprint(w, `[{"labels":{"alertname":"KubeNodeNotReady","node":"ip-10-0-2-22","severity":"critical"},"annotations":{},
			"startsAt":"2026-11-30T09:30:00Z","endsAt":"2026-11-30T10:30:00Z","updatedAt":"2026-11-30T09:59:00Z",
			"fingerprint":"1122334455667788","status":{"state":"active","silencedBy":[],"inhibitedBy":[]},"receivers":[{"name":"null"}]}]`)
	}))
	t.Cleanup(am.Close)
	return prom.URL, am.URL
}

func load(t *testing.T, yaml string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600)
	f := filepath.Join(dir, "pulsegate.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFetch(t *testing.T) {
	promURL, amURL := apis(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cfg := load(t, fmt.Sprintf(`
telemetry:
  - name: prom
    type: prometheus
    url: %s
    cluster: prod-eu-1
    auth: {token_file: token}
    queries:
      - {name: container-memory-spike, expr: "x", threshold: 0.9, severity: high}
  - name: am
    type: alertmanager
    url: %s
  - name: down
    type: alertmanager
    url: %s
    timeout: 1s
  - type: falco
    path: falco.jsonl
`, promURL, amURL, closed.URL))
	var out, rejects bytes.Buffer
	res, err := Run(context.Background(), Params{Telemetry: cfg.Telemetry}, Env{Sources: builtin.Registry(), Out: &out, Rejects: &rejects})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sources) != 3 || !res.Failed() || res.Signals != 2 {
		t.Fatalf("result %+v", res)
	}
	if s := res.Sources[0]; s.Status != "ok" || s.Signals != 1 || s.Health.Records != 2 || s.Health.LastSuccess.IsZero() {
		t.Errorf("prom: %+v", s)
	}
	if s := res.Sources[2]; s.Status != "unavailable" || !strings.Contains(s.Error, "poll down:") || !strings.Contains(s.Error, "connection refused") {
		t.Errorf("down: %+v", s)
	}
	var sigs []signal.Signal
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var s signal.Signal
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		sigs = append(sigs, s)
	}
	if len(sigs) != 2 || sigs[0].Source.Name != "prom" || sigs[0].Asset.Cluster != "prod-eu-1" || sigs[0].Severity != signal.SeverityHigh ||
		sigs[1].Source.Name != "am" || sigs[1].Rule != "KubeNodeNotReady" {
		t.Errorf("signals: %+v", sigs)
	}
	if strings.Contains(out.String()+rejects.String()+fmt.Sprint(res), token) {
		t.Error("the token appears in the output")
	}

	// --source picks one; the top-level cluster fills a source without one.
	out.Reset()
	res, err = Run(context.Background(), Params{Telemetry: cfg.Telemetry, Only: []string{"am"}, Cluster: "prod-us-2"}, Env{Sources: builtin.Registry(), Out: &out})
	if err != nil || len(res.Sources) != 1 || res.Failed() {
		t.Fatalf("--source am: %+v, %v", res, err)
	}
	var am signal.Signal
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &am); err != nil || am.Asset.Cluster != "prod-us-2" {
		t.Errorf("--source am with a top-level cluster: %s (%v)", out.String(), err)
	}
	if cfg.Telemetry[1].Cluster != "" {
		t.Error("Run changed the caller's configuration")
	}
}

func TestFetchUsage(t *testing.T) {
	t.Setenv("PG_FETCH_EMPTY", "")
	for _, tc := range []struct {
		name, yaml string
		only       []string
		want       string
	}{
		{"no pull source", "telemetry: [{type: falco, path: x}]", nil, "no pull source configured"},
		{"file type with a url", "telemetry: [{type: falco, url: 'http://x'}]", nil, "read from files or pushed, not pulled"},
		{"unknown type", "telemetry: [{type: splunk, url: 'http://x'}]", nil, `unknown telemetry type "splunk"`},
		{"missing token file", "telemetry: [{type: alertmanager, url: 'http://x', auth: {token_file: nope}}]", nil, "auth token: read"},
		{"empty secret env", "telemetry: [{type: crowdstrike, url: 'https://x', oauth2: {token_url: 'https://x/oauth2/token', client_id: c, client_secret_env: PG_FETCH_EMPTY}}]", nil, "PG_FETCH_EMPTY is empty"},
		{"no token url", "telemetry: [{type: crowdstrike, url: 'https://x', oauth2: {client_id: c, client_secret_env: HOME}}]", nil, `missing key "token_url"`},
		{"bad severity", "telemetry: [{type: prometheus, url: 'http://x', queries: [{name: a, expr: up, threshold: 1, severity: huge}]}]", nil, "unknown severity"},
		{"no queries", "telemetry: [{type: prometheus, url: 'http://x'}]", nil, `missing key "queries"`},
		{"duplicate names", "telemetry: [{type: alertmanager, url: 'http://x'}, {type: alertmanager, url: 'http://y'}]", nil, "used twice"},
		{"unknown --source", "telemetry: [{type: alertmanager, url: 'http://x'}]", []string{"nope"}, `--source "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, tc.yaml)
			_, err := Run(context.Background(), Params{Telemetry: cfg.Telemetry, Only: tc.only}, Env{Sources: builtin.Registry(), Out: &bytes.Buffer{}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !tasks.IsUsage(err) {
				t.Errorf("err = %v (usage %v), want a usage error with %q", err, tasks.IsUsage(err), tc.want)
			}
		})
	}
}
