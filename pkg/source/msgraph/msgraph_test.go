package msgraph

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func testdata(t testing.TB) []string {
	m, err := filepath.Glob("testdata/*.json")
	if err != nil || len(m) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return m
}

func TestConformance(t *testing.T) { sourcetest.Run(t, Spec, testdata(t)...) }

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "edr-siem", "msgraph-*.json")...)
}

func TestGolden(t *testing.T) {
	for _, f := range testdata(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sourcetest.Golden(t, Spec, f, filepath.Join("testdata", "golden", filepath.Base(f)), *update)
		})
	}
}

func TestMapping(t *testing.T) {
	b, err := source.ReadFile("testdata/k8s-alerts.json", Spec, signal.SourceRef{Name: "graph", Type: Spec.Type}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 2 || b.Rejected != 4 {
		t.Fatalf("%d signals, %d rejected (%v); want 2 and 4", len(b.Signals), b.Rejected, b.Rejects)
	}
	s := b.Signals[0]
	want := signal.Asset{Cluster: "prod-eu-1", Node: "aks-payments-12345678-vmss000002", Namespace: "payments", WorkloadKind: "Deployment",
		Workload: "payments-worker", Pod: "payments-worker-6b7c8d-x2v4q", Container: "worker", ContainerID: "containerd://4f6a2b1c9d8e7f60",
		Image: "registry.example/payments/worker:2.4.1", ImageDigest: "sha256:9c3f5a1e2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e"}
	if s.Asset != want {
		t.Errorf("asset\n got %+v\nwant %+v", s.Asset, want)
	}
	if s.Severity != signal.SeverityHigh || s.ClassUID != signal.ClassDetectionFinding || s.Heartbeat || s.Rule != "K8S.NODE_ReverseShell" ||
		s.Time.Format(time.RFC3339Nano) != "2026-11-30T09:48:00.1234567Z" || s.Raw.ID != "dc1a2b3c4d5e6f70819_-1234567890" {
		t.Errorf("signal %+v", s)
	}
	if r := b.Signals[1]; !r.Heartbeat || r.Asset.Namespace != "web" || r.Asset.Cluster != "prod-eu-1" {
		t.Errorf("resolved alert %+v", r)
	}
	for i, w := range []string{`missing field "createdDateTime"`, `"30/11/2026" is not an ISO 8601 time`, `not #microsoft.graph.security.alert`, `field "evidence" has a JSON object, want an array`} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d = %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
	// The real sample: flattened evidence.
	b, err = source.ReadFile("testdata/stix-shifter-alert-v2.json", Spec, signal.SourceRef{Name: "graph", Type: Spec.Type}, nil)
	if err != nil || len(b.Signals) != 1 {
		t.Fatalf("%v, %d signals", err, len(b.Signals))
	}
	s = b.Signals[0]
	if s.Asset.Node != "tempDns" || !strings.HasSuffix(s.Asset.CloudResource, "/virtualMachines/NirLaviTests") || s.Severity != signal.SeverityLow ||
		s.Attrs["device_id"] != "73e7e2de709dff64ef64b1d0c30e67fab63279db" || s.Attrs["process"] != `"MsSense.exe"` {
		t.Errorf("real sample: %+v", s)
	}
}

// graphServer speaks the parts of Microsoft identity platform and Graph
// that the puller uses: the client-credentials token endpoint, alerts_v2
// with $filter, $top and @odata.nextLink ($skiptoken), 429 with
// Retry-After, and 401 InvalidAuthenticationToken for an expired token.
type graphServer struct {
	*httptest.Server
	t         *testing.T
	tenant    string
	secret    string
	alerts    []json.RawMessage
	mu        sync.Mutex
	tokens    map[string]bool
	issued    int
	throttled bool // the next page answers 429 once
	got429    int
	got401    int
	filters   []string
}

func newGraphServer(t *testing.T, secret string, alerts []json.RawMessage) *graphServer {
	g := &graphServer{t: t, tenant: "00000000-0000-4000-8000-000000000001", secret: secret, alerts: alerts, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", g.token)
	mux.HandleFunc("GET /v1.0/security/alerts_v2", g.list)
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"innerError":{"request-id":"7d8c4d4f-0000-4000-8000-000000000000"}}}`, code, msg)
}

func (g *graphServer) token(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != g.tenant {
		graphError(w, 400, "invalid_request", "AADSTS90002: Tenant not found.")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != DefaultScope {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_request","error_description":"AADSTS900144: The request body must contain the following parameter: 'grant_type'."}`)
		return
	}
	if r.PostForm.Get("client_id") != "app-id" || r.PostForm.Get("client_secret") != g.secret {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
		return
	}
	g.mu.Lock()
	g.issued++
	tok := fmt.Sprintf("eyJ0eXAiOiJKV1Qi.graph-token-%d", g.issued)
	g.tokens[tok] = true
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, tok)
}

func (g *graphServer) expireTokens() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.tokens)
}

func (g *graphServer) list(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !g.tokens[tok] {
		g.got401++
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token"`)
		graphError(w, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
		return
	}
	q := r.URL.Query()
	filter := q.Get("$filter")
	if !strings.HasPrefix(filter, "lastUpdateDateTime ge ") {
		graphError(w, 400, "BadRequest", "Invalid filter clause")
		return
	}
	top, err := strconv.Atoi(q.Get("$top"))
	if err != nil || top < 1 || top > 2000 {
		graphError(w, 400, "BadRequest", "Invalid $top")
		return
	}
	skip, _ := strconv.Atoi(q.Get("$skiptoken"))
	if skip > 0 && g.throttled {
		g.throttled = false
		g.got429++
		w.Header().Set("Retry-After", "1")
		graphError(w, 429, "TooManyRequests", "Too many requests.")
		return
	}
	g.filters = append(g.filters, filter)
	end := min(skip+top, len(g.alerts))
	page := map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2",
		"value":          g.alerts[skip:end],
	}
	if end < len(g.alerts) {
		nq := q
		nq.Set("$skiptoken", strconv.Itoa(end))
		page["@odata.nextLink"] = g.URL + r.URL.Path + "?" + nq.Encode()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

// realAlerts returns the shared real alert and variants of it (other ids
// and severities), and the documented Kubernetes alerts.
func realAlerts(t *testing.T) []json.RawMessage {
	data, err := os.ReadFile("testdata/stix-shifter-alert-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	out := []json.RawMessage{data}
	for i, sev := range []string{"high", "medium", "informational"} {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m["id"] = fmt.Sprintf("%s-%d", m["id"], i+1)
		m["severity"] = sev
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	k8s, err := os.ReadFile("testdata/k8s-alerts.json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Value []json.RawMessage }
	if err := json.Unmarshal(k8s, &list); err != nil {
		t.Fatal(err)
	}
	return append(out, list.Value[:2]...)
}

func TestPullFromGraph(t *testing.T) {
	const secret = "graph-client-secret~Q8x.Zz"
	alerts := realAlerts(t)
	g := newGraphServer(t, secret, alerts)
	var logs bytes.Buffer
	cc := &httpclient.ClientCredentials{
		TokenURL: g.URL + "/" + g.tenant + "/oauth2/v2.0/token", ClientID: "app-id",
		ClientSecret: httpclient.NewSecret(secret), Scopes: []string{DefaultScope},
	}
	c, err := httpclient.New(httpclient.Options{Auth: cc, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), BaseDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := source.NewRegistry(Spec)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	p, err := reg.Puller(Spec.Type, source.PullConfig{URL: g.URL, PageSize: 2, Filter: "severity ne 'informational'", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	g.throttled = true
	start := time.Now()
	b, err := p.Pull(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != len(alerts) || b.Rejected != 0 || len(b.Signals) != len(alerts) {
		t.Fatalf("%d records, %d rejected (%v), %d signals; want %d", b.Records, b.Rejected, b.Rejects, len(b.Signals), len(alerts))
	}
	if g.got429 != 1 || time.Since(start) < time.Second {
		t.Errorf("429 answered %d times; the pull took %v (Retry-After: 1 not honoured?)", g.got429, time.Since(start))
	}
	if g.issued != 1 {
		t.Errorf("%d tokens issued for one pull, want 1", g.issued)
	}
	if want := "lastUpdateDateTime ge 2026-11-29T10:00:00Z and (severity ne 'informational')"; g.filters[0] != want {
		t.Errorf("$filter %q, want %q", g.filters[0], want)
	}
	if len(g.filters) != 3 {
		t.Errorf("%d pages fetched, want 3 (6 alerts, $top=2)", len(g.filters))
	}

	// The token expires: a 401, a new token, the same result.
	g.expireTokens()
	b2, err := p.Pull(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if g.got401 != 1 || g.issued != 2 || len(b2.Signals) != len(alerts) {
		t.Errorf("after expiry: %d 401s, %d tokens, %d signals", g.got401, g.issued, len(b2.Signals))
	}
	for i := range b.Signals {
		if b.Signals[i].ID != b2.Signals[i].ID {
			t.Errorf("signal %d changed id between polls", i)
		}
	}

	// A wrong secret: the error says why, without the secret.
	bad := &httpclient.ClientCredentials{TokenURL: cc.TokenURL, ClientID: "app-id", ClientSecret: httpclient.NewSecret(secret + "-wrong"), Scopes: []string{DefaultScope}}
	cb, _ := httpclient.New(httpclient.Options{Auth: bad, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err = p.Pull(context.Background(), cb)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("wrong secret: %v", err)
	}
	if out := err.Error() + logs.String(); strings.Contains(out, "Q8x.Zz") || strings.Contains(out, "graph-token-") {
		t.Errorf("a secret leaked into errors or logs:\n%s", out)
	}
}

func TestPullerConfig(t *testing.T) {
	if _, err := newPuller(source.PullConfig{URL: "graph.microsoft.com"}); err == nil {
		t.Error("URL without scheme accepted")
	}
	if _, err := newPuller(source.PullConfig{URL: DefaultURL, PageSize: 5000}); err == nil || !strings.Contains(err.Error(), "2000") {
		t.Errorf("page size: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("edr-siem", "msgraph-*.json")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
