// Package crowdstrike reads CrowdStrike Falcon alerts through the Alerts
// API v2, as CrowdStrike documents it: an OAuth2 token from POST
// /oauth2/token (client id and secret as form fields), then the alert ids
// from GET /alerts/queries/alerts/v2 (an FQL filter, offset or "after"
// paging in meta.pagination), then the alerts themselves from POST
// /alerts/entities/alerts/v2 with {"composite_ids": [...]}. Files holding
// an entities response ({"resources": [...]}) or alerts read the same.
//
// Every alert is a Detection Finding (OCSF 2004) about device.hostname
// (the node); Falcon Container sensors also report device.pod_name and
// device.pod_namespace. Severity is severity_name (Informational, Low,
// Medium, High, Critical); without it, the 1..100 severity in bands
// (>= 90 Critical, >= 70 High, >= 50 Medium, >= 20 Low, else
// Informational; these bands are common practice, not a CrowdStrike
// document). A closed alert is a heartbeat, not a finding.
//
// There is no public capture of an Alerts API response: the tests' server
// and testdata are built from the documented shapes.
package crowdstrike

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "crowdstrike",
	Product: "CrowdStrike Falcon",
	Summary: "CrowdStrike Falcon alerts (pull: OAuth2, query ids then entities; or files)",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  unwrap,
	Pull:    newPuller,
}

// API paths, relative to the cloud's base URL (https://api.crowdstrike.com,
// api.us-2..., api.eu-1...).
const (
	TokenPath    = "/oauth2/token"
	QueryPath    = "/alerts/queries/alerts/v2"
	EntitiesPath = "/alerts/entities/alerts/v2"
)

// DefaultURL is the US-1 cloud's API.
const DefaultURL = "https://api.crowdstrike.com"

// Limits: the page size asked for unless configured, and how many ids
// one entities request carries (the API documents a maximum of 1000).
const (
	DefaultPageSize = 500
	MaxEntityIDs    = 1000
	DefaultLookback = 24 * time.Hour
)

// Parser parses one alert entity. The zero value is ready to use.
type Parser struct{}

type alert struct {
	CompositeID      string          `json:"composite_id"`
	ID               string          `json:"id"`
	CID              string          `json:"cid"`
	Name             string          `json:"name"`
	DisplayName      string          `json:"display_name"`
	Description      string          `json:"description"`
	Severity         json.RawMessage `json:"severity"`
	SeverityName     string          `json:"severity_name"`
	Status           string          `json:"status"`
	Tactic           string          `json:"tactic"`
	TacticID         string          `json:"tactic_id"`
	Technique        string          `json:"technique"`
	TechniqueID      string          `json:"technique_id"`
	Product          string          `json:"product"`
	Type             string          `json:"type"`
	CreatedTimestamp string          `json:"created_timestamp"`
	Timestamp        string          `json:"timestamp"`
	FalconHostLink   string          `json:"falcon_host_link"`
	Cmdline          string          `json:"cmdline"`
	Filepath         string          `json:"filepath"`
	SHA256           string          `json:"sha256"`
	UserName         string          `json:"user_name"`
	Device           *struct {
		DeviceID     string `json:"device_id"`
		Hostname     string `json:"hostname"`
		LocalIP      string `json:"local_ip"`
		PlatformName string `json:"platform_name"`
		PodName      string `json:"pod_name"`
		PodNamespace string `json:"pod_namespace"`
		InstanceID   string `json:"instance_id"`
	} `json:"device"`
}

var names = map[string]signal.Severity{
	"informational": signal.SeverityInformational,
	"low":           signal.SeverityLow,
	"medium":        signal.SeverityMedium,
	"high":          signal.SeverityHigh,
	"critical":      signal.SeverityCritical,
}

// SeverityOf maps severity_name, or the 1..100 severity when the name is
// missing, onto OCSF.
func SeverityOf(name string, score int) (signal.Severity, error) {
	if name != "" {
		s, ok := names[strings.ToLower(name)]
		if !ok {
			return 0, fmt.Errorf("field \"severity_name\": unknown severity %q", name)
		}
		return s, nil
	}
	switch {
	case score < 0 || score > 100:
		return 0, fmt.Errorf("field \"severity\": %d is outside 0..100", score)
	case score >= 90:
		return signal.SeverityCritical, nil
	case score >= 70:
		return signal.SeverityHigh, nil
	case score >= 50:
		return signal.SeverityMedium, nil
	case score >= 20:
		return signal.SeverityLow, nil
	}
	return signal.SeverityInformational, nil
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var a alert
	if err := json.Unmarshal(rec.Data, &a); err != nil {
		return nil, fmt.Errorf("not a Falcon alert: %v", source.JSONReason(err))
	}
	id := cmp.Or(a.CompositeID, a.ID)
	if id == "" {
		return nil, errors.New(`missing field "composite_id"`)
	}
	when, field := a.CreatedTimestamp, "created_timestamp"
	if when == "" {
		when, field = a.Timestamp, "timestamp"
	}
	if when == "" {
		return nil, errors.New(`missing field "created_timestamp"`)
	}
	t, err := time.Parse(time.RFC3339Nano, when)
	if err != nil || t.IsZero() || t.UTC().Year() > 9999 {
		return nil, fmt.Errorf("field %q: %q is not an RFC 3339 time", field, when)
	}
	score := -1
	if len(a.Severity) > 0 && string(a.Severity) != "null" {
		n, err := strconv.Atoi(string(a.Severity))
		if err != nil {
			return nil, fmt.Errorf("field \"severity\": %s is not an integer", a.Severity)
		}
		score = n
	}
	if score < 0 && a.SeverityName == "" {
		return nil, errors.New(`missing field "severity_name" and "severity"`)
	}
	sev, err := SeverityOf(a.SeverityName, max(score, 0))
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:       signal.MakeID("crowdstrike", []byte(id+"|"+a.Status)),
		Time:     t.UTC(),
		Product:  "CrowdStrike Falcon",
		ClassUID: signal.ClassDetectionFinding,
		Severity: sev,
		Score:    sev.Score(),
		Native:   cmp.Or(a.SeverityName, strconv.Itoa(score)),
		Rule:     cmp.Or(a.Name, a.DisplayName, a.TechniqueID),
		Title:    cmp.Or(a.Description, a.DisplayName, a.Name),
		Raw:      signal.RawRef{ID: id},
	}
	if score >= 0 {
		s.Score = float64(score) / 100 // Falcon's own finer scale
	}
	if strings.EqualFold(a.Status, "closed") {
		s.Heartbeat = true
	}
	if d := a.Device; d != nil {
		s.Asset.Node = d.Hostname
		s.Asset.Pod = d.PodName
		s.Asset.Namespace = d.PodNamespace
		s.SetAttr("device_id", d.DeviceID)
		s.SetAttr("local_ip", d.LocalIP)
		s.SetAttr("platform", d.PlatformName)
		s.SetAttr("instance_id", d.InstanceID)
	}
	s.SetAttr("status", a.Status)
	s.SetAttr("tactic", cmp.Or(a.TacticID, a.Tactic))
	s.SetAttr("technique", cmp.Or(a.TechniqueID, a.Technique))
	s.SetAttr("product", a.Product)
	s.SetAttr("type", a.Type)
	s.SetAttr("cmdline", a.Cmdline)
	s.SetAttr("file", a.Filepath)
	s.SetAttr("sha256", a.SHA256)
	s.SetAttr("user", a.UserName)
	s.SetAttr("url", a.FalconHostLink)
	s.SetAttr("cid", a.CID)
	return []signal.Signal{s}, nil
}

// envelope is the shape of every Falcon API response.
type envelope struct {
	Meta struct {
		Pagination *httpclient.Pagination `json:"pagination"`
		TraceID    string                 `json:"trace_id"`
	} `json:"meta"`
	Resources json.RawMessage `json:"resources"`
	Errors    []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// unwrap splits an entities response.
func unwrap(doc []byte) ([]json.RawMessage, bool) {
	var e envelope
	if json.Unmarshal(doc, &e) != nil || len(e.Resources) == 0 || e.Resources[0] != '[' {
		return nil, false
	}
	var items []json.RawMessage
	if json.Unmarshal(e.Resources, &items) != nil {
		return nil, false
	}
	return items, true
}

type puller struct {
	base     string
	filter   string
	lookback time.Duration
	limit    int
	now      func() time.Time
}

func newPuller(cfg source.PullConfig) (source.Puller, error) {
	base := strings.TrimRight(cfg.URL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not an https URL like %s", cfg.URL, DefaultURL)
	}
	p := &puller{base: base, filter: cfg.Filter, lookback: cfg.Lookback, limit: cfg.PageSize, now: cfg.NowTime}
	if p.lookback <= 0 {
		p.lookback = DefaultLookback
	}
	if p.limit <= 0 {
		p.limit = DefaultPageSize
	}
	if p.limit > 10000 {
		return nil, fmt.Errorf("page_size %d: the alerts query allows at most 10000", p.limit)
	}
	return p, nil
}

// fql is the query's filter: alerts updated within the lookback, and the
// configured filter ("+" is FQL's and).
func (p *puller) fql() string {
	f := "updated_timestamp:>='" + p.now().Add(-p.lookback).UTC().Format("2006-01-02T15:04:05Z") + "'"
	if p.filter != "" {
		f += "+(" + p.filter + ")"
	}
	return f
}

// Pull implements source.Puller.
func (p *puller) Pull(ctx context.Context, c *httpclient.Client) (*source.Batch, error) {
	var ids []string
	err := httpclient.Pages(ctx, 0, func(ctx context.Context, cur httpclient.Cursor) (httpclient.Cursor, bool, error) {
		q := url.Values{"filter": {p.fql()}, "limit": {strconv.Itoa(p.limit)}, "sort": {"created_timestamp.asc"}}
		if cur.After != "" {
			q.Set("after", cur.After)
		} else if cur.Offset > 0 {
			q.Set("offset", strconv.Itoa(cur.Offset))
		}
		body, err := c.Get(ctx, p.base+QueryPath+"?"+q.Encode())
		if err != nil {
			return cur, false, err
		}
		e, err := decode(body, "GET "+QueryPath)
		if err != nil {
			return cur, false, err
		}
		var page []string
		if err := json.Unmarshal(e.Resources, &page); err != nil && len(e.Resources) > 0 && string(e.Resources) != "null" {
			return cur, false, fmt.Errorf("GET %s: resources is not a list of ids: %v", QueryPath, err)
		}
		ids = append(ids, page...)
		if e.Meta.Pagination == nil {
			return cur, false, nil
		}
		next, more := e.Meta.Pagination.Next(len(page))
		return next, more, nil
	})
	if err != nil {
		return nil, err
	}
	b := &source.Batch{}
	parser := &Parser{}
	for start := 0; start < len(ids); start += MaxEntityIDs {
		chunk := ids[start:min(start+MaxEntityIDs, len(ids))]
		req, _ := json.Marshal(map[string][]string{"composite_ids": chunk})
		body, err := c.PostJSON(ctx, p.base+EntitiesPath, req)
		if err != nil {
			return nil, err
		}
		e, err := decode(body, "POST "+EntitiesPath)
		if err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(e.Resources, &items); err != nil {
			return nil, fmt.Errorf("POST %s: resources is not a list of alerts: %v", EntitiesPath, err)
		}
		source.AddItems(b, parser, "POST "+EntitiesPath, items)
	}
	return b, nil
}

// decode reads a Falcon envelope; errors in a 2xx answer are errors too.
func decode(body []byte, where string) (*envelope, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%s: response is not JSON: %v", where, err)
	}
	if len(e.Errors) > 0 {
		msgs := make([]string, 0, len(e.Errors))
		for _, x := range e.Errors {
			msgs = append(msgs, fmt.Sprintf("%d %s", x.Code, x.Message))
		}
		return nil, fmt.Errorf("%s: API errors: %s (trace id %s)", where, strings.Join(msgs, "; "), e.Meta.TraceID)
	}
	return &e, nil
}
