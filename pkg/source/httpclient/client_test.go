package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTest returns a client whose waits are recorded instead of slept.
func newTest(t *testing.T, opts Options) (*Client, *[]time.Duration) {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	waits := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return c, waits
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"Mon, 30 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Monday, 30-Nov-26 10:01:00 GMT", time.Minute, true}, // RFC 850, obsolete but valid
		{"Mon Nov 30 10:00:05 2026", 5 * time.Second, true},   // asctime
		{"Sun, 29 Nov 2026 10:00:00 GMT", 0, true},            // past: now
		{"99999999999", 24 * time.Hour, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		responses []func(w http.ResponseWriter)
		attempts  int
		wantErr   string
		wantWaits []time.Duration // exact waits; nil: not checked
		wantCalls int
		minWait   time.Duration // the first wait is at least this; 0: not checked
	}{
		{
			name: "503 with Retry-After seconds, then ok",
			responses: []func(http.ResponseWriter){
				status(503, "Retry-After", "7"), ok(`{"a":1}`),
			},
			wantWaits: []time.Duration{7 * time.Second}, wantCalls: 2,
		},
		{
			name: "429 with Retry-After date, then ok",
			responses: []func(http.ResponseWriter){
				status(429, "Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)), ok(`{}`),
			},
			wantCalls: 2, minWait: 88 * time.Second,
		},
		{
			name: "429 with X-RateLimit-RetryAfter (Unix time), then ok",
			responses: []func(http.ResponseWriter){
				status(429, "X-RateLimit-RetryAfter", fmt.Sprint(time.Now().Add(30*time.Second).Unix())), ok(`{}`),
			},
			wantCalls: 2, minWait: 28 * time.Second,
		},
		{
			name:      "404 is not retried",
			responses: []func(http.ResponseWriter){status(404)},
			wantErr:   "HTTP 404 Not Found", wantCalls: 1, wantWaits: []time.Duration{},
		},
		{
			name:      "attempts are bounded",
			responses: []func(http.ResponseWriter){status(502), status(502), status(502), status(502), ok(`{}`)},
			attempts:  3, wantErr: "giving up after 3 attempts", wantCalls: 3,
		},
		{
			name:      "Retry-After past the time budget ends at once",
			responses: []func(http.ResponseWriter){status(429, "Retry-After", "3600"), ok(`{}`)},
			wantErr:   "would pass the 2m0s limit", wantCalls: 1, wantWaits: []time.Duration{},
		},
		{
			name:      "500, 504 retried with backoff",
			responses: []func(http.ResponseWriter){status(500), status(504), ok(`{}`)},
			wantCalls: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				tc.responses[min(n, len(tc.responses)-1)](w)
			}))
			defer srv.Close()
			c, waits := newTest(t, Options{MaxAttempts: tc.attempts})
			_, err := c.Get(context.Background(), srv.URL+"/x?token=abc")
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Get: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Get error = %v, want it to contain %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "token=abc") {
				t.Errorf("error shows the query string: %v", err)
			}
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Errorf("%d calls, want %d", got, tc.wantCalls)
			}
			if tc.wantWaits != nil && fmt.Sprint(*waits) != fmt.Sprint(tc.wantWaits) {
				t.Errorf("waits %v, want %v", *waits, tc.wantWaits)
			}
			if tc.minWait > 0 && (len(*waits) == 0 || (*waits)[0] < tc.minWait) {
				t.Errorf("waits %v, want the first at least %v", *waits, tc.minWait)
			}
			for _, w := range *waits {
				if w <= 0 || w > 2*time.Minute {
					t.Errorf("wait %v out of range", w)
				}
			}
		})
	}
}

func status(code int, kv ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":"status %d"}`, code)
	}
}

func ok(body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.Header().Set("Content-Type", "application/json"); fmt.Fprint(w, body) }
}

func TestBackoffJitter(t *testing.T) {
	c, _ := newTest(t, Options{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second})
	for attempt, step := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		step *= time.Millisecond
		if attempt == 4 || attempt == 5 {
			step = time.Second
		}
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(attempt + 1)
			if d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt+1, d, step/2, step)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff(%d): only %d distinct waits in 200: no jitter", attempt+1, len(seen))
		}
	}
}

func TestTotalTimeBudget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	c, err := New(Options{MaxAttempts: 100, MaxElapsed: 300 * time.Millisecond, BaseDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Get(context.Background(), srv.URL)
	if err == nil || !strings.Contains(err.Error(), "limit for one request") {
		t.Fatalf("err = %v, want the time budget error", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v with a 300ms budget", el)
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := newTest(t, Options{Timeout: 50 * time.Millisecond, MaxAttempts: 2})
	_, err := c.Get(context.Background(), srv.URL)
	if err == nil || !strings.Contains(err.Error(), "giving up after 2 attempts") {
		t.Fatalf("err = %v, want a timeout after 2 attempts", err)
	}
}

func TestBodyLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 2048))
	}))
	defer srv.Close()
	c, _ := newTest(t, Options{MaxBodyBytes: 1024, MaxAttempts: 1})
	if _, err := c.Get(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Fatalf("err = %v, want the body limit", err)
	}
}

func TestBadURL(t *testing.T) {
	c, _ := newTest(t, Options{})
	for _, u := range []string{"", "ftp://x/y", "/relative", "http://"} {
		if _, err := c.Get(context.Background(), u); err == nil || !strings.Contains(err.Error(), "absolute http or https URL") {
			t.Errorf("Get(%q): %v", u, err)
		}
	}
}

// tokenServer is an OAuth2 token endpoint and an API behind it.
type tokenServer struct {
	*httptest.Server
	secret  string
	life    int // expires_in seconds
	tokens  atomic.Int32
	calls   atomic.Int32
	revoked atomic.Bool // the API refuses the current token once
	mu      sync.Mutex
	current string
}

func newTokenServer(t *testing.T, secret string) *tokenServer {
	ts := &tokenServer{secret: secret, life: 3600}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != "app" {
			http.Error(w, `{"error":"invalid_request"}`, 400)
			return
		}
		if r.PostForm.Get("client_secret") != ts.secret {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s"}`, r.PostForm.Get("client_secret"))
			return
		}
		n := ts.tokens.Add(1)
		ts.mu.Lock()
		ts.current = fmt.Sprintf("tok-%d", n)
		ts.mu.Unlock()
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, ts.current, ts.life)
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		ts.calls.Add(1)
		ts.mu.Lock()
		cur := ts.current
		ts.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+cur || ts.revoked.CompareAndSwap(true, false) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":"expired", "echo": %q}`, r.Header.Get("Authorization"))
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	})
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestClientCredentials(t *testing.T) {
	ts := newTokenServer(t, "right")
	cc := &ClientCredentials{TokenURL: ts.URL + "/token", ClientID: "app", ClientSecret: NewSecret("right")}
	c, _ := newTest(t, Options{Auth: cc})
	clock := time.Now()
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	for range 3 {
		if _, err := c.Get(ctx, ts.URL+"/api"); err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.tokens.Load(); n != 1 {
		t.Errorf("%d token requests for 3 calls, want 1 (cached)", n)
	}
	// Near expiry: renewed before the API sees an expired token.
	clock = clock.Add(3600*time.Second - ExpirySkew + time.Second)
	if _, err := c.Get(ctx, ts.URL+"/api"); err != nil {
		t.Fatal(err)
	}
	if n := ts.tokens.Load(); n != 2 {
		t.Errorf("%d token requests after expiry, want 2", n)
	}
	// Revoked: a 401 fetches a new token and retries once.
	ts.revoked.Store(true)
	if _, err := c.Get(ctx, ts.URL+"/api"); err != nil {
		t.Fatalf("after a 401: %v", err)
	}
	if n := ts.tokens.Load(); n != 3 {
		t.Errorf("%d token requests after a 401, want 3", n)
	}
}

func TestBearerNotRenewedOn401(t *testing.T) {
	ts := newTokenServer(t, "x")
	c, _ := newTest(t, Options{Auth: Bearer{NewSecret("static-token")}})
	_, err := c.Get(context.Background(), ts.URL+"/api")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 401 || ts.calls.Load() != 1 {
		t.Fatalf("err = %v after %d calls, want one HTTP 401", err, ts.calls.Load())
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "{}") }))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	c, _ := newTest(t, Options{MaxAttempts: 1})
	if _, err := c.Get(ctx, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("default client trusted a self-signed server: %v", err)
	}
	c, _ = newTest(t, Options{CAFile: ca})
	if _, err := c.Get(ctx, srv.URL); err != nil {
		t.Errorf("with ca_file: %v", err)
	}
	var log bytes.Buffer
	c, _ = newTest(t, Options{InsecureSkipVerify: true, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if _, err := c.Get(ctx, srv.URL); err != nil {
		t.Errorf("insecure: %v", err)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "VERIFICATION IS OFF") {
		t.Errorf("insecure_skip_verify logged no warning: %q", log.String())
	}
	if _, err := New(Options{InsecureSkipVerify: true, CAFile: ca}); err == nil {
		t.Error("ca_file with insecure_skip_verify accepted")
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := New(Options{CAFile: bad}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad ca_file: %v", err)
	}
	if _, err := New(Options{CAFile: filepath.Join(dir, "missing.pem")}); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("missing ca_file: %v", err)
	}
}

func TestSecretPrints(t *testing.T) {
	s := NewSecret("hunter2-value")
	type holder struct {
		Token Secret
		P     *Secret
	}
	h := holder{s, &s}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s"} {
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", h)
	}
	j, _ := json.Marshal(h)
	out.Write(j)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "secret", s, "holder", h)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "secret", s, "holder", h)
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Fatalf("no %s in output:\n%s", Redacted, out.String())
	}
	if s.Reveal() != "hunter2-value" {
		t.Fatal("Reveal")
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	os.WriteFile(f, []byte("  file-secret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	t.Setenv("PG_TEST_TOKEN", "env-secret")
	t.Setenv("PG_TEST_EMPTY", "")
	for _, tc := range []struct {
		file, env, want, err string
	}{
		{file: f, want: "file-secret"},
		{env: "PG_TEST_TOKEN", want: "env-secret"},
		{file: f, env: "PG_TEST_TOKEN", err: "not both"},
		{file: empty, err: "is empty"},
		{file: filepath.Join(dir, "nope"), err: "no such file"},
		{env: "PG_TEST_UNSET_VARIABLE", err: "is not set"},
		{env: "PG_TEST_EMPTY", err: "is empty"},
		{err: "no file or environment variable"},
	} {
		s, err := LoadSecret("auth token", tc.file, tc.env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "auth token: ") {
				t.Errorf("LoadSecret(%q, %q) error %v, want %q", tc.file, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || s.Reveal() != tc.want {
			t.Errorf("LoadSecret(%q, %q) = %v, %v", tc.file, tc.env, s.Reveal(), err)
		}
	}
}

func TestODataPages(t *testing.T) {
	var srv *httptest.Server
	pages := map[string]string{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := pages[r.URL.RawQuery]
		if !ok {
			w.WriteHeader(404)
			return
		}
		fmt.Fprint(w, strings.ReplaceAll(b, "BASE", srv.URL))
	}))
	defer srv.Close()
	c, _ := newTest(t, Options{})
	collect := func(u string) ([]string, error) {
		var got []string
		err := c.ODataPages(context.Background(), u, 10, func(items []json.RawMessage) error {
			for _, it := range items {
				got = append(got, string(it))
			}
			return nil
		})
		return got, err
	}
	pages["p=1"] = `{"value":[1,2],"@odata.nextLink":"BASE/?p=2"}`
	pages["p=2"] = `{"value":[3],"@odata.nextLink":"BASE/?p=3"}`
	pages["p=3"] = `{"value":[]}`
	got, err := collect(srv.URL + "/?p=1")
	if err != nil || strings.Join(got, ",") != "1,2,3" {
		t.Errorf("got %v, %v", got, err)
	}
	pages["p=4"] = `{"value":[1],"@odata.nextLink":"BASE/?p=4"}`
	if _, err := collect(srv.URL + "/?p=4"); err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Errorf("loop: %v", err)
	}
	pages["p=5"] = `{"value":[1],"@odata.nextLink":"https://elsewhere.example/?p=6"}`
	if _, err := collect(srv.URL + "/?p=5"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("foreign next link: %v", err)
	}
	pages["p=7"] = `{"items":[]}`
	if _, err := collect(srv.URL + "/?p=7"); err == nil || !strings.Contains(err.Error(), `no "value"`) {
		t.Errorf("no value: %v", err)
	}
}

func TestPagination(t *testing.T) {
	for _, tc := range []struct {
		p    string
		got  int
		want Cursor
		more bool
	}{
		{`{"offset":0,"limit":2,"total":5}`, 2, Cursor{Offset: 2}, true},
		{`{"offset":4,"limit":2,"total":5}`, 1, Cursor{}, false},
		{`{"offset":0,"limit":2,"total":5,"after":"abc"}`, 2, Cursor{After: "abc"}, true},
		{`{"offset":0,"limit":2,"total":5,"after":"abc"}`, 0, Cursor{}, false},
		{`{"offset":"tok","limit":2,"total":5}`, 2, Cursor{}, false},
	} {
		var p Pagination
		if err := json.Unmarshal([]byte(tc.p), &p); err != nil {
			t.Fatal(err)
		}
		got, more := p.Next(tc.got)
		if got != tc.want || more != tc.more {
			t.Errorf("%s Next(%d) = %v, %v; want %v, %v", tc.p, tc.got, got, more, tc.want, tc.more)
		}
	}
	n := 0
	err := Pages(context.Background(), 5, func(ctx context.Context, c Cursor) (Cursor, bool, error) {
		n++
		return Cursor{Offset: 1}, true, nil
	})
	if err == nil || !strings.Contains(err.Error(), "repeats") || n != 2 {
		t.Errorf("repeating cursor: %v after %d pages", err, n)
	}
	n = 0
	err = Pages(context.Background(), 3, func(ctx context.Context, c Cursor) (Cursor, bool, error) {
		n++
		return Cursor{Offset: n}, true, nil
	})
	if err == nil || !strings.Contains(err.Error(), "more than 3 pages") {
		t.Errorf("page bound: %v", err)
	}
}
