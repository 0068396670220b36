// Package alertmanager reads Prometheus Alertmanager alerts: pulled from
// the API (GET /api/v2/alerts, firing alerts only), pushed by
// Alertmanager's webhook receiver (the version 4 body), or read from a file
// holding either, an /api/v2/alerts/groups response, or Prometheus's own
// /api/v1/alerts and /api/v1/rules responses.
//
// Every firing alert becomes a Detection Finding (OCSF 2004) about the
// asset its labels name (cluster, namespace, pod, container, node, and
// kube-state-metrics' deployment, statefulset and daemonset labels). A
// resolved alert (webhook status "resolved"), a silenced or inhibited one
// (API state "suppressed") and a Prometheus alert still "pending" become
// heartbeats: they show that the Alertmanager is alive and never count as
// findings.
//
// Severity comes from the "severity" label, by convention only (docs/sources.md
// has the table): critical 5, error/high/major 4, warning 3, low/minor 2,
// info 1; no label is Unknown (0), which never reaches a blocking threshold
// by itself; any other value is Other (99).
package alertmanager

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "alertmanager",
	Product: "Alertmanager",
	Summary: "Alertmanager firing alerts: pull /api/v2/alerts, webhook push, or files",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  unwrap,
	Pull:    newPuller,
}

// Parser parses one alert, or a record holding several ("alerts": a
// webhook body or an alert group). The zero value is ready to use.
type Parser struct{}

type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	UpdatedAt    string            `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// Status is a string in webhook bodies ("firing", "resolved") and an
	// object in API v2 responses.
	Status json.RawMessage `json:"status"`
	// State and ActiveAt are Prometheus's /api/v1/alerts fields.
	State    string `json:"state"`
	ActiveAt string `json:"activeAt"`
	Value    string `json:"value"`

	Alerts   []json.RawMessage `json:"alerts"`
	Receiver json.RawMessage   `json:"receiver"`
}

type apiStatus struct {
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var a alert
	if err := json.Unmarshal(rec.Data, &a); err != nil {
		return nil, fmt.Errorf("not an Alertmanager alert: %v", source.JSONReason(err))
	}
	if a.Alerts != nil {
		// A webhook body or an alert group: every alert must be usable.
		if len(a.Alerts) == 0 {
			return nil, errors.New(`field "alerts" is empty`)
		}
		receiver := receiverName(a.Receiver)
		out := make([]signal.Signal, 0, len(a.Alerts))
		for i, raw := range a.Alerts {
			var x alert
			if err := json.Unmarshal(raw, &x); err != nil {
				return nil, fmt.Errorf("alerts[%d]: %v", i, source.JSONReason(err))
			}
			s, err := convert(&x)
			if err != nil {
				return nil, fmt.Errorf("alerts[%d]: %w", i, err)
			}
			s.SetAttr("receiver", receiver)
			out = append(out, s)
		}
		return out, nil
	}
	s, err := convert(&a)
	if err != nil {
		return nil, err
	}
	return []signal.Signal{s}, nil
}

func receiverName(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Name
	}
	return ""
}

// severities maps the "severity" label (lower case) onto OCSF.
var severities = map[string]signal.Severity{
	"critical": signal.SeverityCritical, "crit": signal.SeverityCritical, "page": signal.SeverityCritical,
	"emergency": signal.SeverityCritical, "disaster": signal.SeverityCritical, "fatal": signal.SeverityCritical,
	"error": signal.SeverityHigh, "err": signal.SeverityHigh, "high": signal.SeverityHigh, "major": signal.SeverityHigh,
	"warning": signal.SeverityMedium, "warn": signal.SeverityMedium, "medium": signal.SeverityMedium, "average": signal.SeverityMedium,
	"low": signal.SeverityLow, "minor": signal.SeverityLow, "notice": signal.SeverityLow,
	"info": signal.SeverityInformational, "informational": signal.SeverityInformational,
	"none": signal.SeverityInformational, "debug": signal.SeverityInformational,
}

// SeverityOf maps a severity label value onto OCSF: see the package doc.
func SeverityOf(label string) signal.Severity {
	if label == "" {
		return signal.SeverityUnknown
	}
	if s, ok := severities[strings.ToLower(strings.TrimSpace(label))]; ok {
		return s
	}
	return signal.SeverityOther
}

func convert(a *alert) (signal.Signal, error) {
	name := a.Labels["alertname"]
	if len(a.Labels) == 0 {
		return signal.Signal{}, errors.New(`missing field "labels"`)
	}
	if name == "" {
		return signal.Signal{}, errors.New(`missing label "alertname"`)
	}
	when, field := a.StartsAt, "startsAt"
	if when == "" && a.ActiveAt != "" {
		when, field = a.ActiveAt, "activeAt"
	}
	if when == "" {
		return signal.Signal{}, errors.New(`missing field "startsAt"`)
	}
	t, err := time.Parse(time.RFC3339Nano, when)
	if err != nil || t.IsZero() || t.UTC().Year() > 9999 || t.UTC().Year() < 1 {
		return signal.Signal{}, fmt.Errorf("field %q: %q is not an RFC 3339 time", field, when)
	}
	state, quiet, err := alertState(a)
	if err != nil {
		return signal.Signal{}, err
	}
	sev := SeverityOf(a.Labels["severity"])
	s := signal.Signal{
		ID:       signal.MakeID("alertmanager", identity(a)),
		Time:     t.UTC(),
		Product:  "Alertmanager",
		ClassUID: signal.ClassDetectionFinding,
		Severity: sev,
		Score:    sev.Score(),
		Native:   a.Labels["severity"],
		Rule:     name,
		Title:    cmp.Or(a.Annotations["summary"], a.Annotations["description"], a.Annotations["message"], name),
		Asset:    asset(a.Labels),
	}
	s.Raw.ID = a.Fingerprint
	if quiet {
		s.Heartbeat = true
		s.Severity, s.Score = signal.SeverityInformational, signal.SeverityInformational.Score()
	}
	s.SetAttr("state", state)
	s.SetAttr("instance", a.Labels["instance"])
	s.SetAttr("job", a.Labels["job"])
	s.SetAttr("service", a.Labels["service"])
	s.SetAttr("description", a.Annotations["description"])
	s.SetAttr("runbook", cmp.Or(a.Annotations["runbook_url"], a.Annotations["runbook"]))
	s.SetAttr("generator", a.GeneratorURL)
	s.SetAttr("value", a.Value)
	return s, nil
}

// alertState names the alert's state and reports whether it is quiet
// (resolved, suppressed, pending): a heartbeat, not a finding.
func alertState(a *alert) (string, bool, error) {
	if a.State != "" { // Prometheus /api/v1/alerts
		switch a.State {
		case "firing":
			return "firing", false, nil
		case "pending", "inactive":
			return a.State, true, nil
		}
		return "", false, fmt.Errorf("field \"state\": unknown alert state %q", a.State)
	}
	st := bytes.TrimSpace(a.Status)
	if len(st) == 0 || string(st) == "null" {
		return "firing", false, nil // older webhook bodies carry no status
	}
	if st[0] == '"' {
		var v string
		if err := json.Unmarshal(st, &v); err != nil {
			return "", false, fmt.Errorf("field \"status\": %v", err)
		}
		switch v {
		case "firing":
			return v, false, nil
		case "resolved":
			return v, true, nil
		}
		return "", false, fmt.Errorf("field \"status\": unknown alert status %q", v)
	}
	var o apiStatus
	if err := json.Unmarshal(st, &o); err != nil {
		return "", false, fmt.Errorf("field \"status\": %v", source.JSONReason(err))
	}
	switch o.State {
	case "active", "unprocessed":
		return o.State, false, nil
	case "suppressed":
		return o.State, true, nil
	}
	return "", false, fmt.Errorf("field \"status.state\": unknown alert state %q", o.State)
}

// identity is what makes an alert's id: its fingerprint (or sorted labels)
// and start, so that the same alert polled again keeps its id while its
// updatedAt and endsAt move.
func identity(a *alert) []byte {
	var b bytes.Buffer
	if a.Fingerprint != "" {
		b.WriteString(a.Fingerprint)
	} else {
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%q=%q,", k, a.Labels[k])
		}
	}
	b.WriteString("|" + cmp.Or(a.StartsAt, a.ActiveAt))
	if state, quiet, _ := alertState(a); quiet {
		b.WriteString("|" + state)
	}
	return b.Bytes()
}

// asset maps conventional Prometheus labels onto the asset.
func asset(l map[string]string) signal.Asset {
	a := signal.Asset{
		Cluster:   l["cluster"],
		Namespace: cmp.Or(l["namespace"], l["exported_namespace"], l["kubernetes_namespace"]),
		Pod:       cmp.Or(l["pod"], l["pod_name"], l["kubernetes_pod_name"]),
		Container: cmp.Or(l["container"], l["container_name"]),
		Node:      cmp.Or(l["node"], l["kubernetes_node"], l["nodename"]),
	}
	for _, kind := range []struct{ label, kind string }{
		{"deployment", "Deployment"}, {"statefulset", "StatefulSet"}, {"daemonset", "DaemonSet"},
	} {
		if v := l[kind.label]; v != "" && a.Pod == "" {
			a.WorkloadKind, a.Workload = kind.kind, v
			break
		}
	}
	if a.Node == "" && a.Pod == "" && a.Workload == "" && a.Namespace == "" {
		a.Node = hostOf(l["instance"]) // a host-level alert (node_exporter, ping)
	}
	return a
}

func hostOf(instance string) string {
	if h, _, err := net.SplitHostPort(instance); err == nil {
		return h
	}
	return instance
}

// unwrap splits webhook bodies, API responses and Prometheus's
// /api/v1/alerts response into alerts.
func unwrap(doc []byte) ([]json.RawMessage, bool) {
	if !bytes.Contains(doc, []byte(`"alerts"`)) {
		return nil, false
	}
	var env struct {
		Version string            `json:"version"`
		Alerts  []json.RawMessage `json:"alerts"`
		Data    *struct {
			Alerts []json.RawMessage `json:"alerts"`
			Groups []struct {
				Rules []struct {
					Alerts []json.RawMessage `json:"alerts"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if json.Unmarshal(doc, &env) != nil {
		return nil, false
	}
	switch {
	case env.Data != nil && env.Data.Alerts != nil:
		return env.Data.Alerts, true
	case env.Data != nil && env.Data.Groups != nil:
		// Prometheus's /api/v1/rules: the alerts of every alerting rule.
		items := []json.RawMessage{}
		for _, g := range env.Data.Groups {
			for _, r := range g.Rules {
				items = append(items, r.Alerts...)
			}
		}
		return items, true
	case env.Version != "" && env.Alerts != nil:
		return env.Alerts, true
	}
	return nil, false
}

// DefaultPath is the API path the puller reads.
const DefaultPath = "/api/v2/alerts"

type puller struct {
	url  string
	file string
}

func newPuller(cfg source.PullConfig) (source.Puller, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not an http or https URL", cfg.URL)
	}
	q := url.Values{"active": {"true"}, "silenced": {"false"}, "inhibited": {"false"}, "unprocessed": {"true"}}
	matchers, err := splitMatchers(cfg.Filter)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	for _, m := range matchers {
		q.Add("filter", m)
	}
	u.Path += DefaultPath
	u.RawQuery = q.Encode()
	return &puller{url: u.String(), file: "GET " + u.Path}, nil
}

// Pull implements source.Puller.
func (p *puller) Pull(ctx context.Context, c *httpclient.Client) (*source.Batch, error) {
	body, err := c.Get(ctx, p.url)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, fmt.Errorf("%s: not a JSON array of alerts: %v", p.file, err)
	}
	b := &source.Batch{}
	source.AddItems(b, &Parser{}, p.file, items)
	return b, nil
}

// splitMatchers splits "a=1, b=~\"x,y\"" at commas outside quotes.
func splitMatchers(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			esc = false
		case r == '\\' && inQuote:
			esc = true
		case r == '"':
			inQuote = !inQuote
		case r == ',' && !inQuote:
			if m := strings.TrimSpace(cur.String()); m != "" {
				out = append(out, m)
			}
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if m := strings.TrimSpace(cur.String()); m != "" {
		out = append(out, m)
	}
	for _, m := range out {
		if !strings.ContainsAny(m, "=~!") {
			return nil, fmt.Errorf("%q is not a matcher like severity=\"critical\"", m)
		}
	}
	return out, nil
}
