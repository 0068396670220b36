// Package feature turns the signals that concern each target into a
// numeric feature vector over a time window, for the anomaly model. Names
// and order are stable: a model records them and refuses vectors of another
// schema. New features are only ever appended, so that the meaning of a
// column never changes.
//
// Vectors computes the vectors of a release's targets for the gate;
// Windows builds the training rows: every asset (node, pod, namespace)
// seen in a telemetry history, cut into fixed windows.
package feature

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Feature is one column of a vector: its name and what it counts.
type Feature struct {
	Name string
	Doc  string
}

// Features are the columns, in vector order, with what each one counts.
// docs/model.md shows them as a table; a test keeps the two in step.
var Features = []Feature{
	{"signals", "findings about the target in the window (heartbeats never count)"},
	{"severity_max", "highest OCSF severity_id among them, 1..6 (0 when none; Other does not count)"},
	{"findings_medium", "findings at severity medium (3)"},
	{"findings_high", "findings at severity high (4) or above"},
	{"distinct_rules", "distinct rule names"},
	{"distinct_processes", "distinct process names or binaries (attrs process, else binary, else exe)"},
	{"process_events", "OCSF 1007 Process Activity records (Tetragon exec)"},
	{"network_events", "OCSF 4001 Network Activity records (Hubble flows)"},
	{"api_events", "OCSF 6003 API Activity records (the Kubernetes audit log)"},
	{"exec_into_pod", "audit exec or attach into pods (subresource exec/attach, or a rule naming exec)"},
	// Appended in schema 2: everything above keeps its column.
	{"findings_low", "findings at severity informational (1) or low (2)"},
	{"alerts", "OCSF 2004 Detection Findings: Falco rules, Alertmanager alerts, EDR detections"},
	{"vulnerability_findings", "OCSF 2002 Vulnerability and 2003 Compliance Findings (Trivy, Security Hub)"},
	{"distinct_binaries", "distinct executable paths (attrs binary, else exe)"},
	{"new_binaries", "distinct executable paths never seen on the target before the window (its history and the baseline)"},
	{"outbound_connections", "connections the target opens: Network Activity that is not ingress and not a reply, and findings with a remote address"},
	{"distinct_destinations", "distinct destinations of those (peer name, else IP:port, else the remote address)"},
	{"egress_world", "flows from the target to outside the cluster (Hubble's egress to world)"},
	{"rbac_changes", "audit writes (create, update, patch, delete) to roles, rolebindings, clusterroles, clusterrolebindings"},
	{"metric_breaches", "Prometheus threshold breaches (Application Lifecycle records with a threshold)"},
	{"metric_excess_max", "largest value/threshold ratio among the breaches, capped at 1000 (0 when none)"},
}

// Names are the feature names, in vector order: the schema a model records.
var Names = names()

func names() []string {
	n := make([]string, len(Features))
	for i, f := range Features {
		n[i] = f.Name
	}
	return n
}

// Column indexes of the features, in the order of Features.
const (
	iSignals = iota
	iSeverityMax
	iMedium
	iHigh
	iRules
	iProcesses
	iProcessEvents
	iNetworkEvents
	iAPIEvents
	iExec
	iLow
	iAlerts
	iVulns
	iBinaries
	iNewBinaries
	iOutbound
	iDestinations
	iEgressWorld
	iRBAC
	iBreaches
	iExcess
	numFeatures
)

// SeverityMaxColumn is the column of severity_max, which Benign reads.
const SeverityMaxColumn = iSeverityMax

// Benign reports whether a vector holds no finding of severity high or
// above: the windows a promotion check compares models on.
func Benign(v []float64) bool {
	return len(v) > iSeverityMax && v[iSeverityMax] < float64(signal.SeverityHigh)
}

// Baseline lists, per target, executable paths known to be ordinary there,
// for new_binaries. Keys are Key values ("Pod/shop/api-1", "Node//n1");
// nil is an empty baseline.
type Baseline map[string]map[string]bool

// Add records bin as known on the target key.
func (b Baseline) Add(key, bin string) {
	if b[key] == nil {
		b[key] = map[string]bool{}
	}
	b[key][bin] = true
}

// Key is the baseline key of a target of kind Pod, Node or Namespace:
// "Kind/namespace/name".
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// TargetKey is Key for a correlate.Target (a Namespace target's namespace
// is its name).
func TargetKey(t correlate.Target) string {
	if t.Kind == "Namespace" {
		return Key(t.Kind, "", t.Name)
	}
	return Key(t.Kind, t.Namespace, t.Name)
}

// Vectors returns one vector per target (indexed like targets), counting
// the matched signals with now-window <= time <= now (a signal exactly a
// window old counts, as it does for the policy and the gate). A binary is
// new when neither the matched signals older than the window nor
// the baseline show it on that target.
func Vectors(targets []correlate.Target, sigs []signal.Signal, matches []correlate.Match, now time.Time, window time.Duration) [][]float64 {
	return VectorsBaseline(targets, sigs, matches, now, window, nil)
}

// VectorsBaseline is Vectors with a baseline of known binaries per target
// (see Baseline; nil is empty).
func VectorsBaseline(targets []correlate.Target, sigs []signal.Signal, matches []correlate.Match, now time.Time, window time.Duration, base Baseline) [][]float64 {
	out := make([][]float64, len(targets))
	accs := make([]*acc, len(targets))
	history := make([]map[string]bool, len(targets))
	for _, m := range matches {
		s := &sigs[m.Signal]
		if s.Heartbeat || !s.Time.Before(now.Add(-window)) {
			continue
		}
		if b := binary(s); b != "" {
			if history[m.Target] == nil {
				history[m.Target] = map[string]bool{}
			}
			history[m.Target][b] = true
		}
	}
	for i := range out {
		out[i] = make([]float64, numFeatures)
		var known map[string]bool
		if base != nil {
			known = base[TargetKey(targets[i])]
		}
		accs[i] = newAcc(out[i], history[i], known)
	}
	for _, m := range matches {
		s := &sigs[m.Signal]
		if s.Heartbeat || s.Time.After(now) || now.Sub(s.Time) > window {
			continue
		}
		accs[m.Target].add(s)
	}
	return out
}

// acc accumulates one target's vector over one window.
type acc struct {
	v                         []float64
	rules, procs, bins, dests map[string]bool
	newBins                   map[string]bool
	history, baseline         map[string]bool // binaries seen before; either may be nil
}

func newAcc(v []float64, history, baseline map[string]bool) *acc {
	return &acc{v: v, history: history, baseline: baseline}
}

// once adds 1 to v[i] the first time key is seen in *set.
func (a *acc) once(set *map[string]bool, key string, i int) {
	if key == "" {
		return
	}
	if *set == nil {
		*set = map[string]bool{}
	}
	if !(*set)[key] {
		(*set)[key] = true
		a.v[i]++
	}
}

func (a *acc) add(s *signal.Signal) {
	v := a.v
	v[iSignals]++
	if f := float64(s.Severity); s.Severity != signal.SeverityOther && f > v[iSeverityMax] {
		v[iSeverityMax] = f
	}
	switch {
	case s.Severity == signal.SeverityInformational || s.Severity == signal.SeverityLow:
		v[iLow]++
	case s.Severity == signal.SeverityMedium:
		v[iMedium]++
	case s.Severity.AtLeast(signal.SeverityHigh):
		v[iHigh]++
	}
	a.once(&a.rules, s.Rule, iRules)
	a.once(&a.procs, cmp.Or(s.Attrs["process"], s.Attrs["binary"], s.Attrs["exe"]), iProcesses)
	if b := binary(s); b != "" {
		a.once(&a.bins, b, iBinaries)
		if !a.history[b] && !a.baseline[b] {
			a.once(&a.newBins, b, iNewBinaries)
		}
	}
	switch s.ClassUID {
	case signal.ClassProcessActivity:
		v[iProcessEvents]++
	case signal.ClassNetworkActivity:
		v[iNetworkEvents]++
	case signal.ClassAPIActivity:
		v[iAPIEvents]++
		if sub := s.Attrs["subresource"]; sub == "exec" || sub == "attach" || strings.Contains(strings.ToLower(s.Rule), "exec") {
			v[iExec]++
		}
		if rbacWrite(s) {
			v[iRBAC]++
		}
	case signal.ClassDetectionFinding:
		v[iAlerts]++
	case signal.ClassVulnerabilityFinding, signal.ClassComplianceFinding:
		v[iVulns]++
	case signal.ClassApplicationLifecycle:
		if th, ok := s.Attrs["threshold"]; ok {
			v[iBreaches]++
			if r := excess(s.Attrs["value"], th); r > v[iExcess] {
				v[iExcess] = r
			}
		}
	}
	if dest, ok := outbound(s); ok {
		v[iOutbound]++
		a.once(&a.dests, dest, iDestinations)
	}
	if s.Attrs["egress_world"] == "true" {
		v[iEgressWorld]++
	}
}

// binary is the executable path a signal names, if any.
func binary(s *signal.Signal) string { return cmp.Or(s.Attrs["binary"], s.Attrs["exe"]) }

// outbound reports whether s is a connection the asset opens, and its
// destination ("" when unknown).
func outbound(s *signal.Signal) (string, bool) {
	if s.ClassUID == signal.ClassNetworkActivity {
		if s.Attrs["reply"] == "true" {
			return "", false
		}
		switch s.Attrs["direction"] {
		case "INGRESS":
			return "", false
		case "EGRESS":
		default:
			// No direction: outbound only when the asset is the source.
			if src := s.Attrs["src"]; src == "" || src != s.Asset.Namespace+"/"+s.Asset.Pod {
				return "", false
			}
		}
		dst := s.Attrs["dst"]
		if dst == "" && s.Attrs["dst_ip"] != "" {
			dst = s.Attrs["dst_ip"] + ":" + s.Attrs["dst_port"]
		}
		return dst, true
	}
	if r := s.Attrs["remote"]; r != "" {
		return r, true
	}
	return "", false
}

var rbacResources = map[string]bool{"roles": true, "rolebindings": true, "clusterroles": true, "clusterrolebindings": true}

var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

func rbacWrite(s *signal.Signal) bool {
	return rbacResources[s.Attrs["resource"]] && writeVerbs[s.Attrs["verb"]] && s.Attrs["decision"] != "forbid"
}

// maxExcess caps metric_excess_max, so that a threshold near zero cannot
// make one column dwarf every other.
const maxExcess = 1000

// excess is value/threshold for a breach, 1 when the ratio means nothing
// (a zero, negative or unreadable threshold or value), capped at maxExcess.
func excess(value, threshold string) float64 {
	v, err1 := strconv.ParseFloat(value, 64)
	t, err2 := strconv.ParseFloat(threshold, 64)
	if err1 != nil || err2 != nil || !(t > 0) || !(v > 0) || math.IsInf(v, 0) || math.IsInf(t, 0) {
		return 1
	}
	return math.Min(v/t, maxExcess)
}
