// Package tetragon reads Tetragon's JSON export: one GetEventsResponse per
// line, in protojson with the proto field names (what `tetra getevents -o
// json` and the export file write). It reads process_exec, process_exit,
// process_kprobe, process_tracepoint, process_uprobe and process_lsm; every
// event becomes one OCSF Process Activity (1007) Signal. Other types are
// rejected with their name: the pre-1.0 process_connect, process_close and
// process_listen, and types that carry no observation of a process
// (process_loader, process_throttle, rate_limit_info, test).
//
// Field mapping (docs/sources.md has the full table):
//
//	time                          -> Signal.Time (nanoseconds kept; required)
//	node_name                     -> Asset.Node; else the node part of process.exec_id
//	                                 (base64 of "node:ktime:pid")
//	cluster_name                  -> Asset.Cluster
//	process.pod.namespace, .name  -> Asset.Namespace, Asset.Pod
//	process.pod.workload(_kind)   -> Asset.Workload, Asset.WorkloadKind
//	process.pod.container.id      -> Asset.ContainerID ("containerd://" and other
//	                                 runtime prefixes stripped)
//	process.pod.container.name    -> Asset.Container
//	...container.image.name       -> Asset.Image
//	...container.image.id         -> Asset.ImageDigest (the "sha256:..." after "@")
//	process.binary, .arguments    -> attrs binary, arguments (bounded)
//	parent.binary                 -> attr parent_binary
//	policy_name, function_name,
//	action, message, args         -> Rule (the policy), Title, attrs
//
// Tetragon events carry no severity, so this package assigns one:
//
//	process_exec, process_exit                            Informational
//	kprobe, tracepoint, uprobe or lsm without policy_name Informational
//	the same with a policy_name (a TracingPolicy matched) Medium
//	... whose action is SIGKILL, OVERRIDE or
//	    NOTIFYENFORCER (Tetragon enforced the policy)     High
//
// Severity.Native holds the action when there is one.
package tetragon

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Type is the adapter type name.
const Type = "tetragon"

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    Type,
	Product: "Tetragon",
	Summary: "Tetragon JSON export lines (process_exec, process_exit, process_kprobe, ...)",
	New:     func() source.Parser { return &Parser{} },
}

// Parser parses Tetragon events. The zero value is ready to use; a Parser
// is not safe for concurrent use.
type Parser struct {
	r response
}

// response is tetragon.GetEventsResponse, with the event types read here.
type response struct {
	ProcessExec       *event            `json:"process_exec"`
	ProcessExit       *event            `json:"process_exit"`
	ProcessKprobe     *event            `json:"process_kprobe"`
	ProcessTracepoint *event            `json:"process_tracepoint"`
	ProcessUprobe     *event            `json:"process_uprobe"`
	ProcessLsm        *event            `json:"process_lsm"`
	NodeName          string            `json:"node_name"`
	ClusterName       string            `json:"cluster_name"`
	Time              string            `json:"time"`
	NodeLabels        map[string]string `json:"node_labels"`
}

// event holds the fields of every event type read here; each type fills
// its own.
type event struct {
	Process *process `json:"process"`
	Parent  *process `json:"parent"`
	// process_exit
	Signal string          `json:"signal"`
	Status json.RawMessage `json:"status"`
	// process_kprobe, process_lsm, process_uprobe, process_tracepoint
	FunctionName string            `json:"function_name"`
	PolicyName   string            `json:"policy_name"`
	Action       string            `json:"action"`
	ReturnAction string            `json:"return_action"`
	Message      string            `json:"message"`
	Tags         []string          `json:"tags"`
	Args         []json.RawMessage `json:"args"`
	// process_tracepoint
	Subsys string `json:"subsys"`
	Event  string `json:"event"`
	// process_uprobe
	Path   string `json:"path"`
	Symbol string `json:"symbol"`
}

type process struct {
	ExecID    string          `json:"exec_id"`
	PID       json.RawMessage `json:"pid"`
	UID       json.RawMessage `json:"uid"`
	Cwd       string          `json:"cwd"`
	Binary    string          `json:"binary"`
	Arguments string          `json:"arguments"`
	Pod       *pod            `json:"pod"`
	Docker    string          `json:"docker"`
}

type pod struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Workload     string `json:"workload"`
	WorkloadKind string `json:"workload_kind"`
	Container    *struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Image *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"image"`
	} `json:"container"`
}

// Event type names.
const (
	TypeExec       = "process_exec"
	TypeExit       = "process_exit"
	TypeKprobe     = "process_kprobe"
	TypeTracepoint = "process_tracepoint"
	TypeUprobe     = "process_uprobe"
	TypeLsm        = "process_lsm"
)

// supported lists the event types read here, for error messages.
const supported = "process_exec, process_exit, process_kprobe, process_tracepoint, process_uprobe, process_lsm"

var known = map[string]bool{
	TypeExec: true, TypeExit: true, TypeKprobe: true,
	TypeTracepoint: true, TypeUprobe: true, TypeLsm: true,
}

// unsupported are current Tetragon event types that observe no process
// activity.
var unsupported = map[string]bool{
	"process_loader":   true,
	"process_throttle": true,
	"rate_limit_info":  true,
	"test":             true,
}

// envelope are GetEventsResponse fields beside the event.
var envelope = map[string]bool{
	"node_name":        true,
	"cluster_name":     true,
	"time":             true,
	"node_labels":      true,
	"aggregation_info": true,
}

// enforcing are the kprobe actions by which Tetragon acts on the process
// instead of only reporting it (tetragon.KprobeAction).
var enforcing = map[string]bool{
	"KPROBE_ACTION_SIGKILL":        true,
	"KPROBE_ACTION_OVERRIDE":       true,
	"KPROBE_ACTION_NOTIFYENFORCER": true,
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	p.r = response{}
	r := &p.r
	if err := json.Unmarshal(rec.Data, r); err != nil {
		return nil, fmt.Errorf("not a Tetragon event: %v", source.JSONReason(err))
	}
	typ, ev, err := r.event(rec.Data)
	if err != nil {
		return nil, err
	}
	if r.Time == "" {
		return nil, errors.New(`missing field "time"`)
	}
	t, err := time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return nil, fmt.Errorf("field \"time\": %q is not an RFC 3339 time", clip(r.Time, 64))
	}
	if t.IsZero() {
		return nil, errors.New(`field "time" is the zero time`)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("field \"time\": %q is outside the years 1 to 9999", clip(r.Time, 64))
	}
	if ev.Process == nil {
		return nil, fmt.Errorf("missing field %q", typ+".process")
	}
	s := signal.Signal{
		ID:       signal.MakeID(Type, rec.Data),
		Time:     t.UTC(),
		Product:  Spec.Product,
		ClassUID: signal.ClassProcessActivity,
	}
	setAsset(&s, r, ev.Process)
	classify(&s, typ, ev)
	s.Score = s.Severity.Score()
	setAttrs(&s, typ, ev)
	return []signal.Signal{s}, nil
}

// event returns the one event r holds and its type name.
func (r *response) event(data []byte) (string, *event, error) {
	var typ string
	var ev *event
	n := 0
	for _, c := range [...]struct {
		name string
		ev   *event
	}{
		{TypeExec, r.ProcessExec},
		{TypeExit, r.ProcessExit},
		{TypeKprobe, r.ProcessKprobe},
		{TypeTracepoint, r.ProcessTracepoint},
		{TypeUprobe, r.ProcessUprobe},
		{TypeLsm, r.ProcessLsm},
	} {
		if c.ev != nil {
			typ, ev = c.name, c.ev
			n++
		}
	}
	switch {
	case n == 1:
		return typ, ev, nil
	case n > 1:
		return "", nil, errors.New("more than one event in one record")
	}
	// Not one of ours: name what it is. This path is rare, so decoding
	// again is fine.
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) != nil {
		return "", nil, errors.New("not a Tetragon event: not a JSON object")
	}
	var names []string
	for k := range keys {
		if !envelope[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		switch {
		case known[k]:
			return "", nil, fmt.Errorf("field %q is null", k)
		case unsupported[k]:
			return "", nil, fmt.Errorf("unsupported Tetragon event type %q (want one of %s)", k, supported)
		}
	}
	if len(names) > 0 {
		return "", nil, fmt.Errorf("unknown Tetragon event type %q", clip(names[0], 64))
	}
	return "", nil, fmt.Errorf("no Tetragon event in the record (want one of %s)", supported)
}

func setAsset(s *signal.Signal, r *response, p *process) {
	a := &s.Asset
	a.Cluster = r.ClusterName
	a.Node = r.NodeName
	if a.Node == "" {
		a.Node = nodeFromExecID(p.ExecID)
	}
	pd := p.Pod
	if pd == nil {
		return
	}
	a.Namespace, a.Pod = pd.Namespace, pd.Name
	a.Workload, a.WorkloadKind = pd.Workload, pd.WorkloadKind
	if c := pd.Container; c != nil {
		a.Container = c.Name
		a.ContainerID = stripRuntime(c.ID)
		if img := c.Image; img != nil {
			a.Image = img.Name
			a.ImageDigest = digest(img.ID)
		}
	}
}

// nodeFromExecID returns the node name in an exec_id, the base64 encoding
// of "node:ktime:pid", or "" when it holds none.
func nodeFromExecID(id string) string {
	if id == "" || len(id) > 1024 {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ':')
	if i <= 0 {
		return ""
	}
	j := bytes.LastIndexByte(b[:i], ':')
	if j <= 0 {
		return ""
	}
	node := string(b[:j])
	for _, c := range node {
		if c < 0x21 || c > 0x7e {
			return "" // not a node name
		}
	}
	return node
}

// stripRuntime removes a container runtime prefix ("containerd://").
func stripRuntime(id string) string {
	if _, rest, ok := strings.Cut(id, "://"); ok {
		return rest
	}
	return id
}

// digest returns the "sha256:..." part of an image id
// ("docker.io/library/busybox@sha256:c383...", or the digest alone).
func digest(id string) string {
	if i := strings.LastIndexByte(id, '@'); i >= 0 {
		id = id[i+1:]
	}
	if strings.HasPrefix(id, "sha256:") || strings.HasPrefix(id, "sha512:") {
		return id
	}
	return ""
}

// hook names what a hook event attached to: "security_file_permission",
// "syscalls/sys_enter_openat", "/usr/lib/libc.so.6 readline".
func hook(typ string, ev *event) string {
	switch typ {
	case TypeTracepoint:
		if ev.Subsys != "" || ev.Event != "" {
			return ev.Subsys + "/" + ev.Event
		}
	case TypeUprobe:
		if ev.Path != "" || ev.Symbol != "" {
			return strings.TrimSpace(ev.Path + " " + ev.Symbol)
		}
	}
	return ev.FunctionName
}

func classify(s *signal.Signal, typ string, ev *event) {
	bin := ev.Process.Binary
	if bin == "" {
		bin = "(unknown binary)"
	}
	switch typ {
	case TypeExec:
		s.Severity = signal.SeverityInformational
		s.Rule = "tetragon: process_exec"
		s.Title = clip(strings.TrimSpace("exec "+bin+" "+ev.Process.Arguments), 256)
		return
	case TypeExit:
		s.Severity = signal.SeverityInformational
		s.Rule = "tetragon: process_exit"
		s.Title = "exit " + bin
		if ev.Signal != "" {
			s.Title += " (" + ev.Signal + ")"
		}
		return
	}
	h := hook(typ, ev)
	short := strings.TrimPrefix(typ, "process_")
	switch {
	case ev.PolicyName == "":
		s.Severity = signal.SeverityInformational
		s.Rule = "tetragon: " + typ
		if h != "" {
			s.Rule += " " + h
		}
	case enforcing[ev.Action]:
		s.Severity = signal.SeverityHigh
		s.Rule = ev.PolicyName
	default:
		s.Severity = signal.SeverityMedium
		s.Rule = ev.PolicyName
	}
	s.Native = ev.Action
	if ev.Message != "" {
		s.Title = ev.Message
	} else {
		s.Title = short + " " + h + " by " + bin
		if a := args(ev.Args, 3); a != "" {
			s.Title += ": " + a
		}
		s.Title = clip(s.Title, 256)
	}
	if enforcing[ev.Action] {
		s.Title += " [" + strings.TrimPrefix(ev.Action, "KPROBE_ACTION_") + "]"
	}
}

func setAttrs(s *signal.Signal, typ string, ev *event) {
	p := ev.Process
	s.SetAttr("event", typ)
	s.SetAttr("binary", p.Binary)
	s.SetAttr("arguments", p.Arguments)
	s.SetAttr("cwd", p.Cwd)
	s.SetAttr("pid", number(p.PID))
	s.SetAttr("uid", number(p.UID))
	s.SetAttr("exec_id", p.ExecID)
	if ev.Parent != nil {
		s.SetAttr("parent_binary", ev.Parent.Binary)
		s.SetAttr("parent_arguments", ev.Parent.Arguments)
	}
	s.SetAttr("policy_name", ev.PolicyName)
	s.SetAttr("function_name", ev.FunctionName)
	if typ == TypeTracepoint && (ev.Subsys != "" || ev.Event != "") {
		s.SetAttr("tracepoint", ev.Subsys+"/"+ev.Event)
	}
	if typ == TypeUprobe {
		s.SetAttr("uprobe_path", ev.Path)
		s.SetAttr("uprobe_symbol", ev.Symbol)
	}
	s.SetAttr("action", ev.Action)
	s.SetAttr("return_action", ev.ReturnAction)
	s.SetAttr("args", args(ev.Args, 8))
	if len(ev.Tags) > 0 {
		s.SetAttr("tags", strings.Join(ev.Tags, ","))
	}
	s.SetAttr("signal", ev.Signal)
	s.SetAttr("status", number(ev.Status))
}

// args renders up to max hook arguments as "file /etc/passwd, int 2".
func args(raw []json.RawMessage, max int) string {
	var out []string
	for i, a := range raw {
		if i == max {
			out = append(out, fmt.Sprintf("... %d more", len(raw)-max))
			break
		}
		if v := arg(a); v != "" {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

// arg renders one argument, {"file_arg":{"path":"/etc/passwd"}}, as
// "file /etc/passwd".
func arg(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	k := keys[0]
	if k == "label" && len(keys) > 1 {
		k = keys[1]
	}
	name := strings.TrimSuffix(k, "_arg")
	v := bytes.TrimSpace(m[k])
	if len(v) == 0 {
		return name
	}
	switch v[0] {
	case '{':
		var o map[string]json.RawMessage
		if json.Unmarshal(v, &o) != nil {
			return name
		}
		switch {
		case o["path"] != nil:
			return name + " " + text(o["path"])
		case o["daddr"] != nil:
			return name + " " + text(o["daddr"]) + ":" + text(o["dport"])
		case o["name"] != nil:
			return name + " " + text(o["name"])
		case o["value"] != nil:
			return name + " " + text(o["value"])
		}
		return name + " " + clip(compact(v), 64)
	case '[':
		return name + " " + clip(compact(v), 64)
	default:
		return name + " " + clip(text(v), 128)
	}
}

// text returns a JSON scalar as text: strings unquoted, numbers and
// booleans verbatim, anything else "".
func text(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
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
	case '{', '[', 'n':
		return ""
	}
	return string(v)
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return ""
	}
	return b.String()
}

// number renders a protojson integer, which may be quoted (64-bit values).
func number(v json.RawMessage) string { return text(v) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Do not cut a UTF-8 sequence in two.
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
