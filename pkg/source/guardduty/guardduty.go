// Package guardduty reads native Amazon GuardDuty findings: the output of
// `aws guardduty get-findings` (a `Findings` list, PascalCase), the API's
// camelCase JSON, one finding per line, or the EventBridge event
// "GuardDuty Finding" (the finding in `detail`). Every finding becomes one
// OCSF Detection Finding (2004), as in AWS's own OCSF mapping of GuardDuty.
// Findings already converted to ASFF belong to the asff adapter.
//
// Field mapping (docs/sources.md has the full table):
//
//	UpdatedAt (else CreatedAt)                       -> Signal.Time
//	Severity (number)                                -> severity_id: 1.0-3.9 Low, 4.0-6.9 Medium,
//	                                                    7.0-8.9 High, 9.0-10.0 Critical (GuardDuty's
//	                                                    severity levels); values below 1 are Low
//	Type, Title, Id                                  -> Rule, Title, Raw.ID
//	Resource.EksClusterDetails.Name (else the ARN)   -> Asset.Cluster; its Arn -> Asset.CloudResource
//	Resource.KubernetesDetails.KubernetesWorkloadDetails
//	  Namespace, Name, Type ("pods" -> Asset.Pod)    -> Asset.Namespace, Workload, WorkloadKind
//	  Containers[0].Name, Image                      -> Asset.Container, Asset.Image
//	Resource.ContainerDetails.Id, Name, Image        -> Asset.ContainerID, Container, Image (runtime)
//	Resource.InstanceDetails.InstanceId              -> attr instance_id (Asset.CloudResource when
//	                                                    there is no cluster)
//	Service.RuntimeDetails.Process                   -> attrs process, exe, exe_sha256, pid
//	KubernetesUserDetails.Username, KubernetesApiCallAction
//	                                                 -> attrs user, verb, request_uri, remote_ip
package guardduty

import (
	"bytes"
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
	Type:    "guardduty",
	Product: "Amazon GuardDuty",
	Summary: "Amazon GuardDuty findings (get-findings output, API JSON, EventBridge events)",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  Unwrap,
}

// Parser parses GuardDuty findings. The zero value is ready to use.
type Parser struct{}

type finding struct {
	ID            string `json:"Id"`
	Arn           string
	AccountID     string `json:"AccountId"`
	Region        string
	Type          string
	Title         string
	CreatedAt     string
	UpdatedAt     string
	Severity      json.RawMessage
	SchemaVersion string
	ProductArn    string
	Resource      *struct {
		ResourceType      string
		EksClusterDetails *struct {
			Name string
			Arn  string
		}
		KubernetesDetails *struct {
			KubernetesUserDetails *struct {
				Username string
			}
			KubernetesWorkloadDetails *struct {
				Name       string
				Type       string
				Namespace  string
				Containers []struct {
					Name        string
					Image       string
					ImagePrefix string
				}
			}
		}
		InstanceDetails *struct {
			InstanceID string `json:"InstanceId"`
		}
		ContainerDetails *struct {
			ID    string `json:"Id"`
			Name  string
			Image string
		}
	}
	Service *struct {
		Action *struct {
			ActionType              string
			KubernetesAPICallAction *struct {
				Verb            string
				RequestURI      string `json:"RequestUri"`
				RemoteIPDetails *struct {
					IPAddressV4 string `json:"IpAddressV4"`
				} `json:"RemoteIpDetails"`
			} `json:"KubernetesApiCallAction"`
		}
		RuntimeDetails *struct {
			Process *struct {
				Name             string
				ExecutablePath   string
				ExecutableSha256 string
				Pid              json.Number
			}
		}
		EventFirstSeen string
		EventLastSeen  string
		Count          json.Number
		Archived       bool
	}
}

// Unwrap splits a get-findings response ({"Findings": [...]}) into its
// findings and takes the finding out of an EventBridge event
// ({"detail-type": "GuardDuty Finding", "detail": {...}}).
func Unwrap(doc []byte) ([]json.RawMessage, bool) {
	if !bytes.Contains(doc, []byte(`"Findings"`)) && !bytes.Contains(doc, []byte(`"findings"`)) && !bytes.Contains(doc, []byte(`"detail"`)) {
		return nil, false
	}
	var env struct {
		Findings   []json.RawMessage `json:"Findings"`
		DetailType string            `json:"detail-type"`
		Detail     json.RawMessage   `json:"detail"`
	}
	if json.Unmarshal(doc, &env) != nil {
		return nil, false
	}
	switch {
	case env.Findings != nil:
		return env.Findings, true
	case env.DetailType == "GuardDuty Finding" && len(env.Detail) > 0:
		return []json.RawMessage{env.Detail}, true
	}
	return nil, false
}

// SeverityOf maps GuardDuty's numeric severity onto OCSF, as GuardDuty's
// severity levels are documented: Low 1.0-3.9, Medium 4.0-6.9, High
// 7.0-8.9, Critical 9.0-10.0. The archived guide says values start at 0.1:
// anything above 0 and below 4 is Low.
func SeverityOf(v float64) (signal.Severity, error) {
	switch {
	case math.IsNaN(v) || v <= 0 || v > 10:
		return 0, fmt.Errorf("field \"Severity\": %s is outside GuardDuty's 0.1..10 scale", strconv.FormatFloat(v, 'g', -1, 64))
	case v < 4:
		return signal.SeverityLow, nil
	case v < 7:
		return signal.SeverityMedium, nil
	case v < 9:
		return signal.SeverityHigh, nil
	}
	return signal.SeverityCritical, nil
}

var kinds = map[string]string{
	"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", "replicasets": "ReplicaSet",
	"jobs": "Job", "cronjobs": "CronJob", "replicationcontrollers": "ReplicationController",
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var f finding
	if err := json.Unmarshal(rec.Data, &f); err != nil {
		return nil, fmt.Errorf("not a GuardDuty finding: %s", source.JSONReason(err))
	}
	if f.ProductArn != "" || f.SchemaVersion == "2018-10-08" {
		return nil, errors.New("an ASFF finding (ProductArn, SchemaVersion 2018-10-08): read it with --type asff")
	}
	if f.ID == "" {
		return nil, errors.New(`missing field "Id"`)
	}
	if f.Type == "" {
		return nil, errors.New(`missing field "Type"`)
	}
	var t time.Time
	var err error
	switch {
	case f.UpdatedAt != "":
		t, err = source.ParseTime("UpdatedAt", f.UpdatedAt)
	case f.CreatedAt != "":
		t, err = source.ParseTime("CreatedAt", f.CreatedAt)
	default:
		err = errors.New(`missing field "UpdatedAt" (and no CreatedAt)`)
	}
	if err != nil {
		return nil, err
	}
	if len(f.Severity) == 0 || string(f.Severity) == "null" {
		return nil, errors.New(`missing field "Severity"`)
	}
	num, err := strconv.ParseFloat(string(bytes.Trim(f.Severity, `"`)), 64)
	if err != nil {
		return nil, fmt.Errorf("field \"Severity\": %.40s is not a number", f.Severity)
	}
	sev, err := SeverityOf(num)
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:       signal.MakeID("guardduty", rec.Data),
		Time:     t,
		Product:  "Amazon GuardDuty",
		ClassUID: signal.ClassDetectionFinding,
		Severity: sev,
		Score:    sev.Score(),
		Native:   strconv.FormatFloat(num, 'f', -1, 64),
		Rule:     f.Type,
		Title:    f.Title,
		Raw:      signal.RawRef{ID: f.ID},
	}
	if r := f.Resource; r != nil {
		s.SetAttr("resource_type", r.ResourceType)
		if c := r.EksClusterDetails; c != nil {
			s.Asset.Cluster = c.Name
			if s.Asset.Cluster == "" {
				s.Asset.Cluster = clusterFromARN(c.Arn)
			}
			s.Asset.CloudResource = c.Arn
		}
		if k := r.KubernetesDetails; k != nil {
			if w := k.KubernetesWorkloadDetails; w != nil {
				s.Asset.Namespace = w.Namespace
				switch typ := strings.ToLower(w.Type); {
				case typ == "pods" || typ == "pod":
					s.Asset.Pod = w.Name
				case kinds[typ] != "":
					s.Asset.WorkloadKind, s.Asset.Workload = kinds[typ], w.Name
				default:
					s.Asset.WorkloadKind, s.Asset.Workload = w.Type, w.Name
				}
				if len(w.Containers) > 0 {
					c := w.Containers[0]
					s.Asset.Container, s.Asset.Image = c.Name, c.Image
					s.SetAttr("image_prefix", c.ImagePrefix)
				}
			}
			if u := k.KubernetesUserDetails; u != nil {
				s.SetAttr("user", u.Username)
			}
		}
		if c := r.ContainerDetails; c != nil {
			s.Asset.ContainerID = c.ID
			if c.Name != "" {
				s.Asset.Container = c.Name
			}
			if c.Image != "" {
				s.Asset.Image = c.Image
			}
		}
		if i := r.InstanceDetails; i != nil && i.InstanceID != "" {
			s.SetAttr("instance_id", i.InstanceID)
			if s.Asset.CloudResource == "" {
				s.Asset.CloudResource = i.InstanceID
			}
		}
	}
	if sv := f.Service; sv != nil {
		if a := sv.Action; a != nil {
			s.SetAttr("action", a.ActionType)
			if k := a.KubernetesAPICallAction; k != nil {
				s.SetAttr("verb", k.Verb)
				s.SetAttr("request_uri", k.RequestURI)
				if k.RemoteIPDetails != nil {
					s.SetAttr("remote_ip", k.RemoteIPDetails.IPAddressV4)
				}
			}
		}
		if rt := sv.RuntimeDetails; rt != nil && rt.Process != nil {
			s.SetAttr("process", rt.Process.Name)
			s.SetAttr("exe", rt.Process.ExecutablePath)
			s.SetAttr("exe_sha256", rt.Process.ExecutableSha256)
			s.SetAttr("pid", rt.Process.Pid.String())
		}
		s.SetAttr("event_first_seen", sv.EventFirstSeen)
		s.SetAttr("event_last_seen", sv.EventLastSeen)
		s.SetAttr("count", sv.Count.String())
		if sv.Archived {
			s.SetAttr("archived", "true")
		}
	}
	s.SetAttr("account", f.AccountID)
	s.SetAttr("region", f.Region)
	s.SetAttr("arn", f.Arn)
	return []signal.Signal{s}, nil
}

func clusterFromARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":cluster/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
