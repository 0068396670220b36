// Package wazuh reads Wazuh alerts as the manager writes them to
// alerts.json (one alert per line) and as the Wazuh indexer stores them.
// Every alert becomes one OCSF Detection Finding (2004), as in Wazuh's own
// OCSF converter for Amazon Security Lake.
//
// Field mapping (docs/sources.md has the full table):
//
//	timestamp (else @timestamp)   -> Signal.Time ("2024-04-22T14:20:46.976+0000" or RFC 3339)
//	rule.level 0..16              -> severity_id (Wazuh's OCSF converter: 0-3 Informational,
//	                                 4-7 Low, 8-10 Medium, 11-14 High, 15-16 Critical)
//	rule.description, rule.id     -> Rule and Title, attr rule_id
//	agent.name                    -> Asset.Node (agent "000" is the manager: manager.name)
//	data.kubernetes / data.docker -> Asset.Namespace, Pod, Container, Image when present
//	id                            -> Raw.ID
//
// Wazuh's cluster.name is the cluster of Wazuh managers, not a Kubernetes
// cluster: it is kept as attr wazuh_cluster, never as Asset.Cluster.
package wazuh

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "wazuh",
	Product: "Wazuh",
	Summary: "Wazuh alerts (alerts.json lines, indexer documents)",
	New:     func() source.Parser { return &Parser{} },
}

// Parser parses Wazuh alerts. The zero value is ready to use.
type Parser struct{}

type alert struct {
	Timestamp  string `json:"timestamp"`
	ATimestamp string `json:"@timestamp"`
	ID         string `json:"id"`
	Location   string `json:"location"`
	FullLog    string `json:"full_log"`
	Rule       *struct {
		Level       json.Number `json:"level"`
		ID          string      `json:"id"`
		Description string      `json:"description"`
		Groups      []string    `json:"groups"`
		Mitre       struct {
			ID        []string `json:"id"`
			Technique []string `json:"technique"`
		} `json:"mitre"`
	} `json:"rule"`
	Agent struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		IP   string `json:"ip"`
	} `json:"agent"`
	Manager struct {
		Name string `json:"name"`
	} `json:"manager"`
	Cluster struct {
		Name string `json:"name"`
		Node string `json:"node"`
	} `json:"cluster"`
	Data struct {
		Kubernetes *struct {
			Namespace     string `json:"namespace_name"`
			PodName       string `json:"pod_name"`
			ContainerName string `json:"container_name"`
			ContainerID   string `json:"docker_id"`
			ContainerImg  string `json:"container_image"`
		} `json:"kubernetes"`
		Docker *struct {
			Actor struct {
				ID         string `json:"ID"`
				Attributes struct {
					Name      string `json:"name"`
					Image     string `json:"image"`
					Namespace string `json:"io.kubernetes.pod.namespace"`
					Pod       string `json:"io.kubernetes.pod.name"`
					Container string `json:"io.kubernetes.container.name"`
				} `json:"Attributes"`
			} `json:"Actor"`
		} `json:"docker"`
		SrcIP string `json:"srcip"`
	} `json:"data"`
}

// SeverityOf maps a Wazuh rule level onto OCSF as Wazuh's own OCSF
// converter does (integrations/amazon-security-lake, wazuh_ocsf_converter):
// 0-3 Informational, 4-7 Low, 8-10 Medium, 11-14 High, 15 and 16 Critical.
// Levels outside 0..16 are an error.
func SeverityOf(level int) (signal.Severity, error) {
	switch {
	case level < 0 || level > 16:
		return 0, fmt.Errorf("field \"rule.level\": %d is outside Wazuh's 0..16", level)
	case level <= 3:
		return signal.SeverityInformational, nil
	case level <= 7:
		return signal.SeverityLow, nil
	case level <= 10:
		return signal.SeverityMedium, nil
	case level <= 14:
		return signal.SeverityHigh, nil
	}
	return signal.SeverityCritical, nil
}

// Time layouts Wazuh writes: alerts.json uses a numeric zone without a
// colon; the indexer's @timestamp is RFC 3339.
var layouts = []string{"2006-01-02T15:04:05.999999999-0700", time.RFC3339Nano}

func parseTime(field, v string) (time.Time, error) {
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return source.CheckTime(field, t)
		}
	}
	return time.Time{}, fmt.Errorf("field %q: %q is not a time", field, v)
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var a alert
	if err := json.Unmarshal(rec.Data, &a); err != nil {
		return nil, fmt.Errorf("not a Wazuh alert: %s", source.JSONReason(err))
	}
	if a.Rule == nil {
		return nil, errors.New(`missing field "rule"`)
	}
	if a.Rule.Level == "" {
		return nil, errors.New(`missing field "rule.level"`)
	}
	level, err := a.Rule.Level.Int64()
	if err != nil || level < -1<<31 || level > 1<<31 {
		return nil, fmt.Errorf("field \"rule.level\": %s is not an integer", a.Rule.Level)
	}
	sev, err := SeverityOf(int(level))
	if err != nil {
		return nil, err
	}
	var t time.Time
	switch {
	case a.Timestamp != "":
		t, err = parseTime("timestamp", a.Timestamp)
	case a.ATimestamp != "":
		t, err = parseTime("@timestamp", a.ATimestamp)
	default:
		err = errors.New(`missing field "timestamp"`)
	}
	if err != nil {
		return nil, err
	}
	rule := a.Rule.Description
	if rule == "" {
		rule = "wazuh rule " + a.Rule.ID
	}
	s := signal.Signal{
		ID:       signal.MakeID("wazuh", rec.Data),
		Time:     t,
		Product:  "Wazuh",
		ClassUID: signal.ClassDetectionFinding,
		Severity: sev,
		Score:    sev.Score(),
		Native:   a.Rule.Level.String(),
		Rule:     rule,
		Title:    a.Rule.Description,
		Raw:      signal.RawRef{ID: a.ID},
	}
	// Agent 000 is the manager itself.
	if a.Agent.ID == "000" || a.Agent.Name == "" {
		s.Asset.Node = a.Manager.Name
	} else {
		s.Asset.Node = a.Agent.Name
	}
	if k := a.Data.Kubernetes; k != nil {
		s.Asset.Namespace, s.Asset.Pod, s.Asset.Container = k.Namespace, k.PodName, k.ContainerName
		s.Asset.ContainerID, s.Asset.Image = k.ContainerID, k.ContainerImg
	}
	if d := a.Data.Docker; d != nil {
		at := d.Actor.Attributes
		if s.Asset.Namespace == "" {
			s.Asset.Namespace, s.Asset.Pod = at.Namespace, at.Pod
		}
		if s.Asset.Container == "" {
			s.Asset.Container = cmp.Or(at.Container, at.Name)
		}
		if s.Asset.ContainerID == "" {
			s.Asset.ContainerID = d.Actor.ID
		}
		if s.Asset.Image == "" {
			s.Asset.Image = at.Image
		}
	}
	s.SetAttr("rule_id", a.Rule.ID)
	s.SetAttr("agent_id", a.Agent.ID)
	s.SetAttr("agent_ip", a.Agent.IP)
	s.SetAttr("manager", a.Manager.Name)
	s.SetAttr("wazuh_cluster", a.Cluster.Name)
	s.SetAttr("location", a.Location)
	s.SetAttr("groups", strings.Join(a.Rule.Groups, ","))
	s.SetAttr("mitre", strings.Join(a.Rule.Mitre.ID, ","))
	s.SetAttr("srcip", a.Data.SrcIP)
	s.SetAttr("full_log", a.FullLog)
	return []signal.Signal{s}, nil
}
