package crowdstrike

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

func TestGolden(t *testing.T) {
	for _, f := range testdata(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sourcetest.Golden(t, Spec, f, filepath.Join("testdata", "golden", filepath.Base(f)), *update)
		})
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		score int
		want  signal.Severity
		err   bool
	}{
		{"Critical", 0, signal.SeverityCritical, false}, {"high", 0, signal.SeverityHigh, false},
		{"Medium", 0, signal.SeverityMedium, false}, {"Low", 0, signal.SeverityLow, false},
		{"Informational", 0, signal.SeverityInformational, false}, {"Severe", 0, 0, true},
		{"", 100, signal.SeverityCritical, false}, {"", 90, signal.SeverityCritical, false}, {"", 89, signal.SeverityHigh, false},
		{"", 70, signal.SeverityHigh, false}, {"", 69, signal.SeverityMedium, false}, {"", 50, signal.SeverityMedium, false},
		{"", 49, signal.SeverityLow, false}, {"", 20, signal.SeverityLow, false}, {"", 19, signal.SeverityInformational, false},
		{"", 101, 0, true},
	} {
		got, err := SeverityOf(tc.name, tc.score)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("SeverityOf(%q, %d) = %v, %v; want %v", tc.name, tc.score, got, err, tc.want)
		}
	}
}

func TestMapping(t *testing.T) {
	b, err := source.ReadFile("testdata/alerts-entities.json", Spec, signal.SourceRef{Name: "cs", Type: Spec.Type}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Signals) != 3 || b.Rejected != 5 {
		t.Fatalf("%d signals, %d rejected (%v)", len(b.Signals), b.Rejected, b.Rejects)
	}
	s := b.Signals[0]
	if s.Asset != (signal.Asset{Node: "ip-10-0-2-22", Namespace: "payments", Pod: "payments-worker-6b7c8d-x2v4q"}) ||
		s.Severity != signal.SeverityCritical || s.Score != 0.9 || s.Rule != "ReverseShellContainer" || s.Attrs["technique"] != "T1059" ||
		s.Time.Format(time.RFC3339Nano) != "2026-11-30T09:47:33.416263617Z" {
		t.Errorf("container alert: %+v", s)
	}
	if s := b.Signals[1]; s.Severity != signal.SeverityMedium || s.Native != "55" || s.Asset.Node != "ip-10-0-3-31" {
		t.Errorf("numeric severity: %+v", s)
	}
	if s := b.Signals[2]; !s.Heartbeat {
		t.Errorf("closed alert is not a heartbeat: %+v", s)
	}
	for i, w := range []string{`missing field "created_timestamp"`, `unknown severity "Apocalyptic"`, `140 is outside 0..100`, `missing field "composite_id"`, `field "device" has a JSON string, want an object`} {
		if !strings.Contains(b.Rejects[i].Reason, w) {
			t.Errorf("reject %d = %q, want %q", i, b.Rejects[i].Reason, w)
		}
	}
}

// falconServer speaks the documented Falcon API flow: POST /oauth2/token
// (form client_id and client_secret, 201 with a bearer token), GET the
// alert ids with offset paging, POST the entities by composite id; 401
// "access denied, invalid bearer token" for an expired token and 429 with
// X-RateLimit-RetryAfter (a Unix time) when throttled.
type falconServer struct {
	*httptest.Server
	secret    string
	alerts    map[string]json.RawMessage
	ids       []string
	mu        sync.Mutex
	tokens    map[string]bool
	issued    int
	throttle  bool
	got401    int
	got429    int
	queries   []string
	entityReq int
}

func newFalconServer(t *testing.T, secret string, alerts []json.RawMessage) *falconServer {
	f := &falconServer{secret: secret, alerts: map[string]json.RawMessage{}, tokens: map[string]bool{}}
	for _, a := range alerts {
		var x struct {
			CompositeID string `json:"composite_id"`
		}
		json.Unmarshal(a, &x)
		f.ids = append(f.ids, x.CompositeID)
		f.alerts[x.CompositeID] = a
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, f.token)
	mux.HandleFunc("GET "+QueryPath, f.query)
	mux.HandleFunc("POST "+EntitiesPath, f.entities)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func falconReply(w http.ResponseWriter, status int, resources any, pagination map[string]any, errs ...string) {
	meta := map[string]any{"query_time": 0.001, "powered_by": "test", "trace_id": "00000000-0000-4000-8000-00000000abcd"}
	if pagination != nil {
		meta["pagination"] = pagination
	}
	e := []map[string]any{}
	for _, m := range errs {
		e = append(e, map[string]any{"code": status, "message": m})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"meta": meta, "resources": resources, "errors": e})
}

func (f *falconServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != "falcon-client" || r.PostForm.Get("client_secret") != f.secret {
		falconReply(w, 403, []any{}, nil, "Failed to issue access token - Not Authorized")
		return
	}
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("falcon-token-%d", f.issued)
	f.tokens[tok] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":1799}`, tok)
}

func (f *falconServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[tok] {
		f.got401++
		falconReply(w, 401, []any{}, nil, "access denied, invalid bearer token")
		return false
	}
	return true
}

func (f *falconServer) query(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorized(w, r) {
		return
	}
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 10000 {
		falconReply(w, 400, []any{}, nil, "invalid limit")
		return
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	if offset > 0 && f.throttle {
		f.throttle = false
		f.got429++
		w.Header().Set("X-RateLimit-Limit", "6000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-RetryAfter", strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10))
		falconReply(w, 429, []any{}, nil, "API rate limit exceeded.")
		return
	}
	f.queries = append(f.queries, q.Get("filter"))
	end := min(offset+limit, len(f.ids))
	falconReply(w, 200, f.ids[offset:end], map[string]any{"offset": offset, "limit": limit, "total": len(f.ids)})
}

func (f *falconServer) entities(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorized(w, r) {
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		falconReply(w, 415, []any{}, nil, "unsupported content type")
		return
	}
	var req struct {
		CompositeIDs []string `json:"composite_ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.CompositeIDs) == 0 || len(req.CompositeIDs) > MaxEntityIDs {
		falconReply(w, 400, []any{}, nil, "composite_ids: 1 to 1000 ids required")
		return
	}
	f.entityReq++
	out := []json.RawMessage{}
	for _, id := range req.CompositeIDs {
		if a, ok := f.alerts[id]; ok {
			out = append(out, a)
		}
	}
	falconReply(w, 200, out, nil)
}

func TestPullFromFalcon(t *testing.T) {
	const secret = "falcon-secret-Zq81xY"
	data, err := os.ReadFile("testdata/alerts-entities.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Resources []json.RawMessage }
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	alerts := env.Resources[:3] // the usable ones
	f := newFalconServer(t, secret, alerts)
	var logs bytes.Buffer
	cc := &httpclient.ClientCredentials{TokenURL: f.URL + TokenPath, ClientID: "falcon-client", ClientSecret: httpclient.NewSecret(secret)}
	c, err := httpclient.New(httpclient.Options{Auth: cc, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := source.NewRegistry(Spec)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	p, err := reg.Puller(Spec.Type, source.PullConfig{URL: f.URL, PageSize: 2, Filter: "status:!'closed'", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f.throttle = true
	start := time.Now()
	b, err := p.Pull(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != 3 || b.Rejected != 0 || len(b.Signals) != 3 {
		t.Fatalf("%d records, %d rejected, %d signals; want 3, 0, 3", b.Records, b.Rejected, len(b.Signals))
	}
	if f.got429 != 1 || time.Since(start) < time.Second {
		t.Errorf("429 answered %d times, pull took %v", f.got429, time.Since(start))
	}
	if len(f.queries) != 2 || f.entityReq != 1 || f.issued != 1 {
		t.Errorf("%d query pages, %d entity requests, %d tokens; want 2, 1, 1", len(f.queries), f.entityReq, f.issued)
	}
	if want := "updated_timestamp:>='2026-11-29T10:00:00Z'+(status:!'closed')"; f.queries[0] != want {
		t.Errorf("filter %q, want %q", f.queries[0], want)
	}
	// Token expiry: 401, then a new token.
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
	if _, err := p.Pull(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if f.got401 != 1 || f.issued != 2 {
		t.Errorf("after expiry: %d 401s, %d tokens; want 1 and 2", f.got401, f.issued)
	}
	// Wrong credentials.
	bad, _ := httpclient.New(httpclient.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Auth: &httpclient.ClientCredentials{TokenURL: cc.TokenURL, ClientID: "falcon-client", ClientSecret: httpclient.NewSecret("nope-" + secret)}})
	_, err = p.Pull(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("wrong secret: %v", err)
	}
	if out := err.Error() + logs.String(); strings.Contains(out, "Zq81xY") || strings.Contains(out, "falcon-token-") {
		t.Errorf("secret leaked:\n%s", out)
	}
}

func TestNoAlerts(t *testing.T) {
	f := newFalconServer(t, "s", nil)
	c, _ := httpclient.New(httpclient.Options{Auth: &httpclient.ClientCredentials{TokenURL: f.URL + TokenPath, ClientID: "falcon-client", ClientSecret: httpclient.NewSecret("s")}})
	p, _ := newPuller(source.PullConfig{URL: f.URL})
	b, err := p.Pull(context.Background(), c)
	if err != nil || b.Records != 0 || f.entityReq != 0 {
		t.Fatalf("empty: %v, %+v, %d entity requests", err, b, f.entityReq)
	}
}

func FuzzParse(f *testing.F) {
	for _, r := range sourcetest.Records(f, Spec, testdata(f)...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
