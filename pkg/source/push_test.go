package source_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/falco"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
	"github.com/pulsegate/pulsegate/pkg/source/k8saudit"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

const pushSecret = "push-shared-secret-42"

type sink struct {
	mu      sync.Mutex
	batches []*source.Batch
	err     error
}

func (s *sink) deliver(_ context.Context, b *source.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, b)
	return nil
}

func newReceiver(t *testing.T, spec source.Spec, max int64) (*httptest.Server, *sink) {
	t.Helper()
	s := &sink{}
	h, err := source.NewReceiver(spec, source.ReceiverOptions{Secret: httpclient.NewSecret(pushSecret), Deliver: s.deliver, MaxBodyBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, s
}

func post(t *testing.T, url, auth, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatalf("reply is not JSON: %v", err)
	}
	return resp.StatusCode, reply
}

// TestReceiverFalcosidekick posts every real Falco alert line the way
// Falcosidekick's webhook output does: one alert per request, with a uuid
// and the custom Authorization header.
func TestReceiverFalcosidekick(t *testing.T) {
	files := sourcetest.Samples(t, "falco", "website_all_alert_lines.jsonl", "falco-test_single_rule_with_cat_write.json")
	srv, s := newReceiver(t, falco.Spec, 0)
	sent := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m["uuid"] = "4a9a0a3e-0000-4000-8000-" + strings.Repeat("0", 11) + string(rune('a'+sent%6))
			body, _ := json.Marshal(m)
			code, reply := post(t, srv.URL+"/falco", "Bearer "+pushSecret, "application/json", bytes.NewReader(body))
			if code != http.StatusOK || reply["signals"] != 1.0 {
				t.Fatalf("%s: alert %d: HTTP %d %v", filepath.Base(f), sent, code, reply)
			}
			sent++
		}
		fh.Close()
	}
	if len(s.batches) != sent || sent < 10 {
		t.Fatalf("%d batches delivered for %d requests", len(s.batches), sent)
	}
	b := s.batches[0]
	if b.Source.Type != "falco" || b.Written.IsZero() || b.Signals[0].Raw.ID == "" {
		t.Errorf("batch: source %v, written %v, raw id %q", b.Source, b.Written, b.Signals[0].Raw.ID)
	}
}

// TestReceiverAuditWebhook posts what the kube-apiserver's audit webhook
// backend sends: an audit.k8s.io/v1 EventList, here of the real Falco
// trace-file events.
func TestReceiverAuditWebhook(t *testing.T) {
	files := sourcetest.Samples(t, "k8s-audit/falco-trace-files", "*.json")
	var items []json.RawMessage
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if l = bytes.TrimSpace(l); len(l) > 0 && json.Valid(l) {
				items = append(items, l)
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": items})
	srv, s := newReceiver(t, k8saudit.Spec, 0)
	code, reply := post(t, srv.URL+"/audit", "Bearer "+pushSecret, "application/json", bytes.NewReader(body))
	if code != http.StatusOK {
		t.Fatalf("HTTP %d %v", code, reply)
	}
	if len(s.batches) != 1 || s.batches[0].Records != len(items) || len(s.batches[0].Signals) == 0 {
		t.Fatalf("delivered %d batches; want one of %d records", len(s.batches), len(items))
	}
	if int(reply["records"].(float64)) != len(items) {
		t.Errorf("reply %v, want %d records", reply, len(items))
	}
}

func TestReceiverRefuses(t *testing.T) {
	alert := `{"time":"2026-11-30T10:00:00Z","rule":"r","priority":"Warning","output":"o","hostname":"n1"}`
	srv, s := newReceiver(t, falco.Spec, 1024)
	for _, tc := range []struct {
		name, method, auth, ctype string
		body                      io.Reader
		want                      int
	}{
		{"no secret", "POST", "", "application/json", strings.NewReader(alert), 401},
		{"wrong secret", "POST", "Bearer " + pushSecret + "x", "application/json", strings.NewReader(alert), 401},
		{"prefix of the secret", "POST", "Bearer push", "application/json", strings.NewReader(alert), 401},
		{"basic auth", "POST", "Basic " + pushSecret, "application/json", strings.NewReader(alert), 401},
		{"GET", "GET", "Bearer " + pushSecret, "application/json", nil, 405},
		{"text/plain", "POST", "Bearer " + pushSecret, "text/plain", strings.NewReader(alert), 415},
		{"no content type", "POST", "Bearer " + pushSecret, "", strings.NewReader(alert), 415},
		{"too large", "POST", "Bearer " + pushSecret, "application/json", strings.NewReader(strings.Repeat(" ", 2000) + alert), 413},
		{"too large, chunked", "POST", "Bearer " + pushSecret, "application/json", io.MultiReader(strings.NewReader(strings.Repeat(" ", 2000)), strings.NewReader(alert)), 413},
		{"empty", "POST", "Bearer " + pushSecret, "application/json", strings.NewReader("  "), 400},
		{"garbage", "POST", "Bearer " + pushSecret, "application/json", strings.NewReader("not json"), 400},
		{"unusable alert", "POST", "Bearer " + pushSecret, "application/json", strings.NewReader(`{"rule":"r"}`), 400},
		{"ok, charset parameter", "POST", "bearer " + pushSecret, "application/json; charset=utf-8", strings.NewReader(alert), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if strings.Contains(tc.name, "chunked") {
				body = struct{ io.Reader }{body} // hide the length
			}
			req, _ := http.NewRequest(tc.method, srv.URL, body)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, tc.want)
			}
			if bytes.Contains(b, []byte(pushSecret)) {
				t.Errorf("reply shows the secret: %s", b)
			}
			if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if len(s.batches) != 1 {
		t.Errorf("%d batches delivered, want 1 (only the good request)", len(s.batches))
	}
	s.err = errors.New("store is full")
	code, reply := post(t, srv.URL, "Bearer "+pushSecret, "application/json", strings.NewReader(alert))
	if code != http.StatusServiceUnavailable || !strings.Contains(reply["error"].(string), "store is full") {
		t.Errorf("failing Deliver: HTTP %d %v, want 503", code, reply)
	}
}

func TestNewReceiverChecks(t *testing.T) {
	deliver := func(context.Context, *source.Batch) error { return nil }
	if _, err := source.NewReceiver(falco.Spec, source.ReceiverOptions{Deliver: deliver}); err == nil {
		t.Error("no secret accepted")
	}
	if _, err := source.NewReceiver(falco.Spec, source.ReceiverOptions{Secret: httpclient.NewSecret("x")}); err == nil {
		t.Error("no Deliver accepted")
	}
}
