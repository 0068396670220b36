package tetragon

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func proc(pod bool) map[string]any {
	p := map[string]any{
		"exec_id":   base64.StdEncoding.EncodeToString([]byte("node-9:1234567:42")),
		"pid":       42,
		"uid":       0,
		"cwd":       "/",
		"binary":    "/bin/cat",
		"arguments": "/etc/shadow",
	}
	if pod {
		p["pod"] = map[string]any{
			"namespace": "shop", "name": "web-7d9f-abcde", "workload": "web", "workload_kind": "Deployment",
			"container": map[string]any{
				"id": "containerd://0123456789abcdef", "name": "web",
				"image": map[string]any{"id": "registry.example/shop/web@sha256:abcd", "name": "registry.example/shop/web:1.2"},
			},
		}
	}
	return p
}

// ev builds one GetEventsResponse of type typ whose event has fields.
func ev(t *testing.T, typ string, fields map[string]any, top map[string]any) []byte {
	t.Helper()
	e := map[string]any{"process": proc(true), "parent": map[string]any{"binary": "/bin/sh", "arguments": "-c x"}}
	for k, v := range fields {
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	r := map[string]any{typ: e, "node_name": "node-1", "time": "2025-03-01T10:00:00.123456789Z"}
	for k, v := range top {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, data []byte) signal.Signal {
	t.Helper()
	sigs, err := sourcetest.CheckRecord(t, Spec, data)
	if err != nil {
		t.Fatalf("rejected: %v\n%s", err, data)
	}
	if len(sigs) != 1 {
		t.Fatalf("%d signals, want 1", len(sigs))
	}
	return sigs[0]
}

func TestSeverity(t *testing.T) {
	policy := func(action string) map[string]any {
		m := map[string]any{"function_name": "security_file_permission", "policy_name": "shadow-read",
			"args": []any{map[string]any{"file_arg": map[string]any{"path": "/etc/shadow"}}, map[string]any{"int_arg": 4}}}
		if action != "" {
			m["action"] = action
		}
		return m
	}
	tests := []struct {
		name   string
		typ    string
		fields map[string]any
		sev    signal.Severity
		rule   string
		title  string
	}{
		{"exec", TypeExec, nil, signal.SeverityInformational, "tetragon: process_exec", "exec /bin/cat /etc/shadow"},
		{"exit", TypeExit, map[string]any{"signal": "SIGKILL", "status": 0}, signal.SeverityInformational, "tetragon: process_exit", "exit /bin/cat (SIGKILL)"},
		{"kprobe without policy", TypeKprobe, map[string]any{"function_name": "commit_creds", "action": "KPROBE_ACTION_POST"},
			signal.SeverityInformational, "tetragon: process_kprobe commit_creds", "kprobe commit_creds by /bin/cat"},
		{"kprobe with policy", TypeKprobe, policy("KPROBE_ACTION_POST"), signal.SeverityMedium, "shadow-read",
			"kprobe security_file_permission by /bin/cat: file /etc/shadow, int 4"},
		{"kprobe with policy and no action", TypeKprobe, policy(""), signal.SeverityMedium, "shadow-read", ""},
		{"kprobe SIGKILL", TypeKprobe, policy("KPROBE_ACTION_SIGKILL"), signal.SeverityHigh, "shadow-read", "[SIGKILL]"},
		{"kprobe OVERRIDE", TypeKprobe, policy("KPROBE_ACTION_OVERRIDE"), signal.SeverityHigh, "shadow-read", "[OVERRIDE]"},
		{"kprobe NOTIFYENFORCER", TypeKprobe, policy("KPROBE_ACTION_NOTIFYENFORCER"), signal.SeverityHigh, "shadow-read", ""},
		{"SIGKILL without a policy stays informational", TypeKprobe, map[string]any{"function_name": "f", "action": "KPROBE_ACTION_SIGKILL"},
			signal.SeverityInformational, "tetragon: process_kprobe f", ""},
		{"kprobe GETURL", TypeKprobe, policy("KPROBE_ACTION_GETURL"), signal.SeverityMedium, "shadow-read", ""},
		{"policy message is the title", TypeKprobe, map[string]any{"policy_name": "p", "function_name": "f", "message": "Shadow file read"},
			signal.SeverityMedium, "p", "Shadow file read"},
		{"tracepoint", TypeTracepoint, map[string]any{"subsys": "syscalls", "event": "sys_enter_setns", "policy_name": "setns"},
			signal.SeverityMedium, "setns", "tracepoint syscalls/sys_enter_setns by /bin/cat"},
		{"tracepoint without policy", TypeTracepoint, map[string]any{"subsys": "raw_syscalls", "event": "sys_enter"},
			signal.SeverityInformational, "tetragon: process_tracepoint raw_syscalls/sys_enter", ""},
		{"uprobe", TypeUprobe, map[string]any{"path": "/bin/bash", "symbol": "readline", "policy_name": "bash"},
			signal.SeverityMedium, "bash", "uprobe /bin/bash readline by /bin/cat"},
		{"lsm", TypeLsm, map[string]any{"function_name": "bpf_lsm_file_open", "policy_name": "lsm-open"}, signal.SeverityMedium, "lsm-open", "lsm bpf_lsm_file_open"},
		{"lsm OVERRIDE", TypeLsm, map[string]any{"function_name": "bpf_lsm_file_open", "policy_name": "lsm-open", "action": "KPROBE_ACTION_OVERRIDE"},
			signal.SeverityHigh, "lsm-open", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, ev(t, tt.typ, tt.fields, nil))
			if s.Severity != tt.sev || s.Rule != tt.rule {
				t.Errorf("got %v %q, want %v %q (title %q)", s.Severity, s.Rule, tt.sev, tt.rule, s.Title)
			}
			if !strings.Contains(s.Title, tt.title) {
				t.Errorf("title %q does not contain %q", s.Title, tt.title)
			}
			if s.ClassUID != signal.ClassProcessActivity || s.Product != "Tetragon" || s.Score != s.Severity.Score() {
				t.Errorf("class %d product %q score %v", s.ClassUID, s.Product, s.Score)
			}
			if a, _ := tt.fields["action"].(string); s.Native != a && tt.typ != TypeExec && tt.typ != TypeExit {
				t.Errorf("native %q, want the action %q", s.Native, a)
			}
		})
	}
}

func TestAsset(t *testing.T) {
	hostProc := proc(false)
	noNode := proc(false)
	noNode["exec_id"] = base64.StdEncoding.EncodeToString([]byte(":13188140450890:82023"))
	criO := proc(true)
	criO["pod"].(map[string]any)["container"].(map[string]any)["id"] = "cri-o://feed"
	criO["pod"].(map[string]any)["container"].(map[string]any)["image"] = map[string]any{"id": "sha256:beef", "name": "busybox"}
	tagOnly := proc(true)
	tagOnly["pod"].(map[string]any)["container"].(map[string]any)["image"] = map[string]any{"id": "docker.io/library/busybox:latest", "name": "busybox"}
	tests := []struct {
		name   string
		fields map[string]any
		top    map[string]any
		want   signal.Asset
	}{
		{"pod", nil, map[string]any{"cluster_name": "prod-eu"}, signal.Asset{Cluster: "prod-eu", Node: "node-1", Namespace: "shop",
			Pod: "web-7d9f-abcde", Workload: "web", WorkloadKind: "Deployment", Container: "web", ContainerID: "0123456789abcdef",
			Image: "registry.example/shop/web:1.2", ImageDigest: "sha256:abcd"}},
		{"host process", map[string]any{"process": hostProc}, nil, signal.Asset{Node: "node-1"}},
		{"node from exec_id", map[string]any{"process": hostProc}, map[string]any{"node_name": nil}, signal.Asset{Node: "node-9"}},
		{"exec_id without a node", map[string]any{"process": noNode}, map[string]any{"node_name": nil}, signal.Asset{}},
		{"exec_id not base64", map[string]any{"process": map[string]any{"exec_id": "%%%", "binary": "/x"}}, map[string]any{"node_name": nil}, signal.Asset{}},
		{"cri-o id and a bare digest", map[string]any{"process": criO}, nil, signal.Asset{Node: "node-1", Namespace: "shop",
			Pod: "web-7d9f-abcde", Workload: "web", WorkloadKind: "Deployment", Container: "web", ContainerID: "feed",
			Image: "busybox", ImageDigest: "sha256:beef"}},
		{"image id without digest", map[string]any{"process": tagOnly}, nil, signal.Asset{Node: "node-1", Namespace: "shop",
			Pod: "web-7d9f-abcde", Workload: "web", WorkloadKind: "Deployment", Container: "web", ContainerID: "0123456789abcdef",
			Image: "busybox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, ev(t, TypeExec, tt.fields, tt.top))
			if s.Asset != tt.want {
				t.Errorf("asset\n got  %+v\n want %+v", s.Asset, tt.want)
			}
		})
	}
}

func TestAttrs(t *testing.T) {
	long := strings.Repeat("a", 3000)
	p := proc(true)
	p["arguments"] = long
	s := parse(t, ev(t, TypeKprobe, map[string]any{"process": p, "function_name": "security_file_permission", "policy_name": "pol",
		"args": []any{map[string]any{"file_arg": map[string]any{"path": "/etc/shadow"}}, map[string]any{"sock_arg": map[string]any{"daddr": "10.0.0.1", "dport": 443}},
			map[string]any{"capability_arg": map[string]any{"value": 21, "name": "CAP_SYS_ADMIN"}}, map[string]any{"string_arg": "hello"}, map[string]any{"bytes_arg": "AAEC"}},
		"action": "KPROBE_ACTION_POST", "tags": []string{"observability.filesystem"}}, nil))
	want := map[string]string{
		"binary": "/bin/cat", "parent_binary": "/bin/sh", "policy_name": "pol", "function_name": "security_file_permission",
		"action": "KPROBE_ACTION_POST", "event": TypeKprobe, "pid": "42", "tags": "observability.filesystem",
		"args": "file /etc/shadow, sock 10.0.0.1:443, capability CAP_SYS_ADMIN, string hello, bytes AAEC",
	}
	for k, v := range want {
		if s.Attrs[k] != v {
			t.Errorf("attr %s = %q, want %q", k, s.Attrs[k], v)
		}
	}
	if len(s.Attrs["arguments"]) != signal.MaxAttrLen {
		t.Errorf("arguments kept %d bytes, want the bound %d", len(s.Attrs["arguments"]), signal.MaxAttrLen)
	}
	if len(s.Title) > 300 {
		t.Errorf("title is %d bytes", len(s.Title))
	}
	many := make([]any, 20)
	for i := range many {
		many[i] = map[string]any{"int_arg": i}
	}
	s = parse(t, ev(t, TypeKprobe, map[string]any{"function_name": "f", "args": many}, nil))
	if !strings.HasSuffix(s.Attrs["args"], "... 12 more") {
		t.Errorf("args %q not bounded", s.Attrs["args"])
	}
}

func TestTime(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"2025-03-01T10:00:00.123456789Z", "2025-03-01T10:00:00.123456789Z"},
		{"2025-03-01T12:00:00.1+02:00", "2025-03-01T10:00:00.1Z"},
		{"2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z"},
	} {
		s := parse(t, ev(t, TypeExec, nil, map[string]any{"time": tt.in}))
		if got := s.Time.Format(time.RFC3339Nano); got != tt.want {
			t.Errorf("time %s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestReject(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"pre-1.0 process_connect", `{"process_connect":{"process":{"binary":"/usr/bin/curl"}},"time":"2021-06-01T10:00:00Z"}`,
			`unknown Tetragon event type "process_connect"`},
		{"pre-1.0 process_listen", `{"process_listen":{},"node_name":"n","time":"2021-06-01T10:00:00Z"}`, `unknown Tetragon event type "process_listen"`},
		{"pre-1.0 process_close", `{"node_name":"n","process_close":{}}`, `unknown Tetragon event type "process_close"`},
		{"rate limit info", `{"rate_limit_info":{"number_of_dropped_process_events":"3"},"time":"2025-03-01T10:00:00Z"}`,
			`unsupported Tetragon event type "rate_limit_info"`},
		{"loader", `{"process_loader":{},"time":"2025-03-01T10:00:00Z"}`, `unsupported Tetragon event type "process_loader"`},
		{"no event", `{"node_name":"n","time":"2025-03-01T10:00:00Z"}`, "no Tetragon event in the record"},
		{"empty object", `{}`, "no Tetragon event in the record"},
		{"null event", `{"process_exec":null,"time":"2025-03-01T10:00:00Z"}`, `field "process_exec" is null`},
		{"two events", `{"process_exec":{"process":{}},"process_exit":{"process":{}},"time":"2025-03-01T10:00:00Z"}`, "more than one event"},
		{"no time", string(ev(t, TypeExec, nil, map[string]any{"time": nil})), `missing field "time"`},
		{"bad time", string(ev(t, TypeExec, nil, map[string]any{"time": "now"})), `field "time": "now" is not an RFC 3339 time`},
		{"zero time", string(ev(t, TypeExec, nil, map[string]any{"time": "0001-01-01T00:00:00Z"})), `field "time" is the zero time`},
		{"time past year 9999 in UTC", string(ev(t, TypeExec, nil, map[string]any{"time": "9999-12-31T23:59:59-23:59"})), `is outside the years 1 to 9999`},
		{"time as number", string(ev(t, TypeExec, nil, map[string]any{"time": 1700000000})), `field "time" has a JSON number, want a string`},
		{"no process", string(ev(t, TypeKprobe, map[string]any{"process": nil}, nil)), `missing field "process_kprobe.process"`},
		{"array", `[]`, "not a Tetragon event"},
		{"binary is a number", string(ev(t, TypeExec, map[string]any{"process": map[string]any{"binary": 7}}, nil)), `field "process_exec.process.binary" has a JSON number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sourcetest.CheckRecord(t, Spec, []byte(tt.data))
			if err == nil {
				t.Fatalf("accepted %s", tt.data)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("reason %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestNodeFromExecID(t *testing.T) {
	for in, want := range map[string]string{
		"Z2tlLW1pY2hpLTIyMDM4LWRlZmF1bHQtcG9vbC00MzczMGZhYi1sOHpyOjEzNjY1ODIyNjI0ODU2OjY4Nzkw": "gke-michi-22038-default-pool-43730fab-l8zr",
		"OjEzMTg4MTQwNDUwODkwOjgyMDIz": "", // ":13188140450890:82023" (docs kernel-module events)
		"":                             "",
		base64.StdEncoding.EncodeToString([]byte("a b:1:2")): "",
		base64.StdEncoding.EncodeToString([]byte("nocolon")): "",
		base64.StdEncoding.EncodeToString([]byte("n:1")):     "",
	} {
		if got := nodeFromExecID(in); got != want {
			t.Errorf("nodeFromExecID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConformanceShared(t *testing.T) {
	sourcetest.Run(t, Spec, sourcetest.Samples(t, "tetragon", "*")...)
}

func TestConformanceTestdata(t *testing.T) {
	sourcetest.Run(t, Spec, testdata(t)...)
}

// Every shared sample with a time normalizes; the one without is rejected.
func TestSharedSamples(t *testing.T) {
	files := sourcetest.Samples(t, "tetragon", "*.json", "*.jsonl")
	var signals int
	for _, f := range files {
		b, err := source.ReadFile(f, Spec, signal.SourceRef{Name: Type, Type: Type}, nil)
		if err != nil {
			t.Fatal(err)
		}
		signals += len(b.Signals)
		want := 0
		if filepath.Base(f) == "testdata_events.jsonl" {
			want = 1 // line 1 has no time
		}
		if b.Rejected != want {
			t.Errorf("%s: %d rejected, want %d: %+v", filepath.Base(f), b.Rejected, want, b.Rejects)
		}
		for _, s := range b.Signals {
			if s.Asset.Pod != "" && (s.Asset.ContainerID == "" || strings.Contains(s.Asset.ContainerID, "://") || s.Asset.ImageDigest == "") {
				t.Errorf("%s: pod asset without clean container id or digest: %+v", filepath.Base(f), s.Asset)
			}
		}
	}
	if signals < 18 {
		t.Errorf("%d signals from %d files, want at least 18", signals, len(files))
	}
}

func testdata(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.json*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, in := range testdata(t) {
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		t.Run(name, func(t *testing.T) {
			sourcetest.Golden(t, Spec, in, filepath.Join("testdata", "golden", name+".json"), *update)
		})
	}
}

func FuzzParse(f *testing.F) {
	files := append(testdata(f), sourcetest.SeedFiles("tetragon", "*.json", "*.jsonl")...)
	for _, r := range sourcetest.Records(f, Spec, files...) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sourcetest.CheckRecord(t, Spec, data)
	})
}
