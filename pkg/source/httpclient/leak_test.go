package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSecretInOutput drives every error path of the client with known
// credentials, collects every error text and every log line (debug level,
// text and JSON), and fails when any credential appears in them.
func TestNoSecretInOutput(t *testing.T) {
	const (
		clientSecret = "CLIENT-SECRET-9f8e7d6c5b4a"
		bearer       = "BEARER-TOKEN-0a1b2c3d4e5f"
		accessToken  = "ACCESS-TOKEN-aa55aa55aa55"
	)
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	jlogger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	record := func(what string, err error) {
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		fmt.Fprintf(&out, "%s: %v | %+v | %#v\n", what, err, err, err)
		logger.Error(what, "err", err)
		jlogger.Error(what, "err", err)
	}

	// A server that echoes whatever credentials it gets, in every way it can.
	mode := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		echo := r.Header.Get("Authorization") + " " + r.PostForm.Get("client_secret")
		long := strings.Repeat("x", 290) + echo // straddles the snippet cut
		switch mode + " " + r.URL.Path {
		case "token-401 /token":
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":"invalid_client %s","error_description":%q}`, r.PostForm.Get("client_secret"), echo)
		case "token-500 /token":
			w.WriteHeader(500)
			fmt.Fprint(w, long)
		case "token-notjson /token":
			fmt.Fprint(w, echo)
		case "token-type /token":
			fmt.Fprintf(w, `{"access_token":%q,"token_type":%q}`, accessToken, r.PostForm.Get("client_secret"))
		case "api-401 /token", "api-500 /token", "api-429 /token":
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, accessToken)
		case "api-401 /api":
			w.WriteHeader(401)
			fmt.Fprint(w, echo)
		case "api-500 /api":
			w.WriteHeader(500)
			fmt.Fprint(w, long)
		case "api-429 /api":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
			fmt.Fprint(w, echo)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, echo)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	cc := func() *ClientCredentials {
		return &ClientCredentials{TokenURL: srv.URL + "/token", ClientID: "app", ClientSecret: NewSecret(clientSecret)}
	}
	for _, m := range []string{"token-401", "token-500", "token-notjson", "token-type", "api-401", "api-500", "api-429", "404"} {
		mode = m
		for _, auth := range []Auth{cc(), Bearer{NewSecret(bearer)}} {
			c, _ := newTest(t, Options{Auth: auth, Logger: logger, MaxAttempts: 3})
			_, err := c.Get(ctx, srv.URL+"/api?access_token="+bearer)
			record(m, err)
			_, err = c.PostJSON(ctx, srv.URL+"/api", []byte(`{}`))
			record(m+" post", err)
		}
	}
	// Network and TLS failures, with the credential in the URL's user info.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	for _, u := range []string{
		strings.Replace(closed.URL, "://", "://user:"+bearer+"@", 1) + "/x?key=" + bearer,
		strings.Replace(tlsSrv.URL, "://", "://user:"+bearer+"@", 1) + "/x?key=" + bearer,
		"::not a url " + bearer,
	} {
		c, _ := newTest(t, Options{Auth: Bearer{NewSecret(bearer)}, Logger: logger, MaxAttempts: 2})
		_, err := c.Get(ctx, u)
		record("network", err)
	}
	// Loading: the errors name the file or variable, not the value.
	dir := t.TempDir()
	f := filepath.Join(dir, "secret")
	os.WriteFile(f, []byte(clientSecret), 0o600)
	t.Setenv("PG_LEAK", clientSecret)
	_, err := LoadSecret("auth token", f, "PG_LEAK")
	record("load both", err)
	s, _ := LoadSecret("auth token", f, "")
	logger.Info("loaded", "secret", s, "auth", Bearer{s}, "cc", cc())
	jlogger.Info("loaded", "secret", s, "auth", Bearer{s})
	fmt.Fprintf(&out, "%v %+v %#v\n", Bearer{s}, cc(), *cc())
	j, _ := json.Marshal(map[string]any{"bearer": Bearer{s}, "cc": cc()})
	out.Write(j)

	for _, secret := range []string{clientSecret, bearer, accessToken} {
		if i := strings.Index(out.String(), secret); i >= 0 {
			t.Errorf("secret %q appears in the output:\n...%s...", secret, out.String()[max(0, i-200):min(out.Len(), i+100)])
		}
		// Half a secret is a leak too.
		if half := secret[:len(secret)/2+2]; strings.Contains(out.String(), half) {
			t.Errorf("half of secret %q (%q) appears in the output", secret, half)
		}
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Error("no redaction marker in the output: the test did not exercise the scrubbing")
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
}
