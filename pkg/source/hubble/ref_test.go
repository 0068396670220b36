package hubble

// The adapter as it was before the scanner (commit 69fdfb8), verbatim but
// for names: the oracle that the fuzz target compares Parse with.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Identity 2 is Cilium's reserved "world" identity.
const refWorldIdentity = 2

// Parser parses Hubble flows. It reuses its decoding buffers: not safe for
// concurrent use.
type refParser struct {
	r refRecord
}

type refRecord struct {
	Flow *refFlow `json:"flow"`
	refFlow
}

type refFlow struct {
	Time             string        `json:"time"`
	NodeName         string        `json:"node_name"`
	Verdict          string        `json:"verdict"`
	DropReasonDesc   string        `json:"drop_reason_desc"`
	IP               *refIPInfo    `json:"IP"`
	L4               *refL4Info    `json:"l4"`
	Source           *refEndpoint  `json:"source"`
	Destination      *refEndpoint  `json:"destination"`
	Type             string        `json:"Type"`
	L7               *refL7Info    `json:"l7"`
	Direction        string        `json:"traffic_direction"`
	IsReply          *bool         `json:"is_reply"`
	Summary          string        `json:"Summary"`
	DestinationNames []string      `json:"destination_names"`
	EventType        *refEventType `json:"event_type"`
}

type refEventType struct {
	Type int `json:"type"`
}

type refIPInfo struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

type refPorts struct {
	SourcePort      int `json:"source_port"`
	DestinationPort int `json:"destination_port"`
}

type refL4Info struct {
	TCP    *refPorts       `json:"TCP"`
	UDP    *refPorts       `json:"UDP"`
	SCTP   *refPorts       `json:"SCTP"`
	ICMPv4 json.RawMessage `json:"ICMPv4"`
	ICMPv6 json.RawMessage `json:"ICMPv6"`
}

type refL7Info struct {
	Type string `json:"type"`
	DNS  *struct {
		Query string `json:"query"`
	} `json:"dns"`
	HTTP *struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Code   int    `json:"code"`
	} `json:"http"`
}

type refEndpoint struct {
	Identity  int64  `json:"identity"`
	Namespace string `json:"namespace"`
	// Labels stay raw: decoding a dozen strings per refEndpoint only to look
	// for two of them was a third of the allocations.
	Labels      json.RawMessage `json:"labels"`
	PodName     string          `json:"pod_name"`
	ClusterName string          `json:"cluster_name"`
	Workloads   []struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	} `json:"workloads"`
}

func (e *refEndpoint) world() bool {
	if e == nil || e.PodName != "" {
		return false // a pod is never the world, whatever identity the proxy saw
	}
	if e.Identity == refWorldIdentity {
		return true
	}
	return bytes.Contains(e.Labels, []byte(`"reserved:world"`)) || bytes.Contains(e.Labels, []byte(`"reserved:world-`))
}

// label returns the rest of the first label that starts with prefix, from
// the raw JSON array; "" when there is none or it holds escapes.
func (e *refEndpoint) label(prefix string) string {
	i := bytes.Index(e.Labels, []byte(`"`+prefix))
	if i < 0 {
		return ""
	}
	rest := e.Labels[i+1+len(prefix):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return ""
	}
	return string(rest[:j])
}

func (e *refEndpoint) cluster() string {
	if e.ClusterName != "" {
		return e.ClusterName
	}
	return e.label("k8s:io.cilium.k8s.policy.cluster=")
}

// name is "namespace/pod", a reserved label, or "".
func (e *refEndpoint) name() string {
	if e == nil {
		return ""
	}
	if e.PodName != "" {
		return e.Namespace + "/" + e.PodName
	}
	if l := e.label("reserved:"); l != "" {
		return "reserved:" + l
	}
	return ""
}

// Parse implements source.Parser.
func (p *refParser) Parse(rec source.Record) ([]signal.Signal, error) {
	p.r = refRecord{}
	if err := json.Unmarshal(rec.Data, &p.r); err != nil {
		return nil, fmt.Errorf("not a Hubble flow: %s", source.JSONReason(err))
	}
	f := &p.r.refFlow
	if p.r.Flow != nil {
		f = p.r.Flow
	}
	if f.Source == nil && f.Destination == nil && f.IP == nil {
		return nil, errors.New(`not a Hubble flow: no "source", "destination" or "IP"`)
	}
	ts := f.Time
	field := "flow.time"
	if ts == "" {
		ts, field = p.r.Time, "time"
	}
	var t time.Time
	var err error
	if ts == "" {
		err = errors.New(`missing field "flow.time"`)
	} else {
		t, err = source.ParseTime(field, ts)
	}
	if err != nil {
		return nil, err
	}
	node := f.NodeName
	if node == "" {
		node = p.r.NodeName
	}
	src, dst := f.Source, f.Destination
	local, peer := src, dst
	switch {
	case f.Direction == "INGRESS":
		local, peer = dst, src
	case f.Direction == "EGRESS":
	case (src == nil || src.PodName == "") && dst != nil && dst.PodName != "":
		local, peer = dst, src
	}
	s := signal.Signal{
		ID:       signal.MakeID("hubble", rec.Data),
		Time:     t,
		Product:  "Hubble",
		ClassUID: signal.ClassNetworkActivity,
		Severity: signal.SeverityInformational,
		Rule:     "hubble: flow",
		Native:   f.Verdict,
	}
	s.Asset.Node = node
	if local != nil {
		s.Asset.Namespace = local.Namespace
		s.Asset.Pod = local.PodName
		s.Asset.Cluster = local.cluster()
		if len(local.Workloads) > 0 {
			s.Asset.WorkloadKind, s.Asset.Workload = local.Workloads[0].Kind, local.Workloads[0].Name
		}
	}
	s.Attrs = make(map[string]string, 12)
	if dst.world() && !src.world() && f.Direction != "INGRESS" {
		s.Severity = signal.SeverityLow
		s.Rule = "hubble: egress to world"
		s.Attrs["egress_world"] = "true"
	}
	if f.Verdict == "DROPPED" {
		s.SetAttr("drop_reason", f.DropReasonDesc)
		if s.Rule == "hubble: flow" {
			s.Rule = "hubble: flow dropped"
		}
	}
	s.Score = s.Severity.Score()
	s.SetAttr("verdict", f.Verdict)
	s.SetAttr("direction", f.Direction)
	s.SetAttr("flow_type", f.Type)
	if f.IsReply != nil && *f.IsReply {
		s.Attrs["reply"] = "true"
	}
	var sport, dport int
	if ip := f.IP; ip != nil {
		s.SetAttr("src_ip", ip.Source)
		s.SetAttr("dst_ip", ip.Destination)
	}
	if l4 := f.L4; l4 != nil {
		var pt *refPorts
		switch {
		case l4.TCP != nil:
			s.Attrs["protocol"], pt = "TCP", l4.TCP
		case l4.UDP != nil:
			s.Attrs["protocol"], pt = "UDP", l4.UDP
		case l4.SCTP != nil:
			s.Attrs["protocol"], pt = "SCTP", l4.SCTP
		case l4.ICMPv4 != nil:
			s.Attrs["protocol"] = "ICMPv4"
		case l4.ICMPv6 != nil:
			s.Attrs["protocol"] = "ICMPv6"
		}
		if pt != nil {
			sport, dport = pt.SourcePort, pt.DestinationPort
			s.Attrs["src_port"] = strconv.Itoa(sport)
			s.Attrs["dst_port"] = strconv.Itoa(dport)
		}
	}
	s.SetAttr("src", src.name())
	s.SetAttr("dst", dst.name())
	if peer != nil {
		s.SetAttr("peer_identity", strconv.FormatInt(peer.Identity, 10))
	}
	if len(f.DestinationNames) > 0 {
		s.SetAttr("dst_names", strings.Join(f.DestinationNames, ","))
	}
	if l7 := f.L7; l7 != nil {
		if l7.DNS != nil {
			s.SetAttr("dns_query", l7.DNS.Query)
		}
		if l7.HTTP != nil {
			s.SetAttr("http", l7.HTTP.Method+" "+l7.HTTP.URL)
		}
	}
	s.Title = f.Summary
	if s.Title == "" {
		s.Title = f.Verdict + " " + refEndpointOr(src.name(), s.Attrs["src_ip"]) + " -> " + refEndpointOr(dst.name(), s.Attrs["dst_ip"])
	}
	return []signal.Signal{s}, nil
}

func refEndpointOr(name, ip string) string {
	if name != "" {
		return name
	}
	if ip != "" {
		return ip
	}
	return "?"
}
