package source_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/falco"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

type fakePuller struct {
	err   error
	items []json.RawMessage
}

func (f *fakePuller) Pull(ctx context.Context, c *httpclient.Client) (*source.Batch, error) {
	if f.err != nil {
		return nil, f.err
	}
	b := &source.Batch{}
	source.AddItems(b, falco.Spec.New(), "GET /alerts", f.items)
	return b, nil
}

func TestPollerHealth(t *testing.T) {
	c, err := httpclient.New(httpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	fp := &fakePuller{items: []json.RawMessage{
		json.RawMessage(`{"time":"2026-11-30T09:59:00Z","rule":"r","priority":"Critical","output":"o","hostname":"n1"}`),
		json.RawMessage(`{"rule":"no time"}`),
		json.RawMessage(`{"time":"2026-11-30T09:58:00Z","rule":"q","priority":"Bogus"}`),
	}}
	ref := signal.SourceRef{Name: "falco-eu", Type: "falco"}
	p := &source.Poller{Ref: ref, Puller: fp, Client: c, Now: func() time.Time { return now }}
	b, h, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != 3 || b.Rejected != 2 || len(b.Signals) != 1 || b.Signals[0].Source != ref || !b.Written.Equal(now) {
		t.Fatalf("batch: %d records, %d rejected, %d signals, source %v, written %v", b.Records, b.Rejected, len(b.Signals), b.Signals[0].Source, b.Written)
	}
	if b.Rejects[0].File != "GET /alerts" || b.Rejects[0].Line != 2 {
		t.Errorf("reject at %s:%d, want GET /alerts:2", b.Rejects[0].File, b.Rejects[0].Line)
	}
	if !h.LastSuccess.Equal(now) || h.Polls != 1 || h.Failures != 0 || h.Records != 3 || h.Rejected != 2 {
		t.Errorf("health after success: %+v", h)
	}
	fp.err = errors.New("connection refused")
	now = now.Add(time.Minute)
	b, h, err = p.Poll(context.Background())
	if err == nil || b != nil || !strings.Contains(err.Error(), "poll falco-eu: connection refused") {
		t.Fatalf("failing poll: %v, %v", b, err)
	}
	if !h.LastError.Equal(now) || h.LastSuccess.Equal(now) || h.Err != err.Error() || h.Polls != 2 || h.Failures != 1 {
		t.Errorf("health after failure: %+v", h)
	}
	if got := p.Health(); got != h {
		t.Errorf("Health() = %+v, want %+v", got, h)
	}
}

func TestRegistryPuller(t *testing.T) {
	called := false
	pullable := source.Spec{Type: "api", New: falco.Spec.New, Pull: func(cfg source.PullConfig) (source.Puller, error) {
		called = true
		if cfg.Ref.Name != "api" || cfg.URL != "http://x" {
			t.Errorf("cfg %+v", cfg)
		}
		return &fakePuller{}, nil
	}}
	r, err := source.NewRegistry(falco.Spec, pullable)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Puller("falco", source.PullConfig{URL: "http://x"}); err == nil || !strings.Contains(err.Error(), "not pulled") {
		t.Errorf("falco: %v", err)
	}
	if _, err := r.Puller("api", source.PullConfig{}); err == nil || !strings.Contains(err.Error(), `missing key "url"`) {
		t.Errorf("no url: %v", err)
	}
	if _, err := r.Puller("nope", source.PullConfig{URL: "http://x"}); err == nil || !strings.Contains(err.Error(), "unknown telemetry type") {
		t.Errorf("unknown: %v", err)
	}
	if _, err := r.Puller("api", source.PullConfig{URL: "http://x"}); err != nil || !called {
		t.Errorf("api: %v", err)
	}
}
