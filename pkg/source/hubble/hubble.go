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
	wire  record // what encoding/json decodes into when the scanner gives up
	sc    source.JSONScanner
	inner flow
	parts [2]flowParts // of the top-level flow fields and of "flow"
	text  source.StringArena
	sigs  source.SignalBlocks
	nums  numCache
	names nameCache
}

// nameCache remembers recent endpoint names ("namespace/pod" repeats from
// flow to flow): direct-mapped by a hash of the pod, 64 entries.
type nameCache [64]struct{ ns, pod, name string }

// name is e.name(), from the cache when it can.
func (c *nameCache) name(e *endpoint) string {
	if e == nil || e.PodName == "" {
		return e.name()
	}
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(e.PodName); i++ {
		h = (h ^ uint32(e.PodName[i])) * 16777619
	}
	c0 := &c[h%uint32(len(c))]
	if c0.name == "" || c0.pod != e.PodName || c0.ns != e.Namespace {
		c0.ns, c0.pod, c0.name = e.Namespace, e.PodName, e.name()
	}
	return c0.name
}

// numCache remembers the decimal text of recent numbers (ports and
// identities repeat from flow to flow): direct-mapped, 256 entries.
type numCache [256]struct {
	n  int64
	s  string
	ok bool
}

// itoa is strconv.FormatInt(n, 10), from the cache when it can.
func (c *numCache) itoa(n int64) string {
	e := &c[uint64(n)%uint64(len(c))]
	if !e.ok || e.n != n {
		e.n, e.s, e.ok = n, strconv.FormatInt(n, 10), true
	}
	return e.s
}

// flowParts holds what the scanner decodes a flow's pointers and slices
// into, reused from record to record.
type flowParts struct {
	ip             ipInfo
	l4             l4Info
	tcp, udp, sctp ports
	src, dst       endpoint
	srcWl, dstWl   []workload
	l7             l7Info
	dns            dnsInfo
	http           httpInfo
	reply          bool
	et             eventType
	names          []string
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

// The JSON names of each struct: a key that matches one only
// case-insensitively is decoded by encoding/json into that field, so the
// scanner leaves such records to it.
var (
	flowNames = []string{"time", "node_name", "verdict", "drop_reason_desc", "IP", "l4", "source", "destination",
		"Type", "l7", "traffic_direction", "is_reply", "Summary", "destination_names", "event_type"}
	recordNames   = append([]string{"flow"}, flowNames...)
	eventNames    = []string{"type"}
	ipNames       = []string{"source", "destination"}
	portNames     = []string{"source_port", "destination_port"}
	l4Names       = []string{"TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"}
	l7Names       = []string{"type", "dns", "http"}
	dnsNames      = []string{"query"}
	httpNames     = []string{"method", "url", "code"}
	endpointNames = []string{"identity", "namespace", "labels", "pod_name", "cluster_name", "workloads"}
	workloadNames = []string{"name", "kind"}
)

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
	ICMPv4 source.JSONText `json:"ICMPv4"` // "" when absent
	ICMPv6 source.JSONText `json:"ICMPv6"`
}

type l7Info struct {
	Type string    `json:"type"`
	DNS  *dnsInfo  `json:"dns"`
	HTTP *httpInfo `json:"http"`
}

type dnsInfo struct {
	Query string `json:"query"`
}

type httpInfo struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Code   int    `json:"code"`
}

type workload struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type endpoint struct {
	Identity  int64  `json:"identity"`
	Namespace string `json:"namespace"`
	// Labels stay raw: decoding a dozen strings per endpoint only to look
	// for two of them was a third of the allocations.
	Labels      source.JSONText `json:"labels"`
	PodName     string          `json:"pod_name"`
	ClusterName string          `json:"cluster_name"`
	Workloads   []workload      `json:"workloads"`
}

func (e *endpoint) world() bool {
	if e == nil || e.PodName != "" {
		return false // a pod is never the world, whatever identity the proxy saw
	}
	if e.Identity == worldIdentity {
		return true
	}
	l := string(e.Labels)
	return strings.Contains(l, `"reserved:world"`) || strings.Contains(l, `"reserved:world-`)
}

// label returns the rest of the first label that starts with prefix, from
// the raw JSON array; "" when there is none or it holds escapes. quoted is
// prefix with the opening quote: `"` + prefix.
func (e *endpoint) label(quoted string) string {
	l := e.fullLabel(quoted)
	if l == "" {
		return ""
	}
	return l[len(quoted)-1:]
}

// fullLabel is label with the prefix: the whole label, cut from the raw
// array.
func (e *endpoint) fullLabel(quoted string) string {
	l := string(e.Labels)
	i := strings.Index(l, quoted)
	if i < 0 {
		return ""
	}
	rest := l[i+len(quoted):]
	j := strings.IndexByte(rest, '"')
	if j <= 0 || strings.IndexByte(rest[:j], '\\') >= 0 {
		return ""
	}
	return l[i+1 : i+len(quoted)+j]
}

func (e *endpoint) cluster() string {
	if e.ClusterName != "" {
		return e.ClusterName
	}
	return e.label(`"k8s:io.cilium.k8s.policy.cluster=`)
}

// name is "namespace/pod", a reserved label, or "".
func (e *endpoint) name() string {
	if e == nil {
		return ""
	}
	if e.PodName != "" {
		return e.Namespace + "/" + e.PodName
	}
	return e.fullLabel(`"reserved:`) // "reserved:host", without a copy
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	if err := p.parse(rec, p.sigs.Next()); err != nil {
		return nil, err
	}
	return p.sigs.Take(), nil
}

// AppendParse implements source.Appender: Parse, with the Signal built in
// place at the end of dst.
func (p *Parser) AppendParse(dst []signal.Signal, rec source.Record) ([]signal.Signal, error) {
	dst = append(dst, signal.Signal{})
	if err := p.parse(rec, &dst[len(dst)-1]); err != nil {
		return dst[:len(dst)-1], err
	}
	return dst, nil
}

// parse reads rec into s, which is zero.
func (p *Parser) parse(rec source.Record, s *signal.Signal) error {
	// The record's text, copied once: the Signal's strings are cut from it.
	var r record // on the stack: no write barriers while it is filled
	if !p.scan(p.text.String(rec.Data), &r) {
		p.wire = record{}
		if err := json.Unmarshal(rec.Data, &p.wire); err != nil {
			return fmt.Errorf("not a Hubble flow: %s", source.JSONReason(err))
		}
		r = p.wire
	}
	return p.normalize(rec, &r, s)
}

// scan reads the record with the scanner into r, which is zero; false when it gave up
// (anything encoding/json might read differently, or reject).
func (p *Parser) scan(data string, r *record) bool {
	sc := &p.sc
	sc.Reset(data)
	p.scanFlow(&r.flow, &p.parts[0], r)
	return sc.End()
}

// scanFlow reads a flow object into f, its parts into fp; top is the
// record when f is its embedded flow (then "flow" is a field too).
func (p *Parser) scanFlow(f *flow, fp *flowParts, top *record) {
	sc := &p.sc
	var seen uint32
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		k := sc.Key()
		var bit uint32
		switch k {
		case "time":
			bit = 1 << 0
			f.Time, _ = sc.String()
		case "node_name":
			bit = 1 << 1
			f.NodeName, _ = sc.String()
		case "verdict":
			bit = 1 << 2
			f.Verdict, _ = sc.String()
		case "drop_reason_desc":
			bit = 1 << 3
			f.DropReasonDesc, _ = sc.String()
		case "Type":
			bit = 1 << 4
			f.Type, _ = sc.String()
		case "traffic_direction":
			bit = 1 << 5
			f.Direction, _ = sc.String()
		case "Summary":
			bit = 1 << 6
			f.Summary, _ = sc.String()
		case "IP":
			bit = 1 << 7
			if !sc.Null() {
				fp.ip = ipInfo{}
				f.IP = &fp.ip
				p.scanIP(f.IP)
			}
		case "l4":
			bit = 1 << 8
			if !sc.Null() {
				fp.l4 = l4Info{}
				f.L4 = &fp.l4
				p.scanL4(f.L4, fp)
			}
		case "source":
			bit = 1 << 9
			if !sc.Null() {
				fp.src = endpoint{}
				f.Source = &fp.src
				p.scanEndpoint(f.Source, &fp.srcWl)
			}
		case "destination":
			bit = 1 << 10
			if !sc.Null() {
				fp.dst = endpoint{}
				f.Destination = &fp.dst
				p.scanEndpoint(f.Destination, &fp.dstWl)
			}
		case "l7":
			bit = 1 << 11
			if !sc.Null() {
				fp.l7 = l7Info{}
				f.L7 = &fp.l7
				p.scanL7(f.L7, fp)
			}
		case "is_reply":
			bit = 1 << 12
			if v, ok := sc.Bool(); ok {
				fp.reply = v
				f.IsReply = &fp.reply
			}
		case "destination_names":
			bit = 1 << 13
			if !sc.Null() {
				fp.names = fp.names[:0]
				for ok := sc.ArrayStart(); ok; ok = sc.ArrayNext() {
					v, _ := sc.String() // null leaves the element ""
					fp.names = append(fp.names, v)
				}
				f.DestinationNames = fp.names
			}
		case "event_type":
			bit = 1 << 14
			if !sc.Null() {
				fp.et = eventType{}
				f.EventType = &fp.et
				for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
					switch k := sc.Key(); k {
					case "type":
						n, _ := sc.Int64()
						fp.et.Type = int(n)
					default:
						p.skip(k, eventNames)
					}
				}
			}
		case "flow":
			if top == nil {
				sc.Skip()
				break
			}
			bit = 1 << 15
			if !sc.Null() {
				p.inner = flow{}
				top.Flow = &p.inner
				p.scanFlow(top.Flow, &p.parts[1], nil)
			}
		default:
			if top != nil {
				p.skip(k, recordNames)
			} else {
				p.skip(k, flowNames)
			}
		}
		if seen&bit != 0 {
			sc.Fail() // encoding/json would merge or overwrite: leave it to it
		}
		seen |= bit
	}
}

// skip skips the value of an unknown key k, and fails the scan when k
// matches one of names case-insensitively.
func (p *Parser) skip(k string, names []string) {
	if source.FoldsToAny(k, names) {
		p.sc.Fail()
	}
	p.sc.Skip()
}

// int reads an integer into an int field.
func (p *Parser) int() int {
	n, _ := p.sc.Int64()
	return int(n)
}

func (p *Parser) scanIP(ip *ipInfo) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "source":
			bit = 1
			ip.Source, _ = sc.String()
		case "destination":
			bit = 2
			ip.Destination, _ = sc.String()
		default:
			p.skip(k, ipNames)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func (p *Parser) scanPorts(pt *ports) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "source_port":
			bit = 1
			pt.SourcePort = p.int()
		case "destination_port":
			bit = 2
			pt.DestinationPort = p.int()
		default:
			p.skip(k, portNames)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func (p *Parser) scanL4(l4 *l4Info, fp *flowParts) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "TCP":
			bit = 1
			if !sc.Null() {
				fp.tcp = ports{}
				l4.TCP = &fp.tcp
				p.scanPorts(l4.TCP)
			}
		case "UDP":
			bit = 2
			if !sc.Null() {
				fp.udp = ports{}
				l4.UDP = &fp.udp
				p.scanPorts(l4.UDP)
			}
		case "SCTP":
			bit = 4
			if !sc.Null() {
				fp.sctp = ports{}
				l4.SCTP = &fp.sctp
				p.scanPorts(l4.SCTP)
			}
		case "ICMPv4":
			bit = 8
			l4.ICMPv4 = source.JSONText(sc.Skip())
		case "ICMPv6":
			bit = 16
			l4.ICMPv6 = source.JSONText(sc.Skip())
		default:
			p.skip(k, l4Names)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func (p *Parser) scanL7(l7 *l7Info, fp *flowParts) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "type":
			bit = 1
			l7.Type, _ = sc.String()
		case "dns":
			bit = 2
			if !sc.Null() {
				fp.dns = dnsInfo{}
				l7.DNS = &fp.dns
				var seenQ bool
				for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
					switch k := sc.Key(); k {
					case "query":
						if seenQ {
							sc.Fail()
						}
						seenQ = true
						fp.dns.Query, _ = sc.String()
					default:
						p.skip(k, dnsNames)
					}
				}
			}
		case "http":
			bit = 4
			if !sc.Null() {
				fp.http = httpInfo{}
				l7.HTTP = &fp.http
				p.scanHTTP(l7.HTTP)
			}
		default:
			p.skip(k, l7Names)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func (p *Parser) scanHTTP(h *httpInfo) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "method":
			bit = 1
			h.Method, _ = sc.String()
		case "url":
			bit = 2
			h.URL, _ = sc.String()
		case "code":
			bit = 4
			h.Code = p.int()
		default:
			p.skip(k, httpNames)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func (p *Parser) scanEndpoint(e *endpoint, wl *[]workload) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "identity":
			bit = 1
			e.Identity, _ = sc.Int64()
		case "namespace":
			bit = 2
			e.Namespace, _ = sc.String()
		case "labels":
			bit = 4
			e.Labels = source.JSONText(sc.Skip())
		case "pod_name":
			bit = 8
			e.PodName, _ = sc.String()
		case "cluster_name":
			bit = 16
			e.ClusterName, _ = sc.String()
		case "workloads":
			bit = 32
			if sc.Null() {
				break
			}
			*wl = (*wl)[:0]
			for ok := sc.ArrayStart(); ok; ok = sc.ArrayNext() {
				var w workload
				if !sc.Null() { // null leaves the element zero
					p.scanWorkload(&w)
				}
				*wl = append(*wl, w)
			}
			e.Workloads = *wl
		default:
			p.skip(k, endpointNames)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func (p *Parser) scanWorkload(w *workload) {
	sc := &p.sc
	var seen uint8
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		var bit uint8
		switch k := sc.Key(); k {
		case "name":
			bit = 1
			w.Name, _ = sc.String()
		case "kind":
			bit = 2
			w.Kind, _ = sc.String()
		default:
			p.skip(k, workloadNames)
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

// normalize fills s from r.
func (p *Parser) normalize(rec source.Record, r *record, s *signal.Signal) error {
	f := &r.flow
	if r.Flow != nil {
		f = r.Flow
	}
	if f.Source == nil && f.Destination == nil && f.IP == nil {
		return errors.New(`not a Hubble flow: no "source", "destination" or "IP"`)
	}
	ts := f.Time
	field := "flow.time"
	if ts == "" {
		ts, field = r.Time, "time"
	}
	var t time.Time
	var err error
	if ts == "" {
		err = errors.New(`missing field "flow.time"`)
	} else if u, ok := source.ParseTimeUTC(ts); ok {
		t = u // years 1..9999, not the zero time: what ParseTime accepts
	} else {
		t, err = source.ParseTime(field, ts)
	}
	if err != nil {
		return err
	}
	node := f.NodeName
	if node == "" {
		node = r.NodeName
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
	s.ID = p.text.MakeID("hubble", rec.Data)
	s.Time = t
	s.Product = "Hubble"
	s.ClassUID = signal.ClassNetworkActivity
	s.Severity = signal.SeverityInformational
	s.Rule = "hubble: flow"
	s.Native = f.Verdict
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
		case l4.ICMPv4 != "":
			s.Attrs["protocol"] = "ICMPv4"
		case l4.ICMPv6 != "":
			s.Attrs["protocol"] = "ICMPv6"
		}
		if pt != nil {
			sport, dport = pt.SourcePort, pt.DestinationPort
			s.Attrs["src_port"] = p.nums.itoa(int64(sport))
			s.Attrs["dst_port"] = p.nums.itoa(int64(dport))
		}
	}
	srcName, dstName := p.names.name(src), p.names.name(dst)
	s.SetAttr("src", srcName)
	s.SetAttr("dst", dstName)
	if peer != nil {
		s.SetAttr("peer_identity", p.nums.itoa(peer.Identity))
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
		s.Title = f.Verdict + " " + endpointOr(srcName, s.Attrs["src_ip"]) + " -> " + endpointOr(dstName, s.Attrs["dst_ip"])
	}
	return nil
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
