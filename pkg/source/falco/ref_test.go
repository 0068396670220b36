package falco

// The adapter as it was before the scanner (commit 69fdfb8), verbatim but
// for names: the oracle that the fuzz target compares Parse with.

import (
	"bytes"
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

type refParser struct {
	a refAlert
}

type refAlert struct {
	Time         string                     `json:"time"`
	Rule         string                     `json:"rule"`
	Priority     string                     `json:"priority"`
	Output       string                     `json:"output"`
	Source       string                     `json:"source"`
	Hostname     string                     `json:"hostname"`
	Tags         []string                   `json:"tags"`
	UUID         string                     `json:"uuid"`
	OutputFields map[string]json.RawMessage `json:"output_fields"`
}

var refPriorities = map[string]signal.Severity{
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

// Parse implements source.Parser.
func (p *refParser) Parse(rec source.Record) ([]signal.Signal, error) {
	p.a = refAlert{}
	a := &p.a
	if err := json.Unmarshal(rec.Data, a); err != nil {
		return nil, fmt.Errorf("not a Falco alert: %v", source.JSONReason(err))
	}
	if a.Rule == "" {
		return nil, errors.New(`missing field "rule"`)
	}
	f := refFields(a.OutputFields)
	t, err := refAlertTime(a.Time, f.raw("evt.time"))
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:      signal.MakeID("falco", rec.Data),
		Time:    t,
		Product: "Falco",
		Rule:    a.Rule,
		Title:   strings.TrimSpace(a.Output),
		Native:  a.Priority,
	}
	if a.Rule == MetricsRule || a.Source == "internal" {
		s.Heartbeat = true
		s.ClassUID = signal.ClassApplicationLifecycle
		s.Severity = signal.SeverityInformational
		s.Score = s.Severity.Score()
		s.Asset.Node = cmp.Or(a.Hostname, f.str("evt.hostname"))
		s.SetAttr("falco.version", f.str("falco.version"))
		return []signal.Signal{s}, nil
	}
	if a.Priority == "" {
		return nil, errors.New(`missing field "priority"`)
	}
	sev, ok := refPriorities[strings.ToLower(a.Priority)]
	if !ok {
		return nil, fmt.Errorf("field \"priority\": unknown Falco priority %q", a.Priority)
	}
	s.Severity = sev
	s.Score = sev.Score()
	s.ClassUID = signal.ClassDetectionFinding
	s.Raw.ID = a.UUID

	s.Asset.Cluster = cmp.Or(f.str("k8s.cluster.name"), f.str("cluster"))
	if a.Source == "k8s_audit" || a.Source == "k8saudit" {
		// hostname is where Falco runs, not what the event is about.
		s.Asset.Namespace = f.str("ka.target.namespace")
		if r, n := f.str("ka.target.resource"), f.str("ka.target.name"); r != "" {
			s.Asset.Resource = r + "/" + n
			if r == "pods" {
				s.Asset.Pod, s.Asset.Resource = n, ""
			}
		}
		s.SetAttr("user", f.str("ka.user.name"))
		s.SetAttr("verb", f.str("ka.verb"))
		s.SetAttr("falco.hostname", a.Hostname)
	} else {
		s.Asset.Node = cmp.Or(a.Hostname, f.str("evt.hostname"))
		s.Asset.Namespace = f.str("k8s.ns.name")
		s.Asset.Pod = f.str("k8s.pod.name")
		s.Asset.Container = f.str("container.name")
		if id := cmp.Or(f.str("container.full_id"), f.str("container.id")); id != "host" {
			s.Asset.ContainerID = id
		}
		if repo := f.str("container.image.repository"); repo != "" {
			s.Asset.Image = repo
			if tag := f.str("container.image.tag"); tag != "" {
				s.Asset.Image += ":" + tag
			}
		}
		s.Asset.ImageDigest = f.str("container.image.digest")
		s.SetAttr("process", f.str("proc.name"))
		s.SetAttr("exe", f.str("proc.exepath"))
		s.SetAttr("cmdline", f.str("proc.cmdline"))
		s.SetAttr("user", f.str("user.name"))
		s.SetAttr("file", f.str("fd.name"))
		if rip := f.str("fd.rip"); rip != "" {
			s.SetAttr("remote", rip+":"+f.str("fd.rport"))
		}
	}
	s.SetAttr("falco.source", a.Source)
	if len(a.Tags) > 0 {
		s.SetAttr("tags", strings.Join(a.Tags, ","))
	}
	return []signal.Signal{s}, nil
}

func refAlertTime(iso string, evtTime json.RawMessage) (time.Time, error) {
	if iso != "" {
		t, err := time.Parse(time.RFC3339Nano, iso)
		if err != nil || t.IsZero() || t.UTC().Year() > 9999 {
			return time.Time{}, fmt.Errorf("field \"time\": %q is not an RFC 3339 time", iso)
		}
		return t.UTC(), nil
	}
	if len(evtTime) > 0 {
		// Nanoseconds since the epoch exceed 2^53: parse the digits, never a float.
		ns, err := strconv.ParseInt(string(bytes.Trim(evtTime, `"`)), 10, 64)
		if err != nil || ns <= 0 {
			return time.Time{}, fmt.Errorf("field \"output_fields.evt.time\": %s is not integer nanoseconds", evtTime)
		}
		return time.Unix(0, ns).UTC(), nil
	}
	return time.Time{}, errors.New(`missing field "time"`)
}

type refFields map[string]json.RawMessage

func (f refFields) raw(k string) json.RawMessage { return f[k] }

// str returns a field's value as text: strings unquoted, numbers and
// booleans verbatim (no float conversion), null and arrays as "".
func (f refFields) str(k string) string {
	v := f[k]
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return ""
		}
		return s
	case 'n', '[', '{':
		return ""
	default:
		return string(v)
	}
}
