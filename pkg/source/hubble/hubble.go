// Package hubble reads Cilium Hubble flows as JSON lines: what `hubble
// observe -o json` writes ({"flow": {...}, "node_name": ..., "time": ...})
// and bare flow objects (the Hubble exporter, the flow proto in JSON). Every
// flow becomes one OCSF Network Activity (4001) Signal.
//
// The Signal is about the flow's local endpoint: the source of an egress
// flow, the destination of an ingress flow, else whichever side is a pod
// (the source first). The other side is the peer, in attrs.
//
// Field mapping (docs/sources.md has the full table):
//
//	flow.time (else time)                   -> Signal.Time (nanoseconds kept)
//	flow.node_name (else node_name)         -> Asset.Node
//	<local>.namespace, pod_name             -> Asset.Namespace, Asset.Pod
//	<local>.workloads[0].kind, name         -> Asset.WorkloadKind, Asset.Workload
//	<local>.cluster_name, else the label
//	  k8s:io.cilium.k8s.policy.cluster=NAME -> Asset.Cluster
//	verdict, drop_reason_desc               -> attrs verdict, drop_reason
//	IP, l4, l7, destination_names           -> attrs src_ip, dst_ip, protocol, ports, dns, http
//
// Severity: Hubble has none. Egress to the world (the destination is no
// pod and has identity 2 or a reserved:world label, and the flow is not
// ingress) is Low
// with rule "hubble: egress to world" and attr egress_world=true; every
// other flow is Informational. A DROPPED verdict is kept as rule "hubble:
// flow dropped" with the drop reason.
package hubble

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

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "hubble",
	Product: "Hubble",
	Summary: "Cilium Hubble flows (hubble observe -o json lines, bare flows)",
	New:     func() source.Parser { return &Parser{} },
}

// Identity 2 is Cilium's reserved "world" identity.
const worldIdentity = 2

// Parser parses Hubble flows. It reuses its decoding buffers: not safe for
// concurrent use.
type Parser struct {
	r record
}

type record struct {
	Flow *flow `json:"flow"`
	flow
}

type flow struct {
	Time             string     `json:"time"`
	NodeName         string     `json:"node_name"`
	Verdict          string     `json:"verdict"`
	DropReasonDesc   string     `json:"drop_reason_desc"`
	IP               *ipInfo    `json:"IP"`
	L4               *l4Info    `json:"l4"`
	Source           *endpoint  `json:"source"`
	Destination      *endpoint  `json:"destination"`
	Type             string     `json:"Type"`
	L7               *l7Info    `json:"l7"`
	Direction        string     `json:"traffic_direction"`
	IsReply          *bool      `json:"is_reply"`
	Summary          string     `json:"Summary"`
	DestinationNames []string   `json:"destination_names"`
	EventType        *eventType `json:"event_type"`
}

type eventType struct {
	Type int `json:"type"`
}

type ipInfo struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

type ports struct {
	SourcePort      int `json:"source_port"`
	DestinationPort int `json:"destination_port"`
}

type l4Info struct {
	TCP    *ports          `json:"TCP"`
	UDP    *ports          `json:"UDP"`
	SCTP   *ports          `json:"SCTP"`
	ICMPv4 json.RawMessage `json:"ICMPv4"`
	ICMPv6 json.RawMessage `json:"ICMPv6"`
}

type l7Info struct {
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

type endpoint struct {
	Identity  int64  `json:"identity"`
	Namespace string `json:"namespace"`
	// Labels stay raw: decoding a dozen strings per endpoint only to look
	// for two of them was a third of the allocations.
	Labels      json.RawMessage `json:"labels"`
	PodName     string          `json:"pod_name"`
	ClusterName string          `json:"cluster_name"`
	Workloads   []struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	} `json:"workloads"`
}

func (e *endpoint) world() bool {
	if e == nil || e.PodName != "" {
		return false // a pod is never the world, whatever identity the proxy saw
	}
	if e.Identity == worldIdentity {
		return true
	}
	return bytes.Contains(e.Labels, []byte(`"reserved:world"`)) || bytes.Contains(e.Labels, []byte(`"reserved:world-`))
}

// label returns the rest of the first label that starts with prefix, from
// the raw JSON array; "" when there is none or it holds escapes.
func (e *endpoint) label(prefix string) string {
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

func (e *endpoint) cluster() string {
	if e.ClusterName != "" {
		return e.ClusterName
	}
	return e.label("k8s:io.cilium.k8s.policy.cluster=")
}

// name is "namespace/pod", a reserved label, or "".
func (e *endpoint) name() string {
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
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	p.r = record{}
	if err := json.Unmarshal(rec.Data, &p.r); err != nil {
		return nil, fmt.Errorf("not a Hubble flow: %s", source.JSONReason(err))
	}
	f := &p.r.flow
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
		var pt *ports
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
		s.Title = f.Verdict + " " + endpointOr(src.name(), s.Attrs["src_ip"]) + " -> " + endpointOr(dst.name(), s.Attrs["dst_ip"])
	}
	return []signal.Signal{s}, nil
}

func endpointOr(name, ip string) string {
	if name != "" {
		return name
	}
	if ip != "" {
		return ip
	}
	return "?"
}
