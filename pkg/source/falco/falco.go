// Package falco reads Falco's JSON output (one alert per line, as written by
// json_output: true) and the Falcosidekick webhook body, which has the same
// shape plus a uuid. Falco's metrics snapshots ("Falco internal: metrics
// snapshot") become heartbeat Signals: they prove Falco is alive while it has
// nothing to report.
//
// Field mapping (docs/sources.md has the full table):
//
//	time                          -> Signal.Time (RFC 3339, nanoseconds kept);
//	                                 output_fields["evt.time"] (integer ns) when absent
//	priority                      -> severity_id: Debug/Informational 1, Notice 2,
//	                                 Warning 3, Error 4, Critical 5, Alert/Emergency 6
//	                                 (Falcosidekick's own OCSF mapping)
//	rule, output                  -> Rule, Title
//	hostname                      -> Asset.Node (syscall source)
//	k8s.ns.name, k8s.pod.name     -> Asset.Namespace, Asset.Pod
//	container.*                   -> Asset.Container, ContainerID, Image, ImageDigest
//	ka.target.*                   -> Asset.Namespace, Asset.Resource (k8s_audit source)
package falco

import (
	"cmp"
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
	Type:      "falco",
	Product:   "Falco",
	Summary:   "Falco JSON alerts (file lines) and Falcosidekick webhook bodies",
	AlertOnly: true,
	New:       func() source.Parser { return &Parser{} },
}

// MetricsRule is the rule name of Falco's periodic metrics snapshot.
const MetricsRule = "Falco internal: metrics snapshot"

// Parser parses Falco alerts. The zero value is ready to use. It reuses its
// buffers: not safe for concurrent use.
type Parser struct {
	sc     source.JSONScanner
	tags   []string
	wire   wireAlert
	text   source.StringArena
	sigs   source.SignalBlocks
	joined map[string]string // see joinTags
	cat    catCache
}

// catCache remembers recent concatenations (images as repository:tag,
// resource/name, ip:port repeat from alert to alert): direct-mapped by a
// hash of the parts, 64 entries.
type catCache [64]struct{ a, sep, b, ab string }

// join is a + sep + b, from the cache when it can.
func (c *catCache) join(a, sep, b string) string {
	h := uint32(2166136261) // FNV-1a over both parts
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * 16777619
	}
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * 16777619
	}
	e := &c[h%uint32(len(c))]
	if e.ab == "" || e.a != a || e.b != b || e.sep != sep {
		e.a, e.sep, e.b, e.ab = a, sep, b, a+sep+b
	}
	return e.ab
}

// alert is a decoded record. Its strings may be substrings of the record's
// text (see scan): they live as long as the Signals made from them.
type alert struct {
	Time, Rule, Priority, Output, Source, Hostname, UUID string
	Tags                                                 []string
	tagsText                                             string // the tags array's JSON text, when scanned
	evtTime                                              string // output_fields["evt.time"] as JSON text
	f                                                    fields
}

// wireAlert is the record as encoding/json reads it: the reference decoding,
// used when the scanner gives up (and for every record that is not valid).
type wireAlert struct {
	Time         string                     `json:"time"`
	Rule         string                     `json:"rule"`
	Priority     string                     `json:"priority"`
	Output       string                     `json:"output"`
	Source       string                     `json:"source"`
	Hostname     string                     `json:"hostname"`
	Tags         []string                   `json:"tags"`
	UUID         string                     `json:"uuid"`
	OutputFields map[string]source.JSONText `json:"output_fields"`
}

// topNames are wireAlert's JSON names: a key that matches one of them only
// case-insensitively ("Rule") is decoded by encoding/json into that field,
// so the scanner leaves such records to it.
var topNames = [...]string{"time", "rule", "priority", "output", "source", "hostname", "tags", "uuid", "output_fields"}

var priorities = map[string]signal.Severity{
	"debug":         signal.SeverityInformational,
	"informational": signal.SeverityInformational,
	"info":          signal.SeverityInformational,
	"notice":        signal.SeverityLow,
	"warning":       signal.SeverityMedium,
	"error":         signal.SeverityHigh,
	"critical":      signal.SeverityCritical,
	"alert":         signal.SeverityFatal,
	"emergency":     signal.SeverityFatal,
}

// priority looks up a Falco priority in any case, as
// priorities[strings.ToLower(p)] does, without allocating for ASCII.
func priority(p string) (signal.Severity, bool) {
	var buf [16]byte
	if len(p) > len(buf) {
		sev, ok := priorities[strings.ToLower(p)]
		return sev, ok
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= utf8RuneSelf {
			sev, ok := priorities[strings.ToLower(p)]
			return sev, ok
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(p)]) {
	case "debug", "informational", "info":
		return signal.SeverityInformational, true
	case "notice":
		return signal.SeverityLow, true
	case "warning":
		return signal.SeverityMedium, true
	case "error":
		return signal.SeverityHigh, true
	case "critical":
		return signal.SeverityCritical, true
	case "alert", "emergency":
		return signal.SeverityFatal, true
	}
	return 0, false
}

const utf8RuneSelf = 0x80

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
	var a alert // on the stack: no write barriers while it is filled
	if !p.scan(p.text.String(rec.Data), &a) {
		if err := p.decode(rec.Data, &a); err != nil {
			return err
		}
	}
	return p.normalize(rec, &a, s)
}

// scan reads the record with the scanner into a, which is zero; false
// when it gave up (anything encoding/json might read differently, or
// reject).
func (p *Parser) scan(data string, a *alert) bool {
	sc := &p.sc
	sc.Reset(data)
	var seen uint16
	for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
		k := sc.Key()
		var bit uint16
		switch k {
		case "time":
			bit = 1 << 0
			a.Time, _ = sc.String()
		case "rule":
			bit = 1 << 1
			a.Rule, _ = sc.String()
		case "priority":
			bit = 1 << 2
			a.Priority, _ = sc.String()
		case "output":
			bit = 1 << 3
			a.Output, _ = sc.String()
		case "source":
			bit = 1 << 4
			a.Source, _ = sc.String()
		case "hostname":
			bit = 1 << 5
			a.Hostname, _ = sc.String()
		case "uuid":
			bit = 1 << 6
			a.UUID, _ = sc.String()
		case "tags":
			bit = 1 << 7
			if sc.Null() {
				break
			}
			p.tags = p.tags[:0]
			sc.Peek()
			start := sc.Offset()
			for ok := sc.ArrayStart(); ok; ok = sc.ArrayNext() {
				v, _ := sc.String() // null leaves the element ""
				p.tags = append(p.tags, v)
			}
			a.Tags = p.tags
			a.tagsText = data[start:sc.Offset()]
		case "output_fields":
			bit = 1 << 8
			if sc.Null() {
				break
			}
			// A map: keys match exactly, and a repeated key's last value wins.
			for ok := sc.ObjectStart(); ok; ok = sc.ObjectNext() {
				i := fieldIndex(sc.Key())
				switch {
				case i < 0:
					sc.Skip()
				case sc.Peek() == '"':
					start := sc.Offset()
					a.f[i], _ = sc.String() // a substring unless it has escapes
					if i == fEvtTime {
						a.evtTime = data[start:sc.Offset()]
					}
				default:
					raw := sc.Skip()
					a.f[i] = fieldText(raw)
					if i == fEvtTime {
						a.evtTime = raw
					}
				}
			}
		default:
			for _, n := range topNames {
				if strings.EqualFold(k, n) {
					sc.Fail()
				}
			}
			sc.Skip()
		}
		if seen&bit != 0 {
			sc.Fail() // encoding/json would merge or overwrite: leave it to it
		}
		seen |= bit
	}
	return sc.End()
}

// decode reads the record with encoding/json into a.
func (p *Parser) decode(data []byte, a *alert) error {
	p.wire = wireAlert{}
	w := &p.wire
	if err := json.Unmarshal(data, w); err != nil {
		return fmt.Errorf("not a Falco alert: %v", source.JSONReason(err))
	}
	*a = alert{Time: w.Time, Rule: w.Rule, Priority: w.Priority, Output: w.Output, Source: w.Source,
		Hostname: w.Hostname, UUID: w.UUID, Tags: w.Tags}
	for k, v := range w.OutputFields {
		if i := fieldIndex(k); i >= 0 {
			a.f[i] = fieldText(string(v))
			if i == fEvtTime {
				a.evtTime = string(v)
			}
		}
	}
	return nil
}

// normalize fills s from a.
func (p *Parser) normalize(rec source.Record, a *alert, s *signal.Signal) error {
	if a.Rule == "" {
		return errors.New(`missing field "rule"`)
	}
	f := &a.f
	t, err := alertTime(a.Time, a.evtTime)
	if err != nil {
		return err
	}
	s.ID = p.text.MakeID("falco", rec.Data)
	s.Time = t
	s.Product = "Falco"
	s.Rule = a.Rule
	s.Title = strings.TrimSpace(a.Output)
	s.Native = a.Priority
	if a.Rule == MetricsRule || a.Source == "internal" {
		s.Heartbeat = true
		s.ClassUID = signal.ClassApplicationLifecycle
		s.Severity = signal.SeverityInformational
		s.Score = s.Severity.Score()
		s.Asset.Node = cmp.Or(a.Hostname, f.str(fEvtHostname))
		s.SetAttr("falco.version", f.str(fFalcoVersion))
		return nil
	}
	if a.Priority == "" {
		return errors.New(`missing field "priority"`)
	}
	sev, ok := priority(a.Priority)
	if !ok {
		return fmt.Errorf("field \"priority\": unknown Falco priority %q", a.Priority)
	}
	s.Severity = sev
	s.Score = sev.Score()
	s.ClassUID = signal.ClassDetectionFinding
	s.Raw.ID = a.UUID

	s.Asset.Cluster = cmp.Or(f.str(fK8sClusterName), f.str(fCluster))
	s.Attrs = make(map[string]string, 8)
	if a.Source == "k8s_audit" || a.Source == "k8saudit" {
		// hostname is where Falco runs, not what the event is about.
		s.Asset.Namespace = f.str(fKaTargetNamespace)
		if r, n := f.str(fKaTargetResource), f.str(fKaTargetName); r != "" {
			s.Asset.Resource = p.cat.join(r, "/", n)
			if r == "pods" {
				s.Asset.Pod, s.Asset.Resource = n, ""
			}
		}
		s.SetAttr("user", f.str(fKaUserName))
		s.SetAttr("verb", f.str(fKaVerb))
		s.SetAttr("falco.hostname", a.Hostname)
	} else {
		s.Asset.Node = cmp.Or(a.Hostname, f.str(fEvtHostname))
		s.Asset.Namespace = f.str(fK8sNsName)
		s.Asset.Pod = f.str(fK8sPodName)
		s.Asset.Container = f.str(fContainerName)
		if id := cmp.Or(f.str(fContainerFullID), f.str(fContainerID)); id != "host" {
			s.Asset.ContainerID = id
		}
		if repo := f.str(fContainerImageRepository); repo != "" {
			s.Asset.Image = repo
			if tag := f.str(fContainerImageTag); tag != "" {
				s.Asset.Image = p.cat.join(repo, ":", tag)
			}
		}
		s.Asset.ImageDigest = f.str(fContainerImageDigest)
		s.SetAttr("process", f.str(fProcName))
		s.SetAttr("exe", f.str(fProcExepath))
		s.SetAttr("cmdline", f.str(fProcCmdline))
		s.SetAttr("user", f.str(fUserName))
		s.SetAttr("file", f.str(fFdName))
		if rip := f.str(fFdRip); rip != "" {
			s.SetAttr("remote", p.cat.join(rip, ":", f.str(fFdRport)))
		}
	}
	s.SetAttr("falco.source", a.Source)
	if len(a.Tags) > 0 {
		s.SetAttr("tags", p.joinTags(a))
	}
	if len(s.Attrs) == 0 {
		s.Attrs = nil // as SetAttr leaves a Signal without attributes
	}
	return nil
}

// joinTags is strings.Join(a.Tags, ","), remembered by the array's JSON
// text: a rule's tags repeat from alert to alert.
func (p *Parser) joinTags(a *alert) string {
	if a.tagsText == "" {
		return strings.Join(a.Tags, ",")
	}
	if j, ok := p.joined[a.tagsText]; ok {
		return j
	}
	if p.joined == nil || len(p.joined) >= 64 {
		p.joined = make(map[string]string, 64)
	}
	j := strings.Join(a.Tags, ",")
	p.joined[a.tagsText] = j
	return j
}

func alertTime(iso string, evtTime string) (time.Time, error) {
	if iso != "" {
		if t, ok := source.ParseTimeUTC(iso); ok {
			return t, nil // years 1..9999, not the zero time
		}
		t, err := time.Parse(time.RFC3339Nano, iso)
		if err != nil || t.IsZero() || t.UTC().Year() > 9999 {
			return time.Time{}, fmt.Errorf("field \"time\": %q is not an RFC 3339 time", iso)
		}
		return t.UTC(), nil
	}
	if len(evtTime) > 0 {
		// Nanoseconds since the epoch exceed 2^53: parse the digits, never a float.
		ns, err := strconv.ParseInt(strings.Trim(evtTime, `"`), 10, 64)
		if err != nil || ns <= 0 {
			return time.Time{}, fmt.Errorf("field \"output_fields.evt.time\": %s is not integer nanoseconds", evtTime)
		}
		return time.Unix(0, ns).UTC(), nil
	}
	return time.Time{}, errors.New(`missing field "time"`)
}

// The output fields the adapter reads, as indexes into fields.
const (
	fEvtTime = iota
	fEvtHostname
	fFalcoVersion
	fK8sClusterName
	fCluster
	fKaTargetNamespace
	fKaTargetResource
	fKaTargetName
	fKaUserName
	fKaVerb
	fK8sNsName
	fK8sPodName
	fContainerName
	fContainerFullID
	fContainerID
	fContainerImageRepository
	fContainerImageTag
	fContainerImageDigest
	fProcName
	fProcExepath
	fProcCmdline
	fUserName
	fFdName
	fFdRip
	fFdRport
	nFields
)

// fieldIndex is the index of a known output field, or -1.
func fieldIndex(k string) int {
	switch k {
	case "evt.time":
		return fEvtTime
	case "evt.hostname":
		return fEvtHostname
	case "falco.version":
		return fFalcoVersion
	case "k8s.cluster.name":
		return fK8sClusterName
	case "cluster":
		return fCluster
	case "ka.target.namespace":
		return fKaTargetNamespace
	case "ka.target.resource":
		return fKaTargetResource
	case "ka.target.name":
		return fKaTargetName
	case "ka.user.name":
		return fKaUserName
	case "ka.verb":
		return fKaVerb
	case "k8s.ns.name":
		return fK8sNsName
	case "k8s.pod.name":
		return fK8sPodName
	case "container.name":
		return fContainerName
	case "container.full_id":
		return fContainerFullID
	case "container.id":
		return fContainerID
	case "container.image.repository":
		return fContainerImageRepository
	case "container.image.tag":
		return fContainerImageTag
	case "container.image.digest":
		return fContainerImageDigest
	case "proc.name":
		return fProcName
	case "proc.exepath":
		return fProcExepath
	case "proc.cmdline":
		return fProcCmdline
	case "user.name":
		return fUserName
	case "fd.name":
		return fFdName
	case "fd.rip":
		return fFdRip
	case "fd.rport":
		return fFdRport
	}
	return -1
}

// fields holds the known output fields as text ("" when absent): see
// fieldText.
type fields [nFields]string

// str returns field i's text.
func (f *fields) str(i int) string { return f[i] }

// fieldText turns an output field's JSON value into its text: strings
// unquoted, numbers and booleans verbatim (no float conversion), null,
// arrays and objects "".
func fieldText(v string) string {
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal([]byte(v), &s) != nil {
			return ""
		}
		return s
	case 'n', '[', '{':
		return ""
	default:
		return v
	}
}
