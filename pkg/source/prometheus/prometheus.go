// Package prometheus turns Prometheus instant queries into health Signals.
// The puller runs each configured query against /api/v1/query and compares
// every resulting series with the query's threshold: each series over it
// becomes one Signal about the asset its labels name (cluster, namespace,
// pod, container, node, or the instance's host), with the query's severity.
// Series under the threshold are counted as records but make no Signal: a
// healthy workload is "no data", not a finding.
//
// OCSF class: a threshold breach is reported as 6002 Application Lifecycle
// by default (the health of a running application: a memory spike, an
// error rate) and as 4001 Network Activity for traffic queries (a request
// rate spike, DDoS-like traffic) when the query says class: 4001. OCSF has
// no metric class; these are the closest.
//
// The file parser reads saved query responses (vector and matrix results,
// one record per series): without a threshold, each series becomes an
// informational sample Signal carrying its newest value.
package prometheus

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "prometheus",
	Product: "Prometheus",
	Summary: "Prometheus instant queries with thresholds (pull /api/v1/query); saved query results",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  unwrap,
	Pull:    newPuller,
}

// Parser parses one series of a query result ({"metric", "value"} or
// {"metric", "values"}). Without a Query it makes an informational
// sample; the puller sets one to apply its threshold. The zero value is
// ready to use.
type Parser struct {
	// Query, when set, keeps only values over its threshold.
	Query *source.Query
}

type series struct {
	Metric     map[string]string `json:"metric"`
	Value      json.RawMessage   `json:"value"`
	Values     []json.RawMessage `json:"values"`
	Histogram  json.RawMessage   `json:"histogram"`
	Histograms json.RawMessage   `json:"histograms"`
}

// errUnder marks a value that is not over the threshold: the record is
// used and yields no Signal.
var errUnder = errors.New("under the threshold")

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	sigs, err := p.parse(rec.Data)
	if errors.Is(err, errUnder) {
		return nil, nil
	}
	return sigs, err
}

func (p *Parser) parse(data []byte) ([]signal.Signal, error) {
	var s series
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("not a Prometheus series: %v", source.JSONReason(err))
	}
	if s.Metric == nil {
		return nil, errors.New(`missing field "metric"`)
	}
	raw := s.Value
	field := "value"
	if raw == nil && len(s.Values) > 0 {
		raw, field = s.Values[len(s.Values)-1], fmt.Sprintf("values[%d]", len(s.Values)-1) // the newest
	}
	if raw == nil {
		if s.Histogram != nil || s.Histograms != nil {
			return nil, errors.New("native histogram series: no float value to compare")
		}
		return nil, errors.New(`missing field "value"`)
	}
	t, v, err := samplePair(raw)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	q := p.Query
	if q != nil && !over(q, v) {
		return nil, errUnder
	}
	sig := signal.Signal{
		Time:    t,
		Product: "Prometheus",
		Asset:   asset(s.Metric),
		Native:  formatValue(v),
	}
	name := s.Metric["__name__"]
	if q == nil {
		sig.ClassUID = signal.ClassApplicationLifecycle
		sig.Severity = signal.SeverityInformational
		sig.Rule = cmp.Or(name, "sample")
		sig.Title = fmt.Sprintf("%s = %s", cmp.Or(name, "sample"), sig.Native)
	} else {
		sig.ClassUID = q.Class
		if sig.ClassUID == 0 {
			sig.ClassUID = signal.ClassApplicationLifecycle
		}
		sig.Severity = q.Severity
		if sig.Severity == 0 {
			sig.Severity = signal.SeverityMedium
		}
		sig.Rule = q.Name
		sig.Title = cmp.Or(q.Title, q.Name) + fmt.Sprintf(": %s %s %s", sig.Native, opOf(q), formatValue(q.Threshold))
		if who := sig.Asset.String(); who != "unknown asset" {
			sig.Title += " on " + who
		}
		sig.SetAttr("threshold", formatValue(q.Threshold))
		sig.SetAttr("expr", q.Expr)
	}
	sig.Score = sig.Severity.Score()
	sig.SetAttr("value", sig.Native)
	sig.SetAttr("metric", name)
	sig.SetAttr("instance", s.Metric["instance"])
	sig.SetAttr("job", s.Metric["job"])
	sig.SetAttr("service", s.Metric["service"])
	sig.SetAttr("labels", labelString(s.Metric))
	// The id covers the query, the series and the sample time: the same
	// breach polled twice keeps its id.
	id := sig.Rule + "|" + labelString(s.Metric) + "|" + t.Format(time.RFC3339Nano)
	sig.ID = signal.MakeID("prometheus", []byte(id))
	return []signal.Signal{sig}, nil
}

func over(q *source.Query, v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch q.Op {
	case ">=":
		return v >= q.Threshold
	case "<":
		return v < q.Threshold
	case "<=":
		return v <= q.Threshold
	default:
		return v > q.Threshold
	}
}

func opOf(q *source.Query) string {
	if q.Op == "" {
		return ">"
	}
	return q.Op
}

// samplePair reads [<unix seconds>, "<value>"]. The time is read from its
// decimal digits, never through a float64.
func samplePair(raw json.RawMessage) (time.Time, float64, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return time.Time{}, 0, errors.New("want [<unix time>, \"<value>\"]")
	}
	t, err := unixTime(string(bytes.TrimSpace(pair[0])))
	if err != nil {
		return time.Time{}, 0, err
	}
	var vs string
	if err := json.Unmarshal(pair[1], &vs); err != nil {
		return time.Time{}, 0, fmt.Errorf("value %s is not a string", pair[1])
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("value %q is not a number", vs)
	}
	return t, v, nil
}

// unixTime parses Prometheus's "1435781451.781" (seconds with a fraction).
func unixTime(s string) (time.Time, error) {
	bad := fmt.Errorf("time %q is not unix seconds", s)
	if s == "" || strings.ContainsAny(s, "eE\"") {
		return time.Time{}, bad
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" || len(fp) > 9 && strings.Trim(fp[9:], "0") != "" {
		return time.Time{}, bad
	}
	sec, err := strconv.ParseInt(ip, 10, 64)
	if err != nil || sec > 253402300799 { // 9999-12-31T23:59:59Z
		return time.Time{}, bad
	}
	var ns int64
	if fp != "" {
		if len(fp) > 9 {
			fp = fp[:9]
		}
		n, err := strconv.ParseInt(fp+strings.Repeat("0", 9-len(fp)), 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, bad
		}
		ns = n
	}
	if neg {
		sec, ns = -sec, -ns
	}
	t := time.Unix(sec, ns).UTC()
	if t.Year() < 1 {
		return time.Time{}, bad
	}
	if t.IsZero() {
		return time.Time{}, bad
	}
	return t, nil
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
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
	if a.Node == "" && a.Pod == "" && a.Workload == "" && a.Namespace == "" && l["instance"] != "" {
		a.Node = hostOf(l["instance"]) // a host-level series (node_exporter)
	}
	return a
}

func hostOf(instance string) string {
	if h, _, err := net.SplitHostPort(instance); err == nil {
		return h
	}
	return instance
}

func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}

// response is the /api/v1/query envelope.
type response struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      *struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
}

// unwrap splits a query response into its series.
func unwrap(doc []byte) ([]json.RawMessage, bool) {
	if !bytes.Contains(doc, []byte(`"resultType"`)) {
		return nil, false
	}
	var r response
	if json.Unmarshal(doc, &r) != nil || r.Data == nil {
		return nil, false
	}
	switch r.Data.ResultType {
	case "vector", "matrix":
		var items []json.RawMessage
		if json.Unmarshal(r.Data.Result, &items) != nil {
			return nil, false
		}
		return items, true
	case "scalar":
		// One value without labels: make it a series.
		return []json.RawMessage{json.RawMessage(`{"metric":{},"value":` + string(r.Data.Result) + `}`)}, true
	}
	return nil, false
}

type puller struct {
	base    *url.URL
	queries []source.Query
}

func newPuller(cfg source.PullConfig) (source.Puller, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not an http or https URL", cfg.URL)
	}
	if len(cfg.Queries) == 0 {
		return nil, errors.New(`missing key "queries": a prometheus source needs at least one query with a threshold`)
	}
	var errs []error
	seen := map[string]bool{}
	for i, q := range cfg.Queries {
		switch {
		case q.Name == "":
			errs = append(errs, fmt.Errorf("queries[%d]: missing key \"name\"", i))
		case seen[q.Name]:
			errs = append(errs, fmt.Errorf("queries[%d]: name %q used twice", i, q.Name))
		}
		seen[q.Name] = true
		if strings.TrimSpace(q.Expr) == "" {
			errs = append(errs, fmt.Errorf("queries[%d]: missing key \"expr\"", i))
		}
		switch q.Op {
		case "", ">", ">=", "<", "<=":
		default:
			errs = append(errs, fmt.Errorf("queries[%d]: op %q is not one of >, >=, <, <=", i, q.Op))
		}
		if math.IsNaN(q.Threshold) || math.IsInf(q.Threshold, 0) {
			errs = append(errs, fmt.Errorf("queries[%d]: threshold must be a finite number", i))
		}
		switch q.Class {
		case 0, signal.ClassApplicationLifecycle, signal.ClassNetworkActivity, signal.ClassDetectionFinding:
		default:
			errs = append(errs, fmt.Errorf("queries[%d]: class %d is not 6002, 4001 or 2004", i, q.Class))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &puller{base: u, queries: cfg.Queries}, nil
}

// Pull implements source.Puller: every query once. One failing query fails
// the poll: a partial answer would look healthier than it is.
func (p *puller) Pull(ctx context.Context, c *httpclient.Client) (*source.Batch, error) {
	b := &source.Batch{}
	for i := range p.queries {
		q := &p.queries[i]
		u := *p.base
		u.Path += "/api/v1/query"
		u.RawQuery = url.Values{"query": {q.Expr}}.Encode()
		body, err := c.Get(ctx, u.String())
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", q.Name, err)
		}
		var r response
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("query %q: response is not JSON: %v", q.Name, err)
		}
		if r.Status != "success" || r.Data == nil {
			return nil, fmt.Errorf("query %q: status %q: %s %s", q.Name, r.Status, r.ErrorType, r.Error)
		}
		items, ok := unwrap(body)
		if !ok {
			return nil, fmt.Errorf("query %q: result type %q: want a vector or a scalar", q.Name, r.Data.ResultType)
		}
		source.AddItems(b, &Parser{Query: q}, "query "+q.Name, items)
	}
	return b, nil
}
