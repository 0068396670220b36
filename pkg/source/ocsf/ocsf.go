// Package ocsf reads events that are already OCSF (1.1 or later), as
// written by Amazon Security Lake, Prowler, Falcosidekick's OCSF outputs or
// any OCSF mapper, and keeps their class and severity as they are. The
// classes pulsegate reads are 1007 Process Activity, 2002 Vulnerability
// Finding, 2003 Compliance Finding, 2004 Detection Finding, 4001 Network
// Activity and 6003 API Activity; any other class is rejected with a reason
// that names it.
//
// Field mapping (docs/sources.md has the full table):
//
//	class_uid, severity_id        -> Signal.ClassUID, Severity (as is; 0..6 or 99)
//	time (ms)                     -> Signal.Time; values that are plainly seconds
//	                                 (< 10^11), microseconds (>= 10^14) or nanoseconds
//	                                 (>= 10^17) are scaled, as upstream examples use
//	                                 them; attr time_unit says so. Else time_dt.
//	metadata.product.name         -> Product; metadata.version -> attr ocsf_version
//	device.hostname, else name    -> Asset.Node (host profile)
//	container.name, uid           -> Asset.Container, ContainerID (container profile)
//	container.image.name, tag, uid-> Asset.Image (name:tag), ImageDigest (a sha256 uid)
//	resources[] / resource:
//	  type pods|nodes|namespaces  -> Asset.Pod (+namespace), Node, Namespace
//	  a workload type             -> Asset.WorkloadKind, Workload
//	  an ARN uid                  -> Asset.CloudResource (cluster/NAME of an EKS ARN -> Cluster)
//	  anything else               -> Asset.Resource "type/name"
//	finding_info.analytic.name, title, uid
//	                              -> Rule, Title, Raw.ID (else metadata.uid)
//	vulnerabilities[].cve.uid     -> CVEs (the highest cvss base_score / 10 is the Score of 2002)
package ocsf

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "ocsf",
	Product: "OCSF",
	Summary: "OCSF 1.1+ events as they are (classes 1007, 2002, 2003, 2004, 4001, 6003)",
	New:     func() source.Parser { return &Parser{} },
}

// Classes are the OCSF classes the adapter reads, with their captions.
var Classes = map[int]string{
	signal.ClassProcessActivity:      "Process Activity",
	signal.ClassVulnerabilityFinding: "Vulnerability Finding",
	signal.ClassComplianceFinding:    "Compliance Finding",
	signal.ClassDetectionFinding:     "Detection Finding",
	signal.ClassNetworkActivity:      "Network Activity",
	signal.ClassAPIActivity:          "API Activity",
}

// Captions of classes people are likely to send, for the rejection reason.
var otherClasses = map[int]string{
	2001: "Security Finding, deprecated since OCSF 1.1: map it to 2004",
	1001: "File System Activity", 3002: "Authentication", 4003: "DNS Activity", 4002: "HTTP Activity",
	6002: "Application Lifecycle", 5001: "Device Inventory Info",
}

// Parser parses OCSF events. The zero value is ready to use.
type Parser struct{}

type event struct {
	ClassUID   *int        `json:"class_uid"`
	ClassName  string      `json:"class_name"`
	TypeName   string      `json:"type_name"`
	SeverityID *int        `json:"severity_id"`
	Severity   string      `json:"severity"`
	Time       json.Number `json:"time"`
	TimeDT     string      `json:"time_dt"`
	Message    string      `json:"message"`
	Metadata   struct {
		Version string `json:"version"`
		UID     string `json:"uid"`
		Product struct {
			Name       string `json:"name"`
			VendorName string `json:"vendor_name"`
		} `json:"product"`
	} `json:"metadata"`
	Device *struct {
		Hostname string `json:"hostname"`
		Name     string `json:"name"`
		UID      string `json:"uid"`
		IP       string `json:"ip"`
	} `json:"device"`
	Container *struct {
		Name  string `json:"name"`
		UID   string `json:"uid"`
		Image *struct {
			Name string `json:"name"`
			Tag  string `json:"tag"`
			UID  string `json:"uid"`
		} `json:"image"`
		PodUUID string `json:"pod_uuid"`
	} `json:"container"`
	Resources   []resource `json:"resources"`
	Resource    *resource  `json:"resource"`
	FindingInfo *struct {
		UID      string `json:"uid"`
		Title    string `json:"title"`
		Analytic *struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"analytic"`
	} `json:"finding_info"`
	Vulnerabilities []struct {
		CVE *struct {
			UID  string `json:"uid"`
			CVSS []struct {
				BaseScore float64 `json:"base_score"`
			} `json:"cvss"`
		} `json:"cve"`
	} `json:"vulnerabilities"`
	Cloud *struct {
		Account *struct {
			UID string `json:"uid"`
		} `json:"account"`
		Region   string `json:"region"`
		Provider string `json:"provider"`
	} `json:"cloud"`
	API *struct {
		Operation string `json:"operation"`
	} `json:"api"`
	Actor *struct {
		User *struct {
			Name string `json:"name"`
		} `json:"user"`
		Process *struct {
			Name    string `json:"name"`
			CmdLine string `json:"cmd_line"`
		} `json:"process"`
	} `json:"actor"`
	Process *struct {
		Name    string `json:"name"`
		CmdLine string `json:"cmd_line"`
	} `json:"process"`
	SrcEndpoint *netEndpoint `json:"src_endpoint"`
	DstEndpoint *netEndpoint `json:"dst_endpoint"`
}

type netEndpoint struct {
	IP       string      `json:"ip"`
	Port     json.Number `json:"port"`
	Hostname string      `json:"hostname"`
}

type resource struct {
	UID       string `json:"uid"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Namespace string `json:"namespace"`
}

var workloads = map[string]string{
	"deployments": "Deployment", "deployment": "Deployment", "statefulsets": "StatefulSet", "statefulset": "StatefulSet",
	"daemonsets": "DaemonSet", "daemonset": "DaemonSet", "replicasets": "ReplicaSet", "replicaset": "ReplicaSet",
	"jobs": "Job", "job": "Job", "cronjobs": "CronJob", "cronjob": "CronJob",
}

// Time scales: OCSF's time is milliseconds, but upstream examples carry
// seconds (Okta, Zeek, Prowler) and microseconds (the EKS bloblang mapping).
const (
	maxMillis = 1e14 // 5138 AD in ms; above this, microseconds
	maxMicros = 1e17 // above this, nanoseconds
	minMillis = 1e11 // 1973 in ms; below this, seconds
)

// EventTime reads OCSF's time (an integer; milliseconds, with the scaling
// above) and returns the unit it assumed.
func EventTime(v json.Number) (time.Time, string, error) {
	n, err := strconv.ParseInt(v.String(), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v.String(), 64)
		if ferr != nil || f != f || f > 9e18 || f < -9e18 {
			return time.Time{}, "", fmt.Errorf("field \"time\": %.40s is not a number of milliseconds", v)
		}
		n = int64(f)
	}
	var t time.Time
	unit := "ms"
	switch {
	case n <= 0:
		return time.Time{}, "", fmt.Errorf("field \"time\": %d is not a time after 1970", n)
	case n < minMillis:
		t, unit = time.Unix(n, 0), "s"
	case n < maxMillis:
		t = time.UnixMilli(n)
	case n < maxMicros:
		t, unit = time.UnixMicro(n), "us"
	default:
		t, unit = time.Unix(0, n), "ns"
	}
	t, err = source.CheckTime("time", t)
	return t, unit, err
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var e event
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		// A class pulsegate does not read says so even when its fields
		// do not decode here (OCSF 1.0's cvss was an object).
		var h struct {
			ClassUID  *int   `json:"class_uid"`
			ClassName string `json:"class_name"`
		}
		if json.Unmarshal(rec.Data, &h) == nil && h.ClassUID != nil {
			if _, ok := Classes[*h.ClassUID]; !ok {
				return nil, classError(*h.ClassUID, h.ClassName)
			}
		}
		return nil, fmt.Errorf("not an OCSF event: %s", source.JSONReason(err))
	}
	if e.ClassUID == nil {
		return nil, errors.New(`missing field "class_uid"`)
	}
	class := *e.ClassUID
	if _, ok := Classes[class]; !ok {
		return nil, classError(class, e.ClassName)
	}
	if e.SeverityID == nil {
		return nil, errors.New(`missing field "severity_id"`)
	}
	sev := signal.Severity(*e.SeverityID)
	if id := *e.SeverityID; id < 0 || id > 6 && id != 99 {
		return nil, fmt.Errorf("field \"severity_id\": %d is not an OCSF severity (0..6 or 99)", *e.SeverityID)
	}
	var t time.Time
	unit := "ms"
	var err error
	switch {
	case e.Time != "":
		t, unit, err = EventTime(e.Time)
	case e.TimeDT != "":
		t, err = source.ParseTime("time_dt", e.TimeDT)
		unit = "time_dt"
	default:
		err = errors.New(`missing field "time"`)
	}
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:       signal.MakeID("ocsf", rec.Data),
		Time:     t,
		Product:  e.Metadata.Product.Name,
		ClassUID: class,
		Severity: sev,
		Score:    sev.Score(),
		Native:   e.Severity,
		Raw:      signal.RawRef{ID: e.Metadata.UID},
	}
	if s.Product == "" {
		s.Product = "OCSF"
	}
	if fi := e.FindingInfo; fi != nil {
		s.Title = fi.Title
		if fi.UID != "" {
			s.Raw.ID = fi.UID
		}
		if fi.Analytic != nil {
			s.Rule = fi.Analytic.Name
		}
		if s.Rule == "" {
			s.Rule = fi.Title
		}
	}
	if s.Title == "" {
		s.Title = e.Message
	}
	if s.Rule == "" {
		s.Rule = cmp.Or(e.TypeName, e.ClassName, Classes[class])
	}
	if d := e.Device; d != nil {
		s.Asset.Node = cmp.Or(d.Hostname, d.Name)
		s.SetAttr("device_uid", d.UID)
		s.SetAttr("device_ip", d.IP)
	}
	if c := e.Container; c != nil {
		s.Asset.Container, s.Asset.ContainerID = c.Name, c.UID
		if im := c.Image; im != nil {
			s.Asset.Image = im.Name
			if im.Tag != "" && !strings.Contains(im.Name, ":") {
				s.Asset.Image += ":" + im.Tag
			}
			if strings.HasPrefix(im.UID, "sha256:") {
				s.Asset.ImageDigest = im.UID
			} else if _, d, ok := strings.Cut(im.Name, "@"); ok {
				s.Asset.ImageDigest = d
			}
		}
		s.SetAttr("pod_uuid", c.PodUUID)
	}
	res := e.Resources
	if e.Resource != nil {
		res = append(res, *e.Resource)
	}
	for _, r := range res {
		applyResource(&s.Asset, r)
	}
	var best float64
	for _, v := range e.Vulnerabilities {
		if v.CVE == nil {
			continue
		}
		if v.CVE.UID != "" && len(s.CVEs) < 64 {
			s.CVEs = append(s.CVEs, v.CVE.UID)
		}
		for _, c := range v.CVE.CVSS {
			if c.BaseScore > best && c.BaseScore <= 10 {
				best = c.BaseScore
			}
		}
	}
	if class == signal.ClassVulnerabilityFinding && best > 0 {
		s.Score = math.Round(best*100) / 1000 // 8.1 -> 0.81, not 0.8099999999999999
		s.SetAttr("cvss", strconv.FormatFloat(best, 'f', -1, 64))
	}
	if c := e.Cloud; c != nil {
		if c.Account != nil {
			s.SetAttr("account", c.Account.UID)
		}
		s.SetAttr("region", c.Region)
		s.SetAttr("cloud", c.Provider)
	}
	if e.API != nil {
		s.SetAttr("api_operation", e.API.Operation)
	}
	if a := e.Actor; a != nil {
		if a.User != nil {
			s.SetAttr("user", a.User.Name)
		}
		if a.Process != nil {
			s.SetAttr("actor_process", a.Process.Name)
		}
	}
	if pr := e.Process; pr != nil {
		s.SetAttr("process", pr.Name)
		s.SetAttr("cmdline", pr.CmdLine)
	}
	if ep := e.SrcEndpoint; ep != nil {
		s.SetAttr("src_ip", ep.IP)
		s.SetAttr("src_port", ep.Port.String())
	}
	if ep := e.DstEndpoint; ep != nil {
		s.SetAttr("dst_ip", ep.IP)
		s.SetAttr("dst_port", ep.Port.String())
		s.SetAttr("dst_hostname", ep.Hostname)
	}
	s.SetAttr("ocsf_version", e.Metadata.Version)
	if unit != "ms" {
		s.SetAttr("time_unit", unit)
	}
	return []signal.Signal{s}, nil
}

func classError(class int, caption string) error {
	name := otherClasses[class]
	if name == "" {
		name = caption
	}
	if name != "" {
		name = " (" + name + ")"
	}
	return fmt.Errorf("field \"class_uid\": class %d%s is not one pulsegate reads (1007, 2002, 2003, 2004, 4001, 6003)", class, name)
}

func applyResource(a *signal.Asset, r resource) {
	typ := strings.ToLower(r.Type)
	switch {
	case typ == "pods" || typ == "pod":
		a.Pod = cmp.Or(a.Pod, r.Name)
		a.Namespace = cmp.Or(a.Namespace, r.Namespace)
	case typ == "nodes" || typ == "node":
		a.Node = cmp.Or(a.Node, r.Name)
	case typ == "namespaces" || typ == "namespace":
		a.Namespace = cmp.Or(a.Namespace, r.Name)
	case workloads[typ] != "":
		if a.Workload == "" {
			a.WorkloadKind, a.Workload = workloads[typ], r.Name
		}
		a.Namespace = cmp.Or(a.Namespace, r.Namespace)
	case strings.HasPrefix(r.UID, "arn:"):
		a.CloudResource = cmp.Or(a.CloudResource, r.UID)
		if strings.Contains(r.UID, ":eks:") {
			if _, rest, ok := strings.Cut(r.UID, ":cluster/"); ok {
				name, _, _ := strings.Cut(rest, "/")
				a.Cluster = cmp.Or(a.Cluster, name)
			}
		}
	case r.Name != "" && a.Resource == "":
		if typ != "" {
			a.Resource = typ + "/" + r.Name
		} else {
			a.Resource = r.Name
		}
		a.Namespace = cmp.Or(a.Namespace, r.Namespace)
	}
	if a.CloudResource == "" && strings.HasPrefix(r.UID, "/subscriptions/") {
		a.CloudResource = r.UID // an Azure resource id
	}
}
