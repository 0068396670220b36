// Package signal defines the normalized observation that every stage of
// pulsegate exchanges: a Signal about an Asset, with an OCSF-aligned class
// and severity. It is the leaf of the dependency graph and imports only the
// standard library.
package signal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// OCSF class_uid values that pulsegate produces (OCSF 1.1 and later).
const (
	ClassProcessActivity      = 1007
	ClassVulnerabilityFinding = 2002
	ClassComplianceFinding    = 2003
	ClassDetectionFinding     = 2004
	ClassNetworkActivity      = 4001
	ClassAPIActivity          = 6003
	ClassApplicationLifecycle = 6002 // used for source heartbeats
	ClassUnknown              = 0
)

// Severity is the OCSF severity_id: 0 Unknown, 1 Informational, 2 Low,
// 3 Medium, 4 High, 5 Critical, 6 Fatal, 99 Other.
type Severity uint8

// OCSF severity_id values.
const (
	SeverityUnknown       Severity = 0
	SeverityInformational Severity = 1
	SeverityLow           Severity = 2
	SeverityMedium        Severity = 3
	SeverityHigh          Severity = 4
	SeverityCritical      Severity = 5
	SeverityFatal         Severity = 6
	SeverityOther         Severity = 99
)

var severityNames = map[Severity]string{
	SeverityUnknown:       "unknown",
	SeverityInformational: "informational",
	SeverityLow:           "low",
	SeverityMedium:        "medium",
	SeverityHigh:          "high",
	SeverityCritical:      "critical",
	SeverityFatal:         "fatal",
	SeverityOther:         "other",
}

// String returns the lower-case OCSF caption of s ("high", "critical").
func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// ParseSeverity reads an OCSF caption ("High") or a number ("4").
func ParseSeverity(v string) (Severity, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	for s, n := range severityNames {
		if n == v {
			return s, nil
		}
	}
	if n, err := strconv.Atoi(v); err == nil {
		s := Severity(n)
		if _, ok := severityNames[s]; ok && n >= 0 && n <= 99 {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want informational, low, medium, high, critical, fatal or 0..6)", v)
}

// Score maps s onto 0..1 for weighting: Informational 0.05, Low 0.2,
// Medium 0.45, High 0.75, Critical 0.95, Fatal 1. Unknown and Other are 0.1.
func (s Severity) Score() float64 {
	switch s {
	case SeverityInformational:
		return 0.05
	case SeverityLow:
		return 0.2
	case SeverityMedium:
		return 0.45
	case SeverityHigh:
		return 0.75
	case SeverityCritical:
		return 0.95
	case SeverityFatal:
		return 1
	default:
		return 0.1
	}
}

// AtLeast reports whether s is a known severity at or above min. Unknown and
// Other never reach a threshold.
func (s Severity) AtLeast(min Severity) bool {
	if s == SeverityUnknown || s == SeverityOther {
		return false
	}
	return s >= min
}

// Asset identifies what a Signal is about. Empty fields are unknown. A
// Kubernetes asset is identified by Cluster, Namespace and Pod (or Node for a
// host); a cloud asset by CloudResource.
type Asset struct {
	Cluster       string `json:"cluster,omitempty"`
	Node          string `json:"node,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	WorkloadKind  string `json:"workload_kind,omitempty"`
	Workload      string `json:"workload,omitempty"`
	Pod           string `json:"pod,omitempty"`
	Container     string `json:"container,omitempty"`
	ContainerID   string `json:"container_id,omitempty"`
	Image         string `json:"image,omitempty"`
	ImageDigest   string `json:"image_digest,omitempty"`
	CloudResource string `json:"cloud_resource,omitempty"`
	// Resource names a Kubernetes object that is neither a pod nor a node,
	// as "resource/name" (for example "secrets/db-password").
	Resource string `json:"resource,omitempty"`
}

// IsZero reports whether a carries no identity at all.
func (a Asset) IsZero() bool { return a == Asset{} }

// String is a short human form: "pod payments/api-7d9 on node-3".
func (a Asset) String() string {
	var parts []string
	switch {
	case a.Pod != "":
		parts = append(parts, "pod "+join(a.Namespace, a.Pod))
		if a.Node != "" {
			parts = append(parts, "on node "+a.Node)
		}
	case a.Workload != "":
		kind := strings.ToLower(a.WorkloadKind)
		if kind == "" {
			kind = "workload"
		}
		parts = append(parts, kind+" "+join(a.Namespace, a.Workload))
	case a.Resource != "":
		parts = append(parts, join(a.Namespace, a.Resource))
	case a.Node != "":
		parts = append(parts, "node "+a.Node)
	case a.Namespace != "":
		parts = append(parts, "namespace "+a.Namespace)
	case a.CloudResource != "":
		parts = append(parts, a.CloudResource)
	case a.Image != "":
		parts = append(parts, "image "+a.Image)
	default:
		return "unknown asset"
	}
	if a.Cluster != "" {
		parts = append(parts, "in cluster "+a.Cluster)
	}
	return strings.Join(parts, " ")
}

func join(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// SourceRef names the configured source a Signal came from.
type SourceRef struct {
	Name string `json:"name"` // configured instance name, e.g. "falco-prod"
	Type string `json:"type"` // adapter type, e.g. "falco"
}

// RawRef points back at the raw record a Signal was made from.
type RawRef struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"` // 1-based; 0 when not line oriented
	ID   string `json:"id,omitempty"`   // the record's own id, when it has one
}

// MaxAttrs bounds Attrs; MaxAttrLen bounds each value in bytes.
const (
	MaxAttrs   = 24
	MaxAttrLen = 512
)

// Signal is one normalized observation.
type Signal struct {
	// ID is stable for the same raw record: see MakeID.
	ID     string    `json:"id"`
	Time   time.Time `json:"-"`
	Source SourceRef `json:"source"`
	// Product is the OCSF metadata.product.name ("Falco", "Tetragon").
	Product  string   `json:"product,omitempty"`
	ClassUID int      `json:"class_uid"`
	Severity Severity `json:"severity_id"`
	// Score is the severity on 0..1 (see Severity.Score, or the source's
	// own finer scale when it has one).
	Score float64 `json:"severity_score"`
	// Native is the source's own severity value ("Critical", "8.1").
	Native string `json:"severity_native,omitempty"`
	// Heartbeat marks a record that only proves the source is alive (a
	// Falco metrics snapshot); it never counts as a finding.
	Heartbeat bool              `json:"heartbeat,omitempty"`
	Asset     Asset             `json:"asset"`
	Rule      string            `json:"rule,omitempty"`
	Title     string            `json:"title,omitempty"`
	CVEs      []string          `json:"cves,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	Raw       RawRef            `json:"raw"`
}

type wire Signal

type wireSignal struct {
	TimeMS int64  `json:"time"`
	TimeDT string `json:"time_dt"`
	*wire
}

// MarshalJSON writes time as OCSF milliseconds ("time") and as RFC 3339 with
// full precision ("time_dt").
func (s Signal) MarshalJSON() ([]byte, error) {
	w := wireSignal{wire: (*wire)(&s)}
	if !s.Time.IsZero() {
		w.TimeMS = s.Time.UnixMilli()
		// RFC 3339 has four-digit years; beyond them (a source's bad
		// clock) only "time" is written, or the JSON would not read back.
		if y := s.Time.UTC().Year(); y >= 0 && y <= 9999 {
			w.TimeDT = s.Time.UTC().Format(time.RFC3339Nano)
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes; time_dt wins over time.
func (s *Signal) UnmarshalJSON(b []byte) error {
	w := wireSignal{wire: (*wire)(s)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	switch {
	case w.TimeDT != "":
		t, err := time.Parse(time.RFC3339Nano, w.TimeDT)
		if err != nil {
			return fmt.Errorf("time_dt: %w", err)
		}
		s.Time = t
	case w.TimeMS != 0:
		s.Time = time.UnixMilli(w.TimeMS).UTC()
	}
	return nil
}

// SetAttr adds k=v to s.Attrs within the bounds MaxAttrs and MaxAttrLen.
// Empty values are skipped. It reports whether the attribute was kept.
func (s *Signal) SetAttr(k, v string) bool {
	if v == "" {
		return false
	}
	if s.Attrs == nil {
		s.Attrs = make(map[string]string, 8)
	}
	if len(s.Attrs) >= MaxAttrs { // full: only a key already there may change
		if _, ok := s.Attrs[k]; !ok {
			return false
		}
	}
	if len(v) > MaxAttrLen {
		n := MaxAttrLen
		for n > 0 && !utf8.RuneStart(v[n]) {
			n-- // do not split a UTF-8 sequence
		}
		v = v[:n]
	}
	s.Attrs[k] = v
	return true
}

// MakeID derives a stable id from the source type and the raw record bytes,
// so that the same record read twice gives the same id.
func MakeID(sourceType string, raw []byte) string {
	// The digest, the sum and the hex stay on the stack (the compiler
	// devirtualizes sha256.New here): the id string is the only allocation.
	h := sha256.New()
	h.Write([]byte(sourceType))
	h.Write([]byte{0})
	h.Write(raw)
	var sum [sha256.Size]byte
	var id [24]byte
	hex.Encode(id[:], h.Sum(sum[:0])[:12])
	return string(id[:])
}

// Finding reports whether s is something to act on: not a heartbeat.
func (s Signal) Finding() bool { return !s.Heartbeat }
