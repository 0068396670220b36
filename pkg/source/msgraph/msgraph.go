// Package msgraph reads Microsoft Graph security alerts (alerts_v2: Defender
// XDR, Defender for Endpoint, Defender for Cloud and the other Microsoft
// security products). It pulls GET /v1.0/security/alerts_v2 with OAuth2
// client credentials (Microsoft identity platform, scope
// https://graph.microsoft.com/.default), following @odata.nextLink, and
// reads the same alerts from files (one alert, a list response with
// "value", JSON lines).
//
// Every alert is a Detection Finding (OCSF 2004). The asset comes from the
// alert's evidence: deviceEvidence (deviceDnsName as the node, the VM's
// Azure resource id as the cloud resource), kubernetesPodEvidence,
// containerEvidence, containerImageEvidence, kubernetesNamespaceEvidence,
// kubernetesClusterEvidence, kubernetesControllerEvidence and
// azureResourceEvidence. Evidence is read from the documented "evidence"
// array and also from single "<type>Evidence" objects, the flattened form
// that some tools (stix-shifter) store.
//
// Severity: informational 1, low 2, medium 3, high 4 (Graph has no
// critical); unknown 0; anything else 99 Other. A resolved alert is a
// heartbeat: it shows the source is alive and is not a finding.
package msgraph

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "msgraph-alerts",
	Product: "Microsoft Defender XDR",
	Summary: "Microsoft Graph security alerts_v2 (pull with OAuth2 client credentials, or files)",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  unwrap,
	Pull:    newPuller,
}

// DefaultURL is Microsoft Graph's global endpoint; national clouds have
// their own.
const DefaultURL = "https://graph.microsoft.com"

// DefaultScope is the scope of an application token for Graph.
const DefaultScope = "https://graph.microsoft.com/.default"

// DefaultLookback is how far back alerts are asked for by their last
// update, unless configured.
const DefaultLookback = 24 * time.Hour

// DefaultPageSize is the $top asked for; Graph allows up to 2,000.
const DefaultPageSize = 500

// Parser parses one alert. The zero value is ready to use.
type Parser struct{}

type alert struct {
	ODataType          string            `json:"@odata.type"`
	ID                 string            `json:"id"`
	ProviderAlertID    string            `json:"providerAlertId"`
	IncidentID         string            `json:"incidentId"`
	Status             string            `json:"status"`
	Severity           string            `json:"severity"`
	Classification     string            `json:"classification"`
	Determination      string            `json:"determination"`
	ServiceSource      string            `json:"serviceSource"`
	DetectionSource    string            `json:"detectionSource"`
	DetectorID         string            `json:"detectorId"`
	TenantID           string            `json:"tenantId"`
	Title              string            `json:"title"`
	Description        string            `json:"description"`
	Category           string            `json:"category"`
	AlertWebURL        string            `json:"alertWebUrl"`
	MitreTechniques    []string          `json:"mitreTechniques"`
	CreatedDateTime    string            `json:"createdDateTime"`
	LastUpdateDateTime string            `json:"lastUpdateDateTime"`
	FirstActivity      string            `json:"firstActivityDateTime"`
	Evidence           []json.RawMessage `json:"evidence"`
	ThreatDisplayName  *string           `json:"threatDisplayName"`
}

var severities = map[string]signal.Severity{
	"informational": signal.SeverityInformational,
	"low":           signal.SeverityLow,
	"medium":        signal.SeverityMedium,
	"high":          signal.SeverityHigh,
	"unknown":       signal.SeverityUnknown,
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var a alert
	if err := json.Unmarshal(rec.Data, &a); err != nil {
		return nil, fmt.Errorf("not a Graph security alert: %v", source.JSONReason(err))
	}
	if a.ID == "" {
		return nil, errors.New(`missing field "id"`)
	}
	if a.ODataType != "" && a.ODataType != "#microsoft.graph.security.alert" {
		return nil, fmt.Errorf("field \"@odata.type\": %q is not #microsoft.graph.security.alert", a.ODataType)
	}
	if a.Title == "" {
		return nil, errors.New(`missing field "title"`)
	}
	when, field := a.CreatedDateTime, "createdDateTime"
	if when == "" {
		return nil, errors.New(`missing field "createdDateTime"`)
	}
	t, err := time.Parse(time.RFC3339Nano, when)
	if err != nil || t.IsZero() || t.UTC().Year() > 9999 {
		return nil, fmt.Errorf("field %q: %q is not an ISO 8601 time", field, when)
	}
	sev, ok := severities[strings.ToLower(a.Severity)]
	if !ok {
		if a.Severity == "" {
			return nil, errors.New(`missing field "severity"`)
		}
		sev = signal.SeverityOther
	}
	s := signal.Signal{
		ID:       signal.MakeID("msgraph-alerts", []byte(a.ID+"|"+a.Status)),
		Time:     t.UTC(),
		Product:  "Microsoft Defender XDR",
		ClassUID: signal.ClassDetectionFinding,
		Severity: sev,
		Score:    sev.Score(),
		Native:   a.Severity,
		Rule:     cmp.Or(a.DetectorID, a.Title),
		Title:    a.Title,
		Raw:      signal.RawRef{ID: a.ID},
	}
	if strings.EqualFold(a.Status, "resolved") {
		s.Heartbeat = true
	}
	ev, err := evidence(rec.Data, a.Evidence)
	if err != nil {
		return nil, err
	}
	s.Asset = ev.asset
	s.SetAttr("status", a.Status)
	s.SetAttr("service_source", a.ServiceSource)
	s.SetAttr("detection_source", a.DetectionSource)
	s.SetAttr("category", a.Category)
	s.SetAttr("incident_id", a.IncidentID)
	s.SetAttr("tenant_id", a.TenantID)
	s.SetAttr("mitre", strings.Join(a.MitreTechniques, ","))
	s.SetAttr("url", a.AlertWebURL)
	s.SetAttr("device_id", ev.deviceID)
	s.SetAttr("process", ev.cmdline)
	s.SetAttr("file", ev.file)
	s.SetAttr("classification", a.Classification)
	s.SetAttr("determination", a.Determination)
	if a.ThreatDisplayName != nil {
		s.SetAttr("threat", *a.ThreatDisplayName)
	}
	return []signal.Signal{s}, nil
}

type found struct {
	asset                   signal.Asset
	deviceID, cmdline, file string
}

type evidenceItem struct {
	ODataType     string `json:"@odata.type"`
	DeviceDNSName string `json:"deviceDnsName"`
	MdeDeviceID   string `json:"mdeDeviceId"`
	VMMetadata    *struct {
		ResourceID string `json:"resourceId"`
	} `json:"vmMetadata"`
	Name        string          `json:"name"`
	ContainerID string          `json:"containerId"`
	ResourceID  string          `json:"resourceId"`
	Namespace   json.RawMessage `json:"namespace"`
	Cluster     *struct {
		Name string `json:"name"`
	} `json:"cluster"`
	Controller *struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"controller"`
	Containers []json.RawMessage `json:"containers"`
	Pod        json.RawMessage   `json:"pod"`
	Image      json.RawMessage   `json:"image"`
	ImageID    string            `json:"imageId"`
	Digest     *struct {
		ImageID string `json:"imageId"`
	} `json:"digestImage"`
	Type               string `json:"type"`
	ProcessCommandLine string `json:"processCommandLine"`
	FileDetails        *struct {
		FileName string `json:"fileName"`
		FilePath string `json:"filePath"`
	} `json:"fileDetails"`
}

// maxEvidence bounds how much evidence one alert may make us read.
const maxEvidence = 256

// evidence walks the alert's evidence and fills the asset.
func evidence(doc []byte, list []json.RawMessage) (found, error) {
	var f found
	items := append([]json.RawMessage(nil), list...)
	// The flattened form: "deviceEvidence": {...} at the top level.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err == nil {
		for _, k := range []string{"deviceEvidence", "kubernetesPodEvidence", "containerEvidence", "containerImageEvidence",
			"kubernetesNamespaceEvidence", "kubernetesClusterEvidence", "kubernetesControllerEvidence", "azureResourceEvidence",
			"processEvidence", "fileEvidence"} {
			if v, ok := top[k]; ok && len(v) > 0 && v[0] == '{' {
				items = append(items, v)
			}
		}
	}
	if len(items) > maxEvidence {
		items = items[:maxEvidence]
	}
	for i, raw := range items {
		var e evidenceItem
		if err := json.Unmarshal(raw, &e); err != nil {
			return found{}, fmt.Errorf("evidence[%d]: %v", i, source.JSONReason(err))
		}
		f.add(&e, 0)
	}
	return f, nil
}

func (f *found) add(e *evidenceItem, depth int) {
	if depth > 3 {
		return
	}
	a := &f.asset
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	switch strings.TrimPrefix(e.ODataType, "#microsoft.graph.security.") {
	case "deviceEvidence":
		set(&a.Node, e.DeviceDNSName)
		set(&f.deviceID, e.MdeDeviceID)
		if e.VMMetadata != nil {
			set(&a.CloudResource, e.VMMetadata.ResourceID)
		}
	case "kubernetesPodEvidence":
		set(&a.Pod, e.Name)
		f.namespace(e.Namespace)
		if e.Controller != nil {
			set(&a.WorkloadKind, e.Controller.Type)
			set(&a.Workload, e.Controller.Name)
		}
		for _, c := range e.Containers {
			var ce evidenceItem
			if json.Unmarshal(c, &ce) == nil {
				ce.ODataType = "containerEvidence"
				f.add(&ce, depth+1)
				break // the first container names the pod's main container
			}
		}
	case "containerEvidence":
		set(&a.Container, e.Name)
		set(&a.ContainerID, e.ContainerID)
		f.image(e.Image, depth)
		if len(e.Pod) > 0 && e.Pod[0] == '{' {
			var pe evidenceItem
			if json.Unmarshal(e.Pod, &pe) == nil {
				pe.ODataType = "kubernetesPodEvidence"
				f.add(&pe, depth+1)
			}
		}
	case "containerImageEvidence":
		set(&a.Image, e.ImageID)
		if e.Digest != nil {
			if _, d, ok := strings.Cut(e.Digest.ImageID, "@"); ok {
				set(&a.ImageDigest, d)
			}
		}
		if _, d, ok := strings.Cut(e.ImageID, "@"); ok {
			set(&a.ImageDigest, d)
		}
	case "kubernetesNamespaceEvidence":
		set(&a.Namespace, e.Name)
		if e.Cluster != nil {
			set(&a.Cluster, e.Cluster.Name)
		}
	case "kubernetesClusterEvidence":
		set(&a.Cluster, e.Name)
	case "kubernetesControllerEvidence":
		set(&a.WorkloadKind, e.Type)
		set(&a.Workload, e.Name)
		f.namespace(e.Namespace)
	case "azureResourceEvidence":
		set(&a.CloudResource, e.ResourceID)
	case "processEvidence":
		set(&f.cmdline, e.ProcessCommandLine)
	case "fileEvidence":
		if e.FileDetails != nil {
			set(&f.file, strings.TrimRight(e.FileDetails.FilePath, `\/`)+`\`+e.FileDetails.FileName)
		}
	}
}

func (f *found) namespace(raw json.RawMessage) {
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	var ns evidenceItem
	if json.Unmarshal(raw, &ns) == nil {
		ns.ODataType = "kubernetesNamespaceEvidence"
		f.add(&ns, 0)
	}
}

func (f *found) image(raw json.RawMessage, depth int) {
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	var ie evidenceItem
	if json.Unmarshal(raw, &ie) == nil {
		ie.ODataType = "containerImageEvidence"
		f.add(&ie, depth+1)
	}
}

// unwrap splits a Graph list response ({"value": [...]}).
func unwrap(doc []byte) ([]json.RawMessage, bool) {
	var p httpclient.ODataPage
	if json.Unmarshal(doc, &p) != nil || p.Value == nil {
		return nil, false
	}
	return p.Value, true
}

type puller struct {
	base     string
	filter   string
	lookback time.Duration
	top      int
	now      func() time.Time
}

func newPuller(cfg source.PullConfig) (source.Puller, error) {
	base := strings.TrimRight(cfg.URL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not an https URL like %s", cfg.URL, DefaultURL)
	}
	p := &puller{base: base, filter: cfg.Filter, lookback: cfg.Lookback, top: cfg.PageSize, now: cfg.NowTime}
	if p.lookback <= 0 {
		p.lookback = DefaultLookback
	}
	if p.top <= 0 {
		p.top = DefaultPageSize
	}
	if p.top > 2000 {
		return nil, fmt.Errorf("page_size %d: Graph allows at most 2000", p.top)
	}
	return p, nil
}

// listURL is the first page's URL: alerts updated within the lookback,
// narrowed by the configured $filter.
func (p *puller) listURL() string {
	since := p.now().Add(-p.lookback).UTC().Format("2006-01-02T15:04:05Z")
	filter := "lastUpdateDateTime ge " + since
	if p.filter != "" {
		filter += " and (" + p.filter + ")"
	}
	q := url.Values{"$filter": {filter}, "$top": {fmt.Sprint(p.top)}}
	return p.base + "/v1.0/security/alerts_v2?" + q.Encode()
}

// Pull implements source.Puller.
func (p *puller) Pull(ctx context.Context, c *httpclient.Client) (*source.Batch, error) {
	b := &source.Batch{}
	parser := &Parser{}
	page := 0
	err := c.ODataPages(ctx, p.listURL(), 0, func(items []json.RawMessage) error {
		page++
		source.AddItems(b, parser, fmt.Sprintf("GET /v1.0/security/alerts_v2 page %d", page), items)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
